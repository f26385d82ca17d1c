package issuer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"

	"golang.org/x/crypto/acme"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/issuer/http01"
)

// env is a running Pebble with an http-01 responder on the port its VA dials.
type env struct {
	ca        *testca.CA
	responder *http01.Responder
	hits      chan string
	// frontend is the responder's URL, where the CA's validations arrive.
	frontend string
}

func startEnv(t testing.TB, opts testca.Options) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.HTTPPort = ln.Addr().(*net.TCPAddr).Port
	ca, err := testca.Start(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	r := http01.New(nil)
	e := &env{ca: ca, responder: r, hits: make(chan string, 1024), frontend: "http://" + ln.Addr().String()}
	r.OnRequest(func(res string) {
		select {
		case e.hits <- res:
		default:
		}
	})
	srv := r.Server("")
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return e
}

func (e *env) client(t testing.TB, mutate func(*issuer.Options)) *issuer.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := issuer.Options{
		DirectoryURL: e.ca.DirectoryURL,
		Email:        "ops@example.com",
		AcceptTerms:  true,
		HTTPClient:   e.ca.HTTPClient(),
		HTTPSolver:   e.responder,
		PollInterval: 50 * time.Millisecond,
		OrderTimeout: time.Minute,
	}
	if mutate != nil {
		mutate(&opts)
	}
	return issuer.New(opts, key)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// verify checks the bundle's chain against Pebble's issuing root and its key against the request.
func verify(t *testing.T, e *env, b *issuer.Bundle, domains []string, keyType string) {
	t.Helper()
	rootPEM, err := e.ca.IssuerRootPEM(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("bad issuer root PEM %q", rootPEM)
	}
	inter := x509.NewCertPool()
	var certs []*x509.Certificate
	for rest := b.CertPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
		inter.AddCert(c)
	}
	if len(certs) < 2 || !certs[0].Equal(b.Leaf) {
		t.Fatalf("CertPEM must start with the leaf and carry the chain; got %d certs", len(certs))
	}
	for _, d := range domains {
		if _, err := b.Leaf.Verify(x509.VerifyOptions{DNSName: d, Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("chain does not verify for %s: %v", d, err)
		}
	}
	if got := bundle.KeyTypeOf(b.Key); string(got) != keyType {
		t.Errorf("bundle key type %q, want %q", got, keyType)
	}
	if !b.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Key.Public()) {
		t.Error("leaf key is not the bundle key")
	}
	k, err := issuer.ParseKey(b.KeyPEM)
	if err != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Key.Public()) {
		t.Errorf("KeyPEM does not hold the bundle key: %v", err)
	}
}

func TestIssueKeyTypes(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	for i, kt := range []string{"ecdsa-p256", "ecdsa-p384", "rsa2048", "rsa3072", "rsa4096"} {
		t.Run(kt, func(t *testing.T) {
			t.Parallel()
			domains := []string{fmt.Sprintf("kt%d.example.com", i), fmt.Sprintf("www.kt%d.example.com", i)}
			b, err := c.Issue(ctxT(t), issuer.Request{Name: kt, Domains: domains, KeyType: bundle.KeyType(kt)})
			if err != nil {
				t.Fatal(err)
			}
			verify(t, e, b, domains, kt)
		})
	}
}

