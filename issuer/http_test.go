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
	"time"
)

func TestRetryAfterHintsPacePolling(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3")
	}))
	defer srv.Close()
	c := New(Options{PollInterval: 10 * time.Millisecond}, mustKey(t))
	res, err := c.http.Get(srv.URL + "/authz/1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	p := c.newPoller(srv.URL + "/authz/1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	<-p.wait(ctx) // Retry-After of 3s, cut short by the 50ms deadline
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Fatalf("poll ignored Retry-After: waited %s", took)
	}
	start = time.Now()
	<-p.wait(context.Background()) // hint consumed: back to the short interval
	if took := time.Since(start); took > time.Second {
		t.Fatalf("poll kept waiting after the hint was used: %s", took)
	}
	if p.interval <= 10*time.Millisecond {
		t.Errorf("interval did not grow: %s", p.interval)
	}
}

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
