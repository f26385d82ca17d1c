package http01

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestServeHTTP(t *testing.T) {
	r := New(nil)
	ctx := context.Background()
	if err := r.Present(ctx, "good_Token-123", "good_Token-123.thumb"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 257)
	tests := []struct {
		name, method, path string
		code               int
		body, result       string
	}{
		{"pending token", "GET", "/.well-known/acme-challenge/good_Token-123", 200, "good_Token-123.thumb", "hit"},
		{"head", "HEAD", "/.well-known/acme-challenge/good_Token-123", 200, "", "hit"},
		{"unknown token", "GET", "/.well-known/acme-challenge/other", 404, "", "miss"},
		{"post", "POST", "/.well-known/acme-challenge/good_Token-123", 404, "", "bad_request"},
		{"put", "PUT", "/.well-known/acme-challenge/good_Token-123", 404, "", "bad_request"},
		{"outside prefix", "GET", "/good_Token-123", 404, "", "bad_request"},
		{"empty token", "GET", "/.well-known/acme-challenge/", 404, "", "bad_request"},
		{"dot", "GET", "/.well-known/acme-challenge/good.Token", 404, "", "bad_request"},
		{"nested path", "GET", "/.well-known/acme-challenge/a/good_Token-123", 404, "", "bad_request"},
		{"percent", "GET", "/.well-known/acme-challenge/good%25Token", 404, "", "bad_request"},
		{"too long", "GET", "/.well-known/acme-challenge/" + long, 404, "", "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			r.OnRequest(func(res string) { got = res })
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.code {
				t.Fatalf("code = %d, want %d", rec.Code, tt.code)
			}
			if tt.code == 200 {
				if ct := rec.Header().Get("Content-Type"); ct != "text/plain" {
					t.Errorf("content-type = %q", ct)
				}
				if rec.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", rec.Body.String(), tt.body)
				}
			} else if strings.Contains(rec.Body.String(), "thumb") {
				t.Errorf("404 leaked a key authorization: %q", rec.Body.String())
			}
			if got != tt.result {
				t.Errorf("hook result = %q, want %q", got, tt.result)
			}
		})
	}
}

func TestCleanUpStopsAnswering(t *testing.T) {
	r := New(nil)
	ctx := context.Background()
	_ = r.Present(ctx, "tok", "tok.ka")
	if err := r.CleanUp(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/tok", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("cleaned-up token answered %d", rec.Code)
	}
	if err := r.CleanUp(ctx, "never-presented"); err != nil {
		t.Fatalf("CleanUp of unknown token: %v", err)
	}
}

func TestPresentRefusesBadTokens(t *testing.T) {
	r := New(nil)
	for _, tok := range []string{"", "a b", "a/b", "a\nb", "a;b", "ü", strings.Repeat("x", 257)} {
		err := r.Present(context.Background(), tok, "ka")
		var te *TokenError
		if !errors.As(err, &te) {
			t.Errorf("Present(%q) = %v, want *TokenError", tok, err)
		}
	}
	if err := r.Present(context.Background(), strings.Repeat("x", 256), "ka"); err != nil {
		t.Errorf("256-char token refused: %v", err)
	}
}

func TestServerLimits(t *testing.T) {
	s := New(nil).Server("127.0.0.1:0")
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Fatalf("server without limits: %+v", s)
	}
	if s.Addr != "127.0.0.1:0" || s.Handler == nil {
		t.Fatalf("server not wired: addr=%q handler=%v", s.Addr, s.Handler)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := New(nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := "t" + strings.Repeat("x", i)
			for range 100 {
				_ = r.Present(ctx, tok, "ka")
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/"+tok, nil))
				_ = r.CleanUp(ctx, tok)
			}
		}()
	}
	wg.Wait()
}
