package http01

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// cluster stands in for the tokens other nodes presented.
type cluster struct {
	mu     sync.Mutex
	tokens map[string]string
	asked  atomic.Int32
}

func (c *cluster) keyAuth(token string) (string, bool) {
	c.asked.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	ka, ok := c.tokens[token]
	return ka, ok
}

func TestFallbackAnswersTokensHeldElsewhere(t *testing.T) {
	r := New(nil)
	must(t, r.Present(context.Background(), "local", "local.here"))
	c := &cluster{tokens: map[string]string{
		"remote": "remote.thumb_-9",
		"local":  "local.from-cluster",
		"forged": "other.thumb",   // a key authorization for another token
		"empty":  "empty.",        // no thumbprint
		"inject": "inject.a\nb c", // not base64url after the dot
	}}
	r.SetFallback(c.keyAuth)
	for _, tc := range []struct {
		method, path string
		code         int
		body, result string
		asks         bool // whether the fallback is consulted
	}{
		{"GET", "/.well-known/acme-challenge/remote", 200, "remote.thumb_-9", "hit", true},
		{"HEAD", "/.well-known/acme-challenge/remote", 200, "", "hit", true},
		{"GET", "/.well-known/acme-challenge/local", 200, "local.here", "hit", false},
		{"GET", "/.well-known/acme-challenge/gone", 404, "", "miss", true},
		{"GET", "/.well-known/acme-challenge/forged", 404, "", "miss", true},
		{"GET", "/.well-known/acme-challenge/empty", 404, "", "miss", true},
		{"GET", "/.well-known/acme-challenge/inject", 404, "", "miss", true},
		{"POST", "/.well-known/acme-challenge/remote", 404, "", "bad_request", false},
		{"GET", "/remote", 404, "", "bad_request", false},
		{"GET", "/.well-known/acme-challenge/re.mote", 404, "", "bad_request", false},
		{"GET", "/.well-known/acme-challenge/" + strings.Repeat("r", 257), 404, "", "bad_request", false},
	} {
		var result string
		r.OnRequest(func(res string) { result = res })
		before := c.asked.Load()
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		name := tc.method + " " + tc.path
		if tc.code == 404 {
			tc.body = "404 page not found\n" // and never a key authorization
		}
		if rec.Code != tc.code || rec.Body.String() != tc.body || result != tc.result {
			t.Errorf("%s: %d %q %s, want %d %q %s", name, rec.Code, rec.Body.String(), result, tc.code, tc.body, tc.result)
		}
		if asked := c.asked.Load() != before; asked != tc.asks {
			t.Errorf("%s: fallback asked %v, want %v", name, asked, tc.asks)
		}
		if rec.Code == 200 && rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", name, rec.Header())
		}
	}

	r.SetFallback(nil)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/remote", nil))
	if rec.Code != 404 {
		t.Errorf("after SetFallback(nil): %d, want 404", rec.Code)
	}
}

func TestFallbackConcurrentUse(t *testing.T) {
	r := New(nil)
	c := &cluster{tokens: map[string]string{}}
	var wg sync.WaitGroup
	for i := range 4 {
		tok := "t" + strings.Repeat("x", i)
		wg.Go(func() {
			for range 100 {
				c.mu.Lock()
				c.tokens[tok] = tok + ".thumb"
				c.mu.Unlock()
				r.SetFallback(c.keyAuth)
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/"+tok, nil))
				if rec.Code != 200 {
					t.Errorf("%s: %d", tok, rec.Code)
					return
				}
			}
		})
	}
	wg.Wait()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
