package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
)

// fakeCatalog keeps specs in memory. hand are names defined in
// hand-written files; err, when set, is every Put's answer.
type fakeCatalog struct {
	mu    sync.Mutex
	specs map[string]catalog.Spec
	hand  map[string]string // name -> "FILE:LINE"
	err   error
	calls int
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{specs: map[string]catalog.Spec{}, hand: map[string]string{"legacy": "/etc/hotcert/domains.yaml:3"}}
}

func (c *fakeCatalog) Put(name string, s catalog.Spec) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if at, ok := c.hand[name]; ok {
		return false, fmt.Errorf("put %s: %s: %w", name, at, catalog.ErrHandWritten)
	}
	if c.err != nil {
		return false, c.err
	}
	_, had := c.specs[name]
	c.specs[name] = s
	return !had, nil
}

func (c *fakeCatalog) Delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if at, ok := c.hand[name]; ok {
		return fmt.Errorf("delete %s: %s: %w", name, at, catalog.ErrHandWritten)
	}
	if _, ok := c.specs[name]; !ok {
		return fmt.Errorf("delete %s: %w", name, catalog.ErrNotFound)
	}
	delete(c.specs, name)
	return nil
}

func (c *fakeCatalog) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func catalogRig(t *testing.T) (*rig, *fakeCatalog) {
	c := newFakeCatalog()
	return newRig(t, func(o *Options) { o.Catalog = c }), c
}

func (r *rig) put(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	return r.do(t, http.MethodPut, path, testToken, "application/json", strings.NewReader(body))
}

// problemOf decodes a problem document and checks its content type.
func problemDoc(t *testing.T, resp *http.Response, body []byte) Problem {
	t.Helper()
	var p Problem
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(body, &p) != nil {
		t.Fatalf("%d %s: not a problem document: %s", resp.StatusCode, ct, body)
	}
	if p.Status != resp.StatusCode {
		t.Fatalf("problem status %d on a %d answer", p.Status, resp.StatusCode)
	}
	return p
}

func statusOf(t *testing.T, body []byte) daemon.CertStatus {
	t.Helper()
	var st daemon.CertStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("not a certificate status: %v: %s", err, body)
	}
	return st
}

func TestPutCreatesThenReplaces(t *testing.T) {
	r, c := catalogRig(t)
	resp, body := r.put(t, "/v1/certificates/shop2", `{"domains": ["Shop2.Example.test", "www.shop2.example.test"], "key_type": ["ecdsa-p256", "rsa2048"], "challenge": "dns-01", "dns_provider": "cf"}`)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/v1/certificates/shop2" {
		t.Fatalf("new certificate: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	st := statusOf(t, body)
	if st.Name != "shop2" || st.State != "accepted" || st.Ready || strings.Join(st.Domains, ",") != "shop2.example.test,www.shop2.example.test" {
		t.Fatalf("status of a certificate no pass has seen: %+v", st)
	}
	want := catalog.Spec{Domains: []string{"Shop2.Example.test", "www.shop2.example.test"}, KeyTypes: []string{"ecdsa-p256", "rsa2048"}, Challenge: "dns-01", DNSProvider: "cf"}
	if got := c.specs["shop2"]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("catalog got %+v, want %+v", got, want)
	}
	r.d.setStatus(daemon.CertStatus{Name: "shop2", Domains: []string{"shop2.example.test"}, KeyTypes: []string{"rsa2048"}, State: "ok", Ready: true, Serial: "abc"})
	resp, body = r.put(t, "/v1/certificates/shop2", `{"domains": ["shop2.example.test"], "key_type": "RSA2048"}`)
	if st := statusOf(t, body); resp.StatusCode != http.StatusOK || st.Serial != "abc" || !st.Ready {
		t.Fatalf("replacement: %d %s", resp.StatusCode, body)
	}
	if got := c.specs["shop2"]; len(got.KeyTypes) != 1 || got.KeyTypes[0] != "RSA2048" || got.Challenge != "" {
		t.Fatalf("one key type as a string: catalog got %+v", got)
	}
}

