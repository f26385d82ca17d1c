package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// TestRegisterGivesUpOnASilentCAAfterRegisterWait: a CA that accepts the
// connection and never answers must not hold start-up for the HTTP client's
// 60 s timeout; hotcert starts after registerWait so that HAProxy keeps
// getting the certificates it has.
func TestRegisterGivesUpOnASilentCAAfterRegisterWait(t *testing.T) {
	defer func(w time.Duration) { registerWait = w }(registerWait)
	registerWait = 300 * time.Millisecond
	release := make(chan struct{})
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ca.Close()
	defer close(release)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := acmeHTTPClient("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{}
	cfg.ACME.Directory, cfg.ACME.AcceptTerms = ca.URL+"/dir", true
	iss := issuer.New(issuer.Options{DirectoryURL: cfg.ACME.Directory, AcceptTerms: true, HTTPClient: hc}, key)
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- register(context.Background(), iss, st, key, cfg, slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("register with a silent CA: %v, want nil (start anyway)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("register still blocked 5 s after registerWait (300 ms) with a silent CA")
	}
}

// TestServeStoppedDuringRegisterIsACleanExit: SIGTERM while start-up waits
// for an unreachable CA is an ordinary stop (exit 0), not an error.
func TestServeStoppedDuringRegisterIsACleanExit(t *testing.T) {
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer ca.Close()
	cfg := &configs.Config{StateDir: t.TempDir()}
	cfg.ACME.Directory, cfg.ACME.AcceptTerms = ca.URL+"/dir", true
	cfg.Challenge.HTTP01Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if err := serve(ctx, cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("serve stopped while registering: %v, want nil", err)
	}
}