func TestIssueWithOwnKeyAndProfile(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	c := e.client(t, func(o *issuer.Options) { o.Profile = "shortlived" })
	key, _ := issuer.GenerateKey("ecdsa-p384")
	domains := []string{"own.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "own", Domains: domains, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, e, b, domains, "ecdsa-p384")
	if b.Key != key {
		t.Error("bundle does not carry the user's key")
	}
	if life := b.Leaf.NotAfter.Sub(b.Leaf.NotBefore); life > 7*24*time.Hour {
		t.Errorf("shortlived profile gave a %s certificate", life)
	}
	if e.ca.Orders() != 1 {
		t.Errorf("Orders() = %d, want 1", e.ca.Orders())
	}
	// Tokens are withdrawn once the order is done: nothing is pending any more.
	if n := pendingHits(e); n == 0 {
		t.Error("the responder was never asked for a token (authz reuse on a fresh account?)")
	}
}

// pendingHits drains the responder's results and counts hits.
func pendingHits(e *env) int {
	n := 0
	for {
		select {
		case r := <-e.hits:
			if r == "hit" {
				n++
			}
		default:
			return n
		}
	}
}

func TestUnknownProfile(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	_, err := e.client(t, func(o *issuer.Options) { o.Profile = "nope" }).Register(ctxT(t))
	if !errors.Is(err, issuer.ErrUnknownProfile) || !strings.Contains(err.Error(), "shortlived") {
		t.Fatalf("err = %v, want ErrUnknownProfile listing the offered profiles", err)
	}
	if !issuer.IsPermanent(err) {
		t.Error("an unknown profile must be permanent")
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	key, _ := issuer.GenerateKey("")
	opts := issuer.Options{DirectoryURL: e.ca.DirectoryURL, HTTPClient: e.ca.HTTPClient(), AcceptTerms: true}
	uri, err := issuer.New(opts, key).Register(ctxT(t))
	if err != nil || uri == "" {
		t.Fatalf("Register = %q, %v", uri, err)
	}
	again, err := issuer.New(opts, key).Register(ctxT(t))
	if err != nil || again != uri {
		t.Fatalf("second Register with the same key = %q, %v; want the existing %q", again, err, uri)
	}
	opts.AcceptTerms = false
	if _, err := issuer.New(opts, key).Register(ctxT(t)); !errors.Is(err, issuer.ErrTermsNotAccepted) {
		t.Fatalf("without accept_terms: %v", err)
	}
}

func TestEAB(t *testing.T) {
	t.Parallel()
	hmac := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	e := startEnv(t, testca.Options{RequireEAB: true, EABKeys: map[string]string{"kid-1": hmac}})
	_, err := e.client(t, nil).Register(ctxT(t))
	if !errors.Is(err, issuer.ErrEABRequired) {
		t.Fatalf("without EAB: %v, want ErrEABRequired", err)
	}
	if !strings.Contains(err.Error(), "eab") {
		t.Errorf("message %q does not say how to fix it", err)
	}
	c := e.client(t, func(o *issuer.Options) { o.EAB = &issuer.EAB{KeyID: "kid-1", HMACKey: hmac} })
	if _, err := c.Register(ctxT(t)); err != nil {
		t.Fatalf("with EAB: %v", err)
	}
	bad := e.client(t, func(o *issuer.Options) { o.EAB = &issuer.EAB{KeyID: "kid-2", HMACKey: hmac} })
	if _, err := bad.Register(ctxT(t)); err == nil || !issuer.IsPermanent(err) {
		t.Fatalf("unknown EAB key id: %v, want a permanent error", err)
	}
}

func TestBlockedDomain(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{Blocklist: []string{"blocked.example"}})
	c := e.client(t, nil)
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "shop", Domains: []string{"ok.example.com", "blocked.example"}})
	var ie *issuer.Error
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *issuer.Error", err)
	}
	if !issuer.IsPermanent(err) || ie.Domain != "blocked.example" || ie.Cert != "shop" ||
		ie.Problem != "urn:ietf:params:acme:error:rejectedIdentifier" {
		t.Fatalf("err = %+v", ie)
	}
	if !strings.Contains(err.Error(), "blocked.example") {
		t.Errorf("message %q does not name the domain", err)
	}
}

func TestFailedValidationNamesDomain(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	c := e.client(t, func(o *issuer.Options) { o.HTTPSolver = wrongSolver{e.responder} })
	_, err := c.Issue(ctxT(t), issuer.Request{Name: "bad", Domains: []string{"wrong.example.com"}})
	var ie *issuer.Error
	if !errors.As(err, &ie) || ie.Domain != "wrong.example.com" || !strings.Contains(err.Error(), "http-01") {
		t.Fatalf("err = %v, want an *issuer.Error naming the domain and http-01", err)
	}
}

// wrongSolver serves a key authorization that is not the account's.
type wrongSolver struct{ *http01.Responder }

func (w wrongSolver) Present(ctx context.Context, token, _ string) error {
	return w.Responder.Present(ctx, token, token+".not-the-thumbprint")
}