func TestPutAndDeleteNeedTheToken(t *testing.T) {
	r, c := catalogRig(t)
	c.specs["shop2"] = catalog.Spec{Domains: []string{"shop2.example.test"}}
	for _, m := range []string{http.MethodPut, http.MethodDelete} {
		for _, tok := range []string{"", "wrong"} {
			resp, body := r.do(t, m, "/v1/certificates/shop2", tok, "application/json", strings.NewReader(`{"domains": ["x.example.test"]}`))
			if p := problemDoc(t, resp, body); resp.StatusCode != http.StatusUnauthorized || p.Field != "Authorization" {
				t.Fatalf("%s with token %q: %d %s", m, tok, resp.StatusCode, body)
			}
		}
	}
	if c.callCount() != 0 {
		t.Fatal("a refused request reached the catalog")
	}
}

func TestPutBadBodyNamesTheField(t *testing.T) {
	r, c := catalogRig(t)
	big := `{"domains": ["` + strings.Repeat("a", 40<<10) + `"]}`
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"unknown field", `{"domains": ["a.example.test"], "colour": "red"}`, 400, "colour"},
		{"name in the body", `{"name": "x", "domains": ["a.example.test"]}`, 400, "name"},
		{"domains a string", `{"domains": "a.example.test"}`, 400, "domains"},
		{"a domain a number", `{"domains": ["a.example.test", 7]}`, 400, "domains[1]"},
		{"a domain null", `{"domains": [null]}`, 400, "domains[0]"},
		{"key_type a number", `{"domains": ["a.example.test"], "key_type": 256}`, 400, "key_type"},
		{"a key type an object", `{"domains": ["a.example.test"], "key_type": ["rsa2048", {}]}`, 400, "key_type[1]"},
		{"challenge a list", `{"domains": ["a.example.test"], "challenge": ["dns-01"]}`, 400, "challenge"},
		{"dns_provider a bool", `{"domains": ["a.example.test"], "dns_provider": true}`, 400, "dns_provider"},
		{"a second object", `{"domains": ["a.example.test"]} {"domains": ["b.example.test"]}`, 400, "body"},
		{"trailing garbage", `{"domains": ["a.example.test"]} x`, 400, "body"},
		{"malformed", `{"domains": [`, 400, "body"},
		{"empty", ``, 400, "body"},
		{"a list", `["a.example.test"]`, 400, "body"},
		{"null", `null`, 400, "body"},
		{"too large", big, 413, "body"},
	}
	for _, tc := range cases {
		resp, body := r.put(t, "/v1/certificates/a", tc.body)
		p := problemDoc(t, resp, body)
		if resp.StatusCode != tc.status || p.Field != tc.field || p.Detail == "" {
			t.Errorf("%s: %d field %q, want %d field %q: %s", tc.name, resp.StatusCode, p.Field, tc.status, tc.field, body)
		}
	}
	if c.callCount() != 0 {
		t.Fatal("a malformed body reached the catalog")
	}
}

