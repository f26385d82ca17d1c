package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

func safetyServer(t *testing.T, d *fakeDaemon) *Client {
	cfg := &configs.Config{File: "/etc/hotcert/hotcert.yaml", DomainsFile: "/etc/hotcert/domains.yaml"}
	s := New(Options{Daemon: d, Token: testToken, CheckDomains: cfg.CheckDomains, PlanMaxBody: 1 << 10})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &Client{URL: srv.URL, Token: testToken}
}

func TestConfirmRemovals(t *testing.T) {
	d := &fakeDaemon{held: []string{"a", "b"}}
	c := safetyServer(t, d)
	ctx := context.Background()
	list, err := c.Certificates(ctx)
	if err != nil || len(list.Removals) != 2 || list.Removals[0].State != "held" {
		t.Fatalf("GET /v1/certificates does not show the held removals: %+v, %v", list, err)
	}
	anon := &Client{URL: c.URL}
	var se *StatusError
	if _, err := anon.ConfirmRemovals(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("confirm without a token: %v", err)
	}
	if got, err := c.ConfirmRemovals(ctx); err != nil || strings.Join(got, " ") != "a b" {
		t.Fatalf("ConfirmRemovals = %v, %v; want a b", got, err)
	}
	if got, err := c.ConfirmRemovals(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("with nothing held ConfirmRemovals = %#v, %v; want an empty list", got, err)
	}
}

func TestPlanChecksTheFileLikeTheDaemon(t *testing.T) {
	d := &fakeDaemon{}
	c := safetyServer(t, d)
	ctx := context.Background()
	good := []byte("certificates:\n  - domains: [a.example.com]\n")
	var se *StatusError
	if _, err := (&Client{URL: c.URL}).Plan(ctx, "x.yaml", good); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("plan without a token: %v", err)
	}
	p, err := c.Plan(ctx, "/etc/hotcert/domains.new.yaml", good)
	if err != nil || len(p.Certificates) != 1 || p.Certificates[0].Name != "a.example.com" || p.Counts["issue"] != 1 {
		t.Fatalf("Plan = %+v, %v", p, err)
	}

	bad := []byte("certificates:\n  - domains: [a.example.com]\n    key_type: dsa\n  - domains: [b.example.com]\n    challenge: dns-01\n")
	_, err = c.Plan(ctx, "/etc/hotcert/domains.new.yaml", bad)
	if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity || len(se.Problem.Problems) != 1 {
		t.Fatalf("a bad file: %v (%+v), want 422 with its problems", err, se)
	}
	if got := se.Problem.Problems[0]; !strings.HasPrefix(got, "/etc/hotcert/domains.new.yaml:3:15: certificates[0].key_type") {
		t.Fatalf("problem %q, want FILE:LINE:COL: FIELD naming the candidate", got)
	}
	_, err = c.Plan(ctx, "x.yaml", []byte("certificates: []\n# "+strings.Repeat("x", 2<<10)+"\n"))
	if !errors.As(err, &se) || se.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversize file: %v", err)
	}
	if len(d.planned) != 1 {
		t.Fatalf("the daemon planned %d files, want only the good one", len(d.planned))
	}
}
