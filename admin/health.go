package admin

import (
	"context"
	"sync"
	"time"
)

// probeCache shares HAProxy probes among /healthz requests. /healthz needs
// no token and each probe opens a connection to every HAProxy's stats socket
// (which allows 10 by default), so a tight scrape loop must not become one
// `show info` per request: requests that arrive while a probe runs wait for
// its answer, and for ttl after a probe started its answer is reused. An
// answer is dated from the probe's start, so a socket that goes away shows
// in /healthz within ttl plus one probe.
type probeCache struct {
	probe   func(context.Context) map[string]string
	timeout time.Duration // of one probe, whoever waits for it
	ttl     time.Duration
	now     func() time.Time

	mu     sync.Mutex
	at     time.Time // start of the probe that answered down
	down   map[string]string
	fresh  bool          // down holds an answer
	flight chan struct{} // closed when the running probe ends; nil when none runs
}

// get returns the instances that did not answer the latest probe, running a
// new one unless a recent one answered. The error is ctx's, when the caller
// gave up waiting.
func (c *probeCache) get(ctx context.Context) (map[string]string, error) {
	c.mu.Lock()
	if c.fresh && c.now().Sub(c.at) < c.ttl {
		defer c.mu.Unlock()
		return c.down, nil
	}
	done := c.flight
	if done == nil {
		done = make(chan struct{})
		c.flight = done
		// Detached from this request: the requests waiting for the probe
		// must not lose it because the first one went away.
		go c.run(context.WithoutCancel(ctx), done)
	}
	c.mu.Unlock()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.down, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *probeCache) run(ctx context.Context, done chan struct{}) {
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	down := c.probe(ctx)
	c.mu.Lock()
	c.at, c.down, c.fresh, c.flight = start, down, true, nil
	c.mu.Unlock()
	close(done)
}
