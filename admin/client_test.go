package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
)

// The client is tested against the server itself, so that the two agree on
// the wire.

func TestClientReadsAndChangesState(t *testing.T) {
	r := newRig(t)
	c := &Client{URL: r.srv.URL, Token: testToken}
	ctx := context.Background()
	list, err := c.Certificates(ctx)
	if err != nil || len(list.Certificates) != 1 || list.Certificates[0].Loaded["lb1"] != "ab" || list.ConfigError != "" {
		t.Fatalf("Certificates = %+v, %v", list, err)
	}
	if err := c.Renew(ctx, "shop"); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := c.Revoke(ctx, "shop", 4); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if len(r.d.renewed) != 1 || r.d.revoked["shop"] != 4 {
		t.Fatalf("renewed %v revoked %v", r.d.renewed, r.d.revoked)
	}
	r.d.cfgErr = errors.New("domains.yaml:3:5: domains: empty")
	if list, err := c.Certificates(ctx); err != nil || list.ConfigError != "domains.yaml:3:5: domains: empty" {
		t.Fatalf("Certificates with a rejected domains file = %+v, %v", list, err)
	}
}

func TestClientReadsNeedNoToken(t *testing.T) {
	r := newRig(t)
	c := &Client{URL: r.srv.URL}
	if _, err := c.Certificates(context.Background()); err != nil {
		t.Fatalf("Certificates without a token: %v", err)
	}
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatalf("Health without a token: %v", err)
	}
}

func TestClientErrorsAreTyped(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, tok := range []string{"", "wrong"} {
		err := (&Client{URL: r.srv.URL, Token: tok}).Renew(ctx, "shop")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
			t.Fatalf("Renew with token %q: %v, want a 401 *StatusError", tok, err)
		}
	}
	err := (&Client{URL: r.srv.URL, Token: testToken}).Renew(ctx, "nope")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || se.Problem.Field != "name" {
		t.Fatalf("Renew of an unknown name: %#v", err)
	}
	if !strings.HasPrefix(err.Error(), "nope: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q: want the problem's detail on one line", err)
	}
	if len(r.d.renewed) != 0 {
		t.Fatalf("refused requests renewed %v", r.d.renewed)
	}
}

func TestClientErrorWithoutProblemNamesTheStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream\nbroke", http.StatusBadGateway)
	}))
	defer srv.Close()
	err := (&Client{URL: srv.URL}).Renew(context.Background(), "shop")
	if err == nil || err.Error() != "admin API: 502 Bad Gateway" {
		t.Fatalf("err = %v", err)
	}
}

func TestClientDetailOnOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusConflict, probBadRequest, "name", "shop:\n  not issued  yet")
	}))
	defer srv.Close()
	err := (&Client{URL: srv.URL}).Renew(context.Background(), "shop")
	if err == nil || err.Error() != "shop: not issued yet" {
		t.Fatalf("err = %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := (&Client{URL: url}).Certificates(context.Background())
	want := "cannot reach the admin API at " + url + " (is hotcert running?): "
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), `Get "`) {
		t.Fatalf("err = %v, want it to start %q without the request", err, want)
	}
}

func TestClientHealthReadsAnUnreadyAnswer(t *testing.T) {
	r := newRig(t)
	c := &Client{URL: r.srv.URL}
	h, err := c.Health(context.Background())
	if err != nil || h.Status != "ready" || len(h.HAProxyDown) != 0 {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	r.d.setDown(map[string]string{"lb2": "dial unix: no such file"})
	r.clock.Advance(time.Second)
	h, err = c.Health(context.Background())
	if err != nil || h.Status != "unready" || h.HAProxyDown["lb2"] != "dial unix: no such file" {
		t.Fatalf("Health with lb2 down = %+v, %v", h, err)
	}
}

func TestNewClientDialsWildcardsOnLoopback(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:9180": "http://127.0.0.1:9180",
		":9180":          "http://127.0.0.1:9180",
		"0.0.0.0:9180":   "http://127.0.0.1:9180",
		"[::]:9180":      "http://[::1]:9180",
		"[::1]:9180":     "http://[::1]:9180",
		"admin.lan:9180": "http://admin.lan:9180",
		"no-port":        "http://no-port",
	} {
		if got := NewClient(listen, "").URL; got != want {
			t.Errorf("NewClient(%q).URL = %q, want %q", listen, got, want)
		}
	}
}

func TestClientPagesPutsAndDeletes(t *testing.T) {
	r, cat := catalogRig(t)
	r.d.certs = manyStatuses(25)
	c := &Client{URL: r.srv.URL, Token: testToken}
	ctx := context.Background()
	var seen int
	q := CertQuery{State: "ok", Limit: 10}
	for pages := 0; ; pages++ {
		raw, p, err := c.CertificatesPageJSON(ctx, q)
		var list CertList
		if err != nil || json.Unmarshal(raw, &list) != nil || p.Total != 16 || pages > 2 {
			t.Fatalf("page %d: %v %+v", pages, err, p)
		}
		seen += len(list.Certificates)
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if seen != 16 {
		t.Fatalf("pages gave %d certificates, want 16", seen)
	}
	if raw, err := c.CertificateJSON(ctx, "cert-000003"); err != nil || !strings.Contains(string(raw), `"cert-000003"`) {
		t.Fatalf("CertificateJSON: %v %s", err, raw)
	}
	var se *StatusError
	if _, err := c.CertificateJSON(ctx, "nope"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("CertificateJSON of an unknown name: %v", err)
	}
	st, code, err := c.Put(ctx, "a", CertRequest{Domains: []string{"a.example.test"}, KeyType: []string{"rsa2048"}}, 0)
	if err != nil || code != 201 || st.State != "accepted" || cat.specs["a"].KeyTypes[0] != "rsa2048" {
		t.Fatalf("Put: %d %+v %v", code, st, err)
	}
	if _, code, err := c.Put(ctx, "a", CertRequest{Domains: []string{"a.example.test"}}, 100*time.Millisecond); code != 202 || err != nil {
		t.Fatalf("Put waiting for a certificate never served: %d %v", code, err)
	}
	cat.err = configs.Problems{{Field: "domains", Msg: "at least one domain is required"}}
	if _, code, err := c.Put(ctx, "b", CertRequest{}, 0); !errors.As(err, &se) || code != 422 || se.Problem.Fields[0].Field != "domains" {
		t.Fatalf("Put of an invalid certificate: %d %v", code, err)
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(ctx, "a"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("Delete again: %v", err)
	}
}
