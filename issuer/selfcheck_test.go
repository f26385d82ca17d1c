package issuer_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/issuer/http01"
)

func selfCheck(t *testing.T, frontend string) *http01.SelfCheck {
	t.Helper()
	s, err := http01.NewSelfCheck(frontend)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSelfCheckFailsBeforeValidation: a frontend without the ACME route
// fails the attempt before any order is placed, as a local fault that names
// the cause.
func TestSelfCheckFailsBeforeValidation(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	noRoute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	t.Cleanup(noRoute.Close)
	c := e.client(t, func(o *issuer.Options) { o.SelfCheck = selfCheck(t, noRoute.URL) })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "shop", Domains: []string{"shop.example.com"}})
	if !issuer.IsLocal(err) || issuer.IsPermanent(err) {
		t.Fatalf("err = %v, want a local, transient error", err)
	}
	want := "issuer: certificate shop: shop.example.com: self-check: HAProxy at " + strings.TrimPrefix(noRoute.URL, "http://") +
		" answered 503 for shop.example.com/.well-known/acme-challenge/"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "the ACME route is missing") {
		t.Fatalf("message %q, want it to start %q and name the missing route", err, want)
	}
	if n, o := e.ca.Challenges(), e.ca.Orders(); n != 0 || o != 0 {
		t.Fatalf("the CA was asked for %d orders and to validate %d challenges", o, n)
	}
	if n := pendingHits(e); n != 0 {
		t.Fatalf("the responder answered %d requests; nothing should have reached it", n)
	}
}

// TestSelfCheckPassesThenIssues goes through the route the CA uses.
func TestSelfCheckPassesThenIssues(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	c := e.client(t, func(o *issuer.Options) { o.SelfCheck = selfCheck(t, e.frontend) })
	domains := []string{"ok.example.com", "www.ok.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "ok", Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, e, b, domains, "ecdsa-p256")
}

// scripted passes its first n checks and fails the rest with err.
type scripted struct {
	pass  int32
	calls atomic.Int32
	err   error
}

func (s *scripted) Check(context.Context, string, string, string) error {
	if s.calls.Add(1) <= s.pass {
		return nil
	}
	return s.err
}

// TestDiagnosisAfterUnauthorized: when the CA refuses a validation, the
// self-check looks again and its finding goes into the error.
func TestDiagnosisAfterUnauthorized(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	for _, tc := range []struct {
		name  string
		check *scripted
		local bool
		want  string
	}{
		// The checks: the route before the order, the token before the
		// CA validates it, and the token again after the CA refused it.
		{"route broke", &scripted{pass: 2, err: errors.New("HAProxy at 127.0.0.1:80 answered 503")}, true,
			"; self-check: HAProxy at 127.0.0.1:80 answered 503"},
		{"route fine", &scripted{pass: 3}, false, "; self-check: HAProxy answers correctly here: the CA reached another host"},
	} {
		c := e.client(t, func(o *issuer.Options) {
			o.HTTPSolver, o.SelfCheck = wrongSolver{e.responder}, tc.check
		})
		_, err := c.Issue(ctxT(t), issuer.Request{Name: "bad", Domains: []string{tc.name[:5] + ".example.com"}})
		var ie *issuer.Error
		if !errors.As(err, &ie) || !strings.HasSuffix(ie.Problem, ":unauthorized") {
			t.Fatalf("%s: err = %v, want the CA's unauthorized", tc.name, err)
		}
		if issuer.IsLocal(err) != tc.local || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v (local %v), want local %v and %q", tc.name, err, issuer.IsLocal(err), tc.local, tc.want)
		}
	}
}

// TestSelfCheckOfTheOrdersTokens: a route that answers the probe but not the
// order's own token (another node's stale map entry, say) still fails before
// the CA validates anything.
func TestSelfCheckOfTheOrdersTokens(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	check := &scripted{pass: 1, err: errors.New("HAProxy at 127.0.0.1:80 answered tok with another key authorization")}
	c := e.client(t, func(o *issuer.Options) { o.SelfCheck = check })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "shop", Domains: []string{"tokens.example.com"}})
	if !issuer.IsLocal(err) || !strings.Contains(err.Error(), "self-check: HAProxy at 127.0.0.1:80 answered tok") {
		t.Fatalf("err = %v, want the self-check's finding", err)
	}
	if n, o := e.ca.Challenges(), e.ca.Orders(); n != 0 || o != 1 {
		t.Fatalf("the CA saw %d orders and %d challenge validations, want 1 and 0", o, n)
	}
}
