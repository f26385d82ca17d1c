package issuer

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// retryHints remembers the Retry-After of the last response per URL. x/crypto's polling
// helpers hide response headers, so the transport records them for our own poll loops.
//
// Every response with a Retry-After is recorded, but only poll URLs are ever taken back;
// renewalInfo answers (one URL per certificate, with hours-long Retry-After) would otherwise
// stay forever. So a hint lives only until its wait is over, and the memory holds at most
// maxHints of them: a daemon renewing thousands of certificates keeps a bounded map.
type retryHints struct {
	mu    sync.Mutex
	now   func() time.Time
	after map[string]time.Time // url -> when its Retry-After ends
}

// maxHints bounds the memory. Polls in flight need a handful of entries per running order.
const maxHints = 256

func newRetryHints(now func() time.Time) *retryHints {
	return &retryHints{now: now, after: make(map[string]time.Time)}
}

// take returns and forgets what is left of the Retry-After last seen for url.
func (h *retryHints) take(url string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.after[url]
	if !ok {
		return 0
	}
	delete(h.after, url)
	return max(until.Sub(h.now()), 0)
}

// record remembers that url asked for a wait of d. When the memory is full it first drops
// the hints whose wait is over, then the ones ending soonest.
func (h *retryHints) record(url string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if _, ok := h.after[url]; !ok && len(h.after) >= maxHints {
		h.prune(now)
	}
	h.after[url] = now.Add(d)
}

func (h *retryHints) prune(now time.Time) {
	for u, until := range h.after {
		if !until.After(now) {
			delete(h.after, u)
		}
	}
	for len(h.after) >= maxHints {
		var soonest string
		for u, until := range h.after {
			if soonest == "" || until.Before(h.after[soonest]) {
				soonest = u
			}
		}
		delete(h.after, soonest)
	}
}

type hintTransport struct {
	next  http.RoundTripper
	hints *retryHints
}

func (t *hintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err == nil {
		if d := parseRetryAfter(res.Header.Get("Retry-After")); d > 0 {
			t.hints.record(req.URL.String(), d)
		}
	}
	return res, err
}

// instrument copies hc (never mutating the caller's client), adds a per-request timeout when
// it has none, and records Retry-After headers.
func instrument(hc *http.Client, now func() time.Time) (*http.Client, *retryHints) {
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
	hints := newRetryHints(now)
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
