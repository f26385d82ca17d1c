package issuer

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestRetryAfterHintsPacePolling runs on synctest's fake clock, so the waits
// are exact: the hint, capped by the caller's deadline, then the poll interval.
func TestRetryAfterHintsPacePolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const url = "https://ca.test/authz/1"
		hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Retry-After": {"3"}}, Body: http.NoBody}, nil
		})}
		c := New(Options{PollInterval: 10 * time.Millisecond, HTTPClient: hc}, mustKey(t))
		p := c.newPoller(url)
		waited := func(ctx context.Context) time.Duration {
			start := time.Now()
			<-p.wait(ctx)
			return time.Since(start)
		}
		get := func() {
			t.Helper()
			res, err := c.http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}

		get()
		if took := waited(t.Context()); took != 3*time.Second {
			t.Fatalf("poll after a Retry-After of 3 s waited %s", took)
		}
		get()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if took := waited(ctx); took != 50*time.Millisecond {
			t.Fatalf("poll with 50 ms left before the deadline waited %s", took)
		}
		// The hint is used up: back to the interval, which grows by a quarter a poll.
		if took := waited(t.Context()); took != 15625*time.Microsecond {
			t.Fatalf("poll without a hint waited %s, want the third interval, 15.625 ms", took)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRetryAfterMemoryIsBounded: every renewalInfo answer carries a Retry-After of hours,
// for a URL of its own that no poll loop ever takes back. Asking about many certificates
// must not grow the memory past its bound, and hints whose wait is over are dropped.
func TestRetryAfterMemoryIsBounded(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dir" {
			fmt.Fprintf(w, `{"renewalInfo": %q}`, srv.URL+"/ari")
			return
		}
		w.Header().Set("Retry-After", "21600")
		fmt.Fprint(w, `{"suggestedWindow": {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}}`)
	}))
	defer srv.Close()
	var mu sync.Mutex
	now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := New(Options{DirectoryURL: srv.URL + "/dir", Now: clock}, mustKey(t))
	ask := func(serial int64) {
		t.Helper()
		leaf := &x509.Certificate{AuthorityKeyId: []byte{1, 2, 3}, SerialNumber: big.NewInt(serial)}
		if _, retry, err := c.RenewalInfo(context.Background(), leaf); err != nil || retry != 6*time.Hour {
			t.Fatalf("renewal info for serial %d: retry %s, %v", serial, retry, err)
		}
	}
	hints := func() (n int, ari int) {
		c.hints.mu.Lock()
		defer c.hints.mu.Unlock()
		for u := range c.hints.after {
			if strings.Contains(u, "/ari/") {
				ari++
			}
		}
		return len(c.hints.after), ari
	}
	for i := range 1000 {
		ask(int64(i + 1))
	}
	if n, _ := hints(); n > 300 {
		t.Fatalf("Retry-After memory holds %d entries after 1000 renewalInfo requests; want a bound", n)
	}
	mu.Lock()
	now = now.Add(7 * time.Hour) // every 6 h Retry-After is over
	mu.Unlock()
	for i := range 10 {
		ask(int64(5000 + i))
	}
	if _, ari := hints(); ari > 10 {
		t.Fatalf("%d renewalInfo hints kept after their Retry-After ended; want only the 10 new ones", ari)
	}
}

func TestParseRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "7": 7 * time.Second, "-3": 0, "soon": 0, "99999999999999": 30 * 24 * time.Hour} {
		if got := parseRetryAfter(v); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(date); got < 59*time.Minute || got > time.Hour {
		t.Errorf("parseRetryAfter(date in 1h) = %s", got)
	}
}

func mustKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	return key
}
