package issuer

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// retryHints remembers the Retry-After of the last response per URL. x/crypto's polling
// helpers hide response headers, so the transport records them for our own poll loops.
type retryHints struct {
	mu    sync.Mutex
	after map[string]time.Duration
}

// take returns and forgets the Retry-After last seen for url.
func (h *retryHints) take(url string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.after[url]
	delete(h.after, url)
	return d
}

type hintTransport struct {
	next  http.RoundTripper
	hints *retryHints
}

func (t *hintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err == nil {
		if d := parseRetryAfter(res.Header.Get("Retry-After")); d > 0 {
			t.hints.mu.Lock()
			t.hints.after[req.URL.String()] = d
			t.hints.mu.Unlock()
		}
	}
	return res, err
}

// instrument copies hc (never mutating the caller's client), adds a per-request timeout when
// it has none, and records Retry-After headers.
func instrument(hc *http.Client) (*http.Client, *retryHints) {
	var c http.Client
	if hc != nil {
		c = *hc
	}
	if c.Timeout == 0 {
		c.Timeout = requestTimeout
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hints := &retryHints{after: make(map[string]time.Duration)}
	c.Transport = &hintTransport{next: next, hints: hints}
	return &c, hints
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unparsable.
// maxRetryAfterSeconds caps a Retry-After at 30 days.
const maxRetryAfterSeconds = 30 * 24 * 3600

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		// Capped before multiplying: a huge value would overflow into a
		// short or negative wait and turn into a fast retry.
		return time.Duration(min(max(s, 0), maxRetryAfterSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
