package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/issuer/http01"
	"github.com/hotcert/hotcert/store"
)

// rolloverCA is Pebble behind a proxy that can lose the answer to a key rollover after
// Pebble applied it, and then stay unreachable (every answer lost) while down is set.
type rolloverCA struct {
	ca       *testca.CA
	proxy    *testca.Proxy
	solver   *http01.Responder
	loseNext atomic.Bool // lose the next rollover answer
	thenDown atomic.Bool // and go down after losing it
	down     atomic.Bool
}

func startRolloverCA(t *testing.T) *rolloverCA {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testca.Start(testca.Options{HTTPPort: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	r := &rolloverCA{ca: ca, solver: http01.New(nil)}
	srv := r.solver.Server("")
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	if r.proxy, err = ca.NewProxy(r.hook); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.proxy.Close() })
	return r
}

func (r *rolloverCA) hook(x *testca.Exchange) bool {
	if r.down.Load() {
		return false
	}
	if x.Path == "/rollover-account-key" && x.Status == 200 && r.loseNext.CompareAndSwap(true, false) {
		r.down.Store(r.thenDown.Load())
		return false
	}
	return true
}

// TestRolloverSurvivesALostAnswer: the CA applies the new account key but its answer is
// lost. Whether the CA is reachable again at once (the rollover settles it) or only later
// (the next start settles it), the account is kept: hotcert signs with the key the CA
// holds, for the same account, and orders succeed.
func TestRolloverSurvivesALostAnswer(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	r := startRolloverCA(t)
	cfgPath, cfg, st := rolloverConfig(t, r)
	account := startAndOrder(t, r, cfg, st, "first.example.com")

	// Lost answer, then the CA is unreachable: the rollover cannot tell what happened.
	r.loseNext.Store(true)
	r.thenDown.Store(true)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rollover", "--config", cfgPath}, &stdout, &stderr); code == 0 {
		t.Fatalf("rollover with a lost answer and no CA said it succeeded: %s", stdout.String())
	}
	r.down.Store(false)
	before := storedAccount(t, st)
	if got := startAndOrder(t, r, cfg, st, "after-start.example.com"); got != account {
		t.Fatalf("after a lost rollover answer and a restart, hotcert uses account %q; want %q (the CA holds the new key)", got, account)
	}
	if bytes.Equal(storedAccount(t, st).KeyPEM, before.KeyPEM) {
		t.Fatal("start-up kept the old account key; the CA holds the new one")
	}

	// Lost answer, CA reachable: the rollover itself finds out that the CA applied it.
	r.loseNext.Store(true)
	r.thenDown.Store(false)
	before = storedAccount(t, st)
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"rollover", "--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("rollover with a lost answer: exit %d: %s", code, stderr.String())
	}
	if after := storedAccount(t, st); after.URI != account || bytes.Equal(after.KeyPEM, before.KeyPEM) {
		t.Fatalf("after the rollover: account %q, key changed %v; want %q with a new key",
			after.URI, !bytes.Equal(after.KeyPEM, before.KeyPEM), account)
	}
	if got := startAndOrder(t, r, cfg, st, "after-roll.example.com"); got != account {
		t.Fatalf("hotcert uses account %q, want %q", got, account)
	}

	// Nothing lost: the new key is the account key and no pending key is left behind.
	before = storedAccount(t, st)
	if code := run([]string{"rollover", "--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("rollover: exit %d: %s", code, stderr.String())
	}
	if after := storedAccount(t, st); after.URI != account || bytes.Equal(after.KeyPEM, before.KeyPEM) {
		t.Fatalf("after the rollover: account %q, key changed %v; want %q with a new key",
			after.URI, !bytes.Equal(after.KeyPEM, before.KeyPEM), account)
	}
	if _, err := st.NextAccountKey(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a settled rollover left its pending key: %v", err)
	}
	if got := startAndOrder(t, r, cfg, st, "after-plain-roll.example.com"); got != account {
		t.Fatalf("hotcert uses account %q, want %q", got, account)
	}
}

// rolloverConfig writes a config for r's CA whose admin address does not answer, so that
// rollover does not mistake another test's daemon for this one.
func rolloverConfig(t *testing.T, r *rolloverCA) (string, *configs.Config, *store.File) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "roots.pem"), r.ca.RootsPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfgPath := writeCheckConfig(t, dir, "  directory: "+r.proxy.DirectoryURL+"\n  ca_roots: roots.pem\n",
		"state_dir: "+filepath.Join(dir, "state")+"\nadmin:\n  listen: "+admin+"\n")
	cfg, err := configs.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.NewFile(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg, st
}

// startAndOrder sets up the issuer as hotcert run does, orders a certificate for domain and
// returns the account it used.
func startAndOrder(t *testing.T, r *rolloverCA, cfg *configs.Config, st *store.File, domain string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hc, err := acmeHTTPClient(cfg.ACME.CARoots)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := newIssuer(ctx, cfg, st, hc, r.solver, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Issue(ctx, issuer.Request{Name: domain, Domains: []string{domain}}); err != nil {
		t.Fatalf("order for %s: %v", domain, err)
	}
	uri, err := iss.Register(ctx)
	if err != nil || !strings.HasPrefix(uri, "https://") {
		t.Fatalf("account %q, %v", uri, err)
	}
	return uri
}

func storedAccount(t *testing.T, st *store.File) *store.Account {
	t.Helper()
	a, err := st.Account()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
