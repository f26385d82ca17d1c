package issuer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
)

// txtSolver publishes dns-01 values in the test CA's DNS and records what happened.
type txtSolver struct {
	ca     *testca.CA
	mu     sync.Mutex
	values map[string][]string // challenge name → values present now
	most   int                 // most values seen under one name at once
	events []string
	seen   []issuer.DNSChallenge // every challenge presented
	fail   error
}

func (s *txtSolver) Present(_ context.Context, c issuer.DNSChallenge) error {
	domain, value := c.Domain, c.Value
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "present "+domain)
	s.seen = append(s.seen, c)
	if s.fail != nil {
		return s.fail
	}
	name := "_acme-challenge." + domain
	s.values[name] = append(s.values[name], value)
	s.most = max(s.most, len(s.values[name]))
	s.ca.SetTXT(name, value)
	return nil
}

func (s *txtSolver) Wait(_ context.Context, c issuer.DNSChallenge) error {
	domain := c.Domain
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "wait "+domain)
	return nil
}

func (s *txtSolver) CleanUp(_ context.Context, c issuer.DNSChallenge) error {
	domain, value := c.Domain, c.Value
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "cleanup "+domain)
	name := "_acme-challenge." + domain
	s.values[name] = slices.DeleteFunc(s.values[name], func(v string) bool { return v == value })
	s.ca.ClearTXT(name)
	for _, v := range s.values[name] {
		s.ca.SetTXT(name, v)
	}
	return nil
}

func TestIssueDNS01WildcardWithApex(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	e := startEnv(t, testca.Options{})
	s := &txtSolver{ca: e.ca, values: map[string][]string{}}
	c := e.client(t, func(o *issuer.Options) { o.DNSSolver = s })
	domains := []string{"*.wild.example.com", "wild.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "_.wild.example.com", Domains: domains, Challenge: "dns-01"})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, e, b, domains, "ecdsa-p256")
	if s.most != 2 {
		t.Errorf("at most %d values under one name at once; the wildcard and the apex need 2", s.most)
	}
	want := []string{"present wild.example.com", "present wild.example.com", "wait wild.example.com",
		"wait wild.example.com", "cleanup wild.example.com", "cleanup wild.example.com"}
	if !slices.Equal(s.events, want) {
		t.Errorf("solver calls:\n got %v\nwant %v (every record presented and propagated before validation, all cleaned up)", s.events, want)
	}
	if n := len(s.values["_acme-challenge.wild.example.com"]); n != 0 {
		t.Errorf("%d values left after the order", n)
	}
}

type permanentErr struct{}

func (permanentErr) Error() string   { return "update refused by 127.0.0.1:53 for zone example.com." }
func (permanentErr) Permanent() bool { return true }

func TestDNS01PermanentSolverErrorIsPermanent(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	e := startEnv(t, testca.Options{})
	s := &txtSolver{ca: e.ca, values: map[string][]string{}, fail: permanentErr{}}
	c := e.client(t, func(o *issuer.Options) { o.DNSSolver = s })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "refused", Domains: []string{"refused.example.com"}, Challenge: "dns-01"})
	if !issuer.IsPermanent(err) || !errors.As(err, new(permanentErr)) {
		t.Fatalf("Issue = %v, want a permanent error wrapping the solver's", err)
	}
	if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "zone example.com.") {
		t.Fatalf("error does not carry the solver's message: %v", err)
	}
}

func TestDNS01WithoutSolverIsPermanent(t *testing.T) {
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "nodns", Domains: []string{"nodns.example.com"}, Challenge: "dns-01"})
	if !issuer.IsPermanent(err) || !strings.Contains(err.Error(), "dns") {
		t.Fatalf("Issue = %v, want a permanent error about the missing dns-01 solver", err)
	}
	if n := e.ca.Orders(); n != 0 {
		t.Fatalf("%d orders placed for a certificate that cannot be solved", n)
	}
}

// lostAnswerSolver adds the record, then reports the failure a lost or late
// answer from the primary gives: the record may well be in the zone.
type lostAnswerSolver struct{ *txtSolver }

func (s lostAnswerSolver) Present(ctx context.Context, c issuer.DNSChallenge) error {
	if err := s.txtSolver.Present(ctx, c); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

func TestDNS01FailedPresentIsCleanedUp(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	e := startEnv(t, testca.Options{})
	s := &txtSolver{ca: e.ca, values: map[string][]string{}}
	c := e.client(t, func(o *issuer.Options) { o.DNSSolver = lostAnswerSolver{s} })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "lost", Domains: []string{"lost.example.com"}, Challenge: "dns-01"})
	if err == nil || issuer.IsPermanent(err) {
		t.Fatalf("Issue = %v, want a transient error", err)
	}
	if n := len(s.values["_acme-challenge.lost.example.com"]); n != 0 {
		t.Errorf("%d TXT values left behind after a present that failed (events %v)", n, s.events)
	}
}

// A request that names a DNS provider is solved by that provider only, and
// the provider gets the token and key authorization the value derives from.
func TestDNS01RequestPicksItsProvider(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	e := startEnv(t, testca.Options{})
	def := &txtSolver{ca: e.ca, values: map[string][]string{}}
	named := &txtSolver{ca: e.ca, values: map[string][]string{}}
	c := e.client(t, func(o *issuer.Options) {
		o.DNSSolver, o.DNSProviders = def, map[string]issuer.DNSSolver{"scripted": named}
	})
	req := issuer.Request{Name: "picked", Domains: []string{"picked.example.com"}, Challenge: "dns-01", DNSProvider: "scripted"}
	if _, err := c.Issue(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	if len(def.events) != 0 || len(named.seen) != 1 {
		t.Fatalf("default solver calls %v, named solver challenges %v", def.events, named.seen)
	}
	ch := named.seen[0]
	sum := sha256.Sum256([]byte(ch.KeyAuth))
	if ch.Token == "" || !strings.HasPrefix(ch.KeyAuth, ch.Token+".") || ch.Value != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("challenge %+v: KeyAuth must be token.thumbprint and Value its digest", ch)
	}
}

func TestDNS01UnknownProviderIsPermanentWithoutAnOrder(t *testing.T) {
	e := startEnv(t, testca.Options{})
	c := e.client(t, func(o *issuer.Options) { o.DNSSolver = &txtSolver{ca: e.ca, values: map[string][]string{}} })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "lost", Domains: []string{"lost.example.com"}, Challenge: "dns-01", DNSProvider: "nope"})
	if !issuer.IsPermanent(err) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Issue = %v, want a permanent error naming the provider", err)
	}
	if n := e.ca.Orders(); n != 0 {
		t.Fatalf("%d orders placed", n)
	}
}
