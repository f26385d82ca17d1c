package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// health is whether etcd answers and whether this node has a session. It
// logs a line when that changes, never at each attempt: an etcd outage can
// last for hours.
type health struct {
	log *slog.Logger

	mu      sync.Mutex
	lease   clientv3.LeaseID // 0: no session
	down    error            // why etcd is taken as unreachable; nil while it answers
	refused error            // why the last session could not start, when etcd answered
	state   string
	since   time.Time
}

func newHealth(log *slog.Logger) *health {
	return &health{log: log, state: "starting", since: time.Now()}
}

// sessionUp records a new session, which etcd has just granted.
func (h *health) sessionUp(lease clientv3.LeaseID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lease, h.down, h.refused = lease, nil, nil
	h.update()
}

// sessionLost records that the session's lease ended, or could not start.
func (h *health) sessionLost(why error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lease = 0
	if why != nil && !unreachable(why) {
		h.refused = why
	}
	h.update()
}

// answered records an etcd call that succeeded.
func (h *health) answered() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		h.down = nil
		h.update()
	}
}

// failed records an etcd call that failed. Only failures that say etcd is
// out of reach count; a refusal (permission denied, a request too large)
// is the caller's to report.
func (h *health) failed(err error) {
	if !unreachable(err) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = err
	h.update()
}

// reachable is false from the first call that found etcd out of reach
// until one that reached it. Reads then use the local copy at once rather
// than wait for a call to time out.
func (h *health) reachable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down == nil
}

func (h *health) ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.down != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, h.down)
	case h.lease == 0 && h.refused != nil:
		return fmt.Errorf("%w: no session: %v", ErrUnavailable, h.refused)
	case h.lease == 0:
		return fmt.Errorf("%w: no session yet", ErrUnavailable)
	}
	return nil
}

// update logs the state if it changed. Called with mu held.
func (h *health) update() {
	state := "ready"
	switch {
	case h.down != nil && h.lease != 0:
		state = "unreachable"
	case h.down != nil:
		state = "unreachable, no session"
	case h.lease == 0:
		state = "no session"
	}
	if state == h.state {
		return
	}
	was, lasted := h.state, time.Since(h.since).Round(time.Millisecond)
	h.state, h.since = state, time.Now()
	switch state {
	case "ready":
		h.log.Info("etcd ready", "lease", fmt.Sprintf("%x", int64(h.lease)), "was", was, "for", lasted)
	case "unreachable":
		h.log.Warn("etcd unreachable; claims hold until the session's lease expires", "err", h.down)
	case "unreachable, no session":
		h.log.Warn("etcd unreachable and no session: this node orders nothing", "err", h.down, "was", was)
	case "no session":
		if was == "starting" {
			h.log.Warn("etcd answers but grants no session", "err", h.refused)
			break
		}
		h.log.Warn("etcd session lost", "err", h.refused, "was", was, "for", lasted)
	}
}

// unreachable tells errors that mean etcd is out of reach (a deadline, no
// connection, no leader) from refusals it sent.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNoKeepalive) {
		return true
	}
	var ee rpctypes.EtcdError
	code := status.Code(err)
	if errors.As(err, &ee) {
		code = ee.Code()
	}
	return code == codes.Unavailable || code == codes.DeadlineExceeded
}

var (
	errNoKeepalive = errors.New("etcd has not answered the session's keepalives")
	errLeaseEnded  = errors.New("the session's lease ended (expired or revoked)")
)

// backoff is a doubling wait with jitter, so that nodes that lost etcd
// together do not come back in step.
type backoff struct{ min, max, next time.Duration }

func newBackoff() *backoff { return &backoff{min: 200 * time.Millisecond, max: 5 * time.Second} }

func (b *backoff) wait() time.Duration {
	d := max(b.next, b.min)
	b.next = min(2*d, b.max)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.next = 0 }

// sleep waits d or until ctx ends, and reports whether ctx still runs.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
