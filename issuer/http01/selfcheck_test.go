package http01

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testToken   = "tok_0123456789abcdef"
	testKeyAuth = testToken + ".thumb"
)

// frontend stands in for HAProxy's HTTP frontend; h answers every request.
func frontend(t *testing.T, h http.HandlerFunc) *SelfCheck {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s, err := NewSelfCheck(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.pause = time.Millisecond
	return s
}

func TestSelfCheckPasses(t *testing.T) {
	r := New(nil)
	if err := r.Present(t.Context(), testToken, testKeyAuth); err != nil {
		t.Fatal(err)
	}
	var host string
	s := frontend(t, func(w http.ResponseWriter, req *http.Request) {
		host = req.Host
		r.ServeHTTP(w, req)
	})
	if err := s.Check(t.Context(), "shop.example.com", testToken, testKeyAuth); err != nil {
		t.Fatal(err)
	}
	if host != "shop.example.com" {
		t.Fatalf("Host sent %q, want the domain", host)
	}
}

func TestSelfCheckDiagnoses(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		kind CheckKind
		want string
	}{
		{"route missing", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, NoRoute,
			"answered 503 for shop.example.com/.well-known/acme-challenge/tok_0123...: the ACME route is missing"},
		{"another backend", http.NotFound, NoRoute, "answered 404 for"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://shop.example.com"+r.URL.Path, http.StatusFound)
		}, Redirected, "answered 302 (redirect to https://shop.example.com/.well-known/acme-challenge/" + testToken +
			") for shop.example.com/.well-known/acme-challenge/tok_0123...: a redirect to https runs before the ACME route; " +
			"add `unless { path_beg /.well-known/acme-challenge/ }` to it"},
		{"another client", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("tok_0123456789abcdef.otherthumb")) }, WrongAnswer,
			`with "tok_0123456789abcdef.otherthumb", not hotcert's key authorization: another ACME client`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			s := frontend(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1); tc.h(w, r) })
			err := s.Check(t.Context(), "shop.example.com", testToken, testKeyAuth)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Kind != tc.kind {
				t.Fatalf("got %v, want a CheckError of kind %d", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "HAProxy at 127.0.0.1:") {
				t.Fatalf("message %q lacks %q", err, tc.want)
			}
			if calls.Load() != checkTries {
				t.Fatalf("%d fetches, want %d: a failure is tried again", calls.Load(), checkTries)
			}
		})
	}
}

func TestSelfCheckTrailingNewlineAndLateRoute(t *testing.T) {
	var calls atomic.Int32
	s := frontend(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(503) // a reload in progress
			return
		}
		w.Write([]byte(testKeyAuth + "\n"))
	})
	if err := s.Check(t.Context(), "shop.example.com", testToken, testKeyAuth); err != nil {
		t.Fatalf("a route that answers at the second try: %v", err)
	}
}

func TestSelfCheckConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := NewSelfCheck("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	s.pause = time.Millisecond
	err = s.Check(t.Context(), "shop.example.com", testToken, testKeyAuth)
	want := "nothing listens at " + addr + " (connection refused): challenge.self_check must be HAProxy's HTTP frontend"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestSelfCheckStopsWithContext(t *testing.T) {
	s := frontend(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	s.pause = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Check(ctx, "shop.example.com", testToken, testKeyAuth); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

func TestNewSelfCheckDefaultPort(t *testing.T) {
	s, err := NewSelfCheck("http://127.0.0.1")
	if err != nil || s.addr != "127.0.0.1:80" {
		t.Fatalf("addr %v, err %v", s, err)
	}
	if _, err := NewSelfCheck("https://127.0.0.1"); err == nil {
		t.Fatal("https accepted")
	}
}