func TestPutInvalidCertificateListsEveryField(t *testing.T) {
	r, c := catalogRig(t)
	c.err = configs.Problems{
		{File: "/d/a.yaml", Line: 2, Col: 3, Field: "domains[1]", Msg: `"a b" is not a valid domain`},
		{File: "/d/a.yaml", Line: 4, Col: 3, Field: "challenge", Msg: `"tls-alpn-01" is not one of http-01, dns-01`},
	}
	resp, body := r.put(t, "/v1/certificates/a", `{"domains": ["a.example.test", "a b"], "challenge": "tls-alpn-01"}`)
	p := problemDoc(t, resp, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || p.Type != probBadCertificate || p.Field != "domains[1]" || len(p.Fields) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if p.Fields[1].Field != "challenge" || !strings.Contains(p.Fields[1].Detail, "tls-alpn-01") || !strings.Contains(p.Detail, "domains[1]") {
		t.Fatalf("fields: %+v; detail %q", p.Fields, p.Detail)
	}
}

func TestPutAndDeleteConflictsAndNotFound(t *testing.T) {
	r, c := catalogRig(t)
	c.specs["mine"] = catalog.Spec{Domains: []string{"mine.example.test"}}
	cases := []struct {
		name, method, path string
		status             int
		field, detail      string
	}{
		{"put over a hand-written file", http.MethodPut, "/v1/certificates/legacy", 409, "name", "/etc/hotcert/domains.yaml:3"},
		{"delete from a hand-written file", http.MethodDelete, "/v1/certificates/legacy", 409, "name", "/etc/hotcert/domains.yaml:3"},
		{"delete unknown", http.MethodDelete, "/v1/certificates/nope", 404, "name", "nope"},
	}
	for _, tc := range cases {
		resp, body := r.do(t, tc.method, tc.path, testToken, "application/json", strings.NewReader(`{"domains": ["x.example.test"]}`))
		p := problemDoc(t, resp, body)
		if resp.StatusCode != tc.status || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if resp, body := r.do(t, http.MethodDelete, "/v1/certificates/mine", testToken, "", nil); resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if _, ok := c.specs["mine"]; ok {
		t.Fatal("delete left the certificate in the catalog")
	}
	c.err = fmt.Errorf("write /d/a.yaml: %w", errors.New("disk full"))
	if resp, body := r.put(t, "/v1/certificates/a", `{"domains": ["a.example.test"]}`); resp.StatusCode != 500 || problemDoc(t, resp, body).Type != probInternal {
		t.Fatalf("catalog failure: %d %s", resp.StatusCode, body)
	}
	c.err = fmt.Errorf("put a: %w", catalog.ErrNoDir)
	if resp, body := r.put(t, "/v1/certificates/a", `{"domains": ["a.example.test"]}`); resp.StatusCode != 409 || problemDoc(t, resp, body).Field != "domains_dir" {
		t.Fatalf("catalog without a directory: %d %s", resp.StatusCode, body)
	}
}

func TestPutAndDeleteWithoutDomainsDir(t *testing.T) {
	r := newRig(t)
	for _, m := range []string{http.MethodPut, http.MethodDelete} {
		resp, body := r.do(t, m, "/v1/certificates/a", testToken, "application/json", strings.NewReader(`{"domains": ["a.example.test"]}`))
		if p := problemDoc(t, resp, body); resp.StatusCode != http.StatusConflict || p.Field != "domains_dir" || p.Type != probNoDir {
			t.Fatalf("%s without domains_dir: %d %s", m, resp.StatusCode, body)
		}
	}
}

func TestPutWaitQueryIsCheckedBeforeWriting(t *testing.T) {
	r, c := catalogRig(t)
	for q, field := range map[string]string{
		"wait=yes": "wait", "wait=served&timeout=abc": "timeout", "wait=served&timeout=11m": "timeout",
		"wait=served&timeout=0s": "timeout", "wait=served&timeout=-1s": "timeout", "timeout=5s": "timeout",
	} {
		resp, body := r.put(t, "/v1/certificates/a?"+q, `{"domains": ["a.example.test"]}`)
		if p := problemDoc(t, resp, body); resp.StatusCode != http.StatusBadRequest || p.Field != field {
			t.Errorf("?%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if c.callCount() != 0 {
		t.Fatal("a bad query still wrote the certificate")
	}
}

// answer is one HTTP answer, for requests run in the background.
type answer struct {
	resp *http.Response
	body []byte
}

func (r *rig) putAsync(t *testing.T, path, body string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		resp, b := r.put(t, path, body)
		out <- answer{resp, b}
	}()
	return out
}

// waitLookups waits until StatusOf has been called n more times than
// from: the waiting PUT has looked at the status and found it not served.
func (r *rig) waitLookups(t *testing.T, from, n int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.d.lookupCount() < from+n {
		if time.Now().After(deadline) {
			t.Fatalf("the waiting PUT looked at the status %d times, want %d", r.d.lookupCount()-from, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r.d.lookupCount()
}

func TestPutWaitServedAnswersOnlyOnceReady(t *testing.T) {
	r, c := catalogRig(t)
	// The definition being replaced is served: that must not count.
	c.specs["a"] = catalog.Spec{Domains: []string{"old.example.test"}}
	r.d.setStatus(daemon.CertStatus{Name: "a", Domains: []string{"old.example.test"}, KeyTypes: []string{"ecdsa-p256"}, State: "ok", Ready: true})
	done := r.putAsync(t, "/v1/certificates/a?wait=served&timeout=1m", `{"domains": ["a.example.test"]}`)
	n := r.waitLookups(t, 0, 3)
	r.d.setStatus(daemon.CertStatus{Name: "a", Domains: []string{"a.example.test"}, KeyTypes: []string{"ecdsa-p256"}, State: "issue"})
	n = r.waitLookups(t, n, 3)
	select {
	case a := <-done:
		t.Fatalf("answered %d before the certificate was served: %s", a.resp.StatusCode, a.body)
	default:
	}
	r.d.setStatus(daemon.CertStatus{Name: "a", Domains: []string{"a.example.test"}, KeyTypes: []string{"ecdsa-p256"}, State: "ok", Ready: true, Serial: "ff"})
	r.waitLookups(t, n, 1)
	a := <-done
	if st := statusOf(t, a.body); a.resp.StatusCode != http.StatusOK || !st.Ready || st.Serial != "ff" {
		t.Fatalf("served: %d %s", a.resp.StatusCode, a.body)
	}
}

func TestPutWaitServedNewCertificateIsCreated(t *testing.T) {
	r, _ := catalogRig(t)
	done := r.putAsync(t, "/v1/certificates/b?wait=served", `{"domains": ["b.example.test"], "key_type": ["ecdsa-p256", "rsa2048"]}`)
	n := r.waitLookups(t, 0, 2)
	r.d.setStatus(daemon.CertStatus{Name: "b", Domains: []string{"b.example.test"}, KeyTypes: []string{"ecdsa-p256", "rsa2048"}, State: "ok", Ready: true})
	r.waitLookups(t, n, 1)
	if a := <-done; a.resp.StatusCode != http.StatusCreated || !statusOf(t, a.body).Ready {
		t.Fatalf("new and served: %d %s", a.resp.StatusCode, a.body)
	}
}

func TestPutWaitServedTimesOutWithTheStatus(t *testing.T) {
	r, c := catalogRig(t)
	r.d.setStatus(daemon.CertStatus{Name: "a", Domains: []string{"a.example.test"}, KeyTypes: []string{"ecdsa-p256"},
		State: "issue", LastError: "rate limited", Attempts: 2})
	resp, body := r.put(t, "/v1/certificates/a?wait=served&timeout=200ms", `{"domains": ["a.example.test"]}`)
	st := statusOf(t, body)
	if resp.StatusCode != http.StatusAccepted || st.State != "issue" || st.LastError != "rate limited" || st.Ready {
		t.Fatalf("limit passed: %d %s", resp.StatusCode, body)
	}
	if _, ok := c.specs["a"]; !ok {
		t.Fatal("202 but the certificate is not written")
	}
}

func TestPutWaitEndsWhenTheClientLeaves(t *testing.T) {
	c := newFakeCatalog()
	d := &fakeDaemon{}
	handlerDone := make(chan struct{}, 1)
	s := New(Options{Daemon: d, Token: testToken, Catalog: c})
	srv := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.Handler().ServeHTTP(w, req)
		handlerDone <- struct{}{}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv+"/v1/certificates/a?wait=served&timeout=10m", strings.NewReader(`{"domains": ["a.example.test"]}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	(&rig{d: d}).waitLookups(t, 0, 2)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the request was answered though the certificate is never served")
	}
	select {
	case <-handlerDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler still waits after the client left")
	}
}
