package issuer

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
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