func TestRenewalInfo(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "ari", Domains: []string{"ari.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	w, retry, err := c.RenewalInfo(ctxT(t), b.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !w.End.After(w.Start) || w.Start.Before(b.Leaf.NotBefore) || w.End.After(b.Leaf.NotAfter) || retry <= 0 {
		t.Fatalf("window %v..%v retry %s for a cert valid %v..%v", w.Start, w.End, retry, b.Leaf.NotBefore, b.Leaf.NotAfter)
	}
	now := time.Now()
	if err := e.ca.SetRenewalWindow(ctxT(t), b.Leaf, now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	w, _, err = c.RenewalInfo(ctxT(t), b.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !w.End.After(w.Start) || !w.End.Before(now) {
		t.Fatalf("window %v..%v after setting one in the past, before %s", w.Start, w.End, now)
	}
}

func TestNoARI(t *testing.T) {
	t.Parallel()
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"newNonce":"x","newAccount":"x","newOrder":"x"}`)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	key, _ := issuer.GenerateKey("")
	c := issuer.New(issuer.Options{DirectoryURL: "http://" + ln.Addr().String() + "/dir"}, key)
	leaf := &x509.Certificate{AuthorityKeyId: []byte{1}, SerialNumber: bigOne()}
	if _, _, err := c.RenewalInfo(ctxT(t), leaf); !errors.Is(err, issuer.ErrNoARI) {
		t.Fatalf("err = %v, want ErrNoARI", err)
	}
}

// countingSolver records presented tokens that were not cleaned up.
type countingSolver struct {
	issuer.HTTPSolver
	mu       sync.Mutex
	open     map[string]bool
	presents int
}

func newCounting(s issuer.HTTPSolver) *countingSolver {
	return &countingSolver{HTTPSolver: s, open: map[string]bool{}}
}

func (c *countingSolver) Present(ctx context.Context, token, keyAuth string) error {
	c.mu.Lock()
	c.open[token] = true
	c.presents++
	c.mu.Unlock()
	return c.HTTPSolver.Present(ctx, token, keyAuth)
}

func (c *countingSolver) CleanUp(ctx context.Context, token string) error {
	c.mu.Lock()
	delete(c.open, token)
	c.mu.Unlock()
	return c.HTTPSolver.CleanUp(ctx, token)
}

func (c *countingSolver) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.presents == 0 {
		t.Error("no challenge was presented")
	}
	if len(c.open) != 0 {
		t.Errorf("tokens left presented: %v", c.open)
	}
}

func TestTokensCleanedUp(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	good := newCounting(e.responder)
	c := e.client(t, func(o *issuer.Options) { o.HTTPSolver = good })
	if _, err := c.Issue(ctxT(t), issuer.Request{Name: "a", Domains: []string{"clean.example.com", "www.clean.example.com"}}); err != nil {
		t.Fatal(err)
	}
	good.check(t)

	bad := newCounting(wrongSolver{e.responder})
	c = e.client(t, func(o *issuer.Options) { o.HTTPSolver = bad })
	if _, err := c.Issue(ctxT(t), issuer.Request{Name: "b", Domains: []string{"dirty.example.com", "www.dirty.example.com"}}); err == nil {
		t.Fatal("issuance with wrong key authorizations succeeded")
	}
	bad.check(t)
}

func TestDeactivatedAccount(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	key, _ := issuer.GenerateKey("")
	ac := &acme.Client{Key: key, DirectoryURL: e.ca.DirectoryURL, HTTPClient: e.ca.HTTPClient()}
	if _, err := ac.Register(ctxT(t), &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	if err := ac.DeactivateReg(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	opts := issuer.Options{DirectoryURL: e.ca.DirectoryURL, HTTPClient: e.ca.HTTPClient(), AcceptTerms: true}
	_, err := issuer.New(opts, key).Register(ctxT(t))
	if !errors.Is(err, issuer.ErrAccountDeactivated) || !issuer.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent ErrAccountDeactivated", err)
	}
}

func TestIssueRefusesBadRequests(t *testing.T) {
	t.Parallel()
	key, _ := issuer.GenerateKey("")
	c := issuer.New(issuer.Options{DirectoryURL: "http://127.0.0.1:1/dir", AcceptTerms: true}, key)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, req := range map[string]issuer.Request{
		"no domains":   {Name: "x"},
		"weak key":     {Name: "x", Domains: []string{"a.example"}, Key: weak},
		"bad key type": {Name: "x", Domains: []string{"a.example"}, KeyType: "dsa"},
	} {
		_, err := c.Issue(ctxT(t), req)
		if err == nil || !issuer.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent error before any request", name, err)
		}
	}
}

func TestRolloverKeyKeepsAccount(t *testing.T) {
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	uri, err := c.Register(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	oldThumb := c.Thumbprint()
	newKey, err := issuer.GenerateKey("ecdsa-p384")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RolloverKey(ctxT(t), newKey); err != nil {
		t.Fatalf("rollover: %v", err)
	}
	if c.Thumbprint() == oldThumb {
		t.Fatal("thumbprint did not change with the key")
	}
	// A fresh client with the new key finds the same account and can order.
	again := issuer.New(issuer.Options{DirectoryURL: e.ca.DirectoryURL, AcceptTerms: true,
		HTTPClient: e.ca.HTTPClient(), HTTPSolver: e.responder}, newKey)
	got, err := again.Register(ctxT(t))
	if err != nil || got != uri {
		t.Fatalf("new key's account = %q, %v; want %q", got, err, uri)
	}
	domains := []string{"rolled.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "rolled", Domains: domains})
	if err != nil {
		t.Fatalf("issue after rollover: %v", err)
	}
	verify(t, e, b, domains, "ecdsa-p256")
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := c.RolloverKey(ctxT(t), weak); err == nil {
		t.Fatal("a 1024-bit account key was accepted")
	}
}
