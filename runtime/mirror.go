package runtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// MapMirror keeps a challenge map on every instance of a fleet holding the
// tokens it is told of as they come and go, such as every pending HTTP-01
// token of a cluster, which arrive as events from other nodes rather than
// as calls from this node's own orders (for those, MapSolver is enough).
//
// Set and Delete never block. Each instance has a goroutine of its own that
// applies the latest wish for each token and retries what failed, with
// backoff, until a later wish replaces it; so a slow or dead HAProxy delays
// only itself, and an entry whose add failed does not stay missing. An
// invalid token or a map HAProxy has not loaded is not retried.
type MapMirror struct {
	mapFile string
	log     *slog.Logger
	lanes   []*mirrorLane
	retry   time.Duration // the first wait after a failure, doubled up to 32 times it
}

// mapWriter is what a MapMirror needs of one HAProxy; *Client has it.
type mapWriter interface {
	Name() string
	AddMapEntry(ctx context.Context, mapFile, key, value string) error
	DelMapEntry(ctx context.Context, mapFile, key string) error
}

// mirrorLane is one instance's share of a MapMirror: the wishes it has not
// yet carried out, and a signal that there are some.
type mirrorLane struct {
	w    mapWriter
	mu   sync.Mutex
	todo map[string]wish // token -> the latest wish not yet carried out
	wake chan struct{}   // capacity 1
}

// wish is what the map should hold for one token: keyAuth, or nothing.
type wish struct {
	keyAuth string
	present bool
}

// mirrorRetry is a MapMirror's first wait after a failure.
const mirrorRetry = time.Second

// NewMapMirror returns a MapMirror of mapFile, the map exactly as
// haproxy.cfg names it, on every instance of f. It does nothing until Run.
func NewMapMirror(f Fleet, mapFile string, log *slog.Logger) *MapMirror {
	ws := make([]mapWriter, len(f))
	for i, c := range f {
		ws[i] = c
	}
	return newMapMirror(ws, mapFile, log, mirrorRetry)
}

func newMapMirror(ws []mapWriter, mapFile string, log *slog.Logger, retry time.Duration) *MapMirror {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MapMirror{mapFile: mapFile, log: log, retry: retry}
	for _, w := range ws {
		m.lanes = append(m.lanes, &mirrorLane{w: w, todo: map[string]wish{}, wake: make(chan struct{}, 1)})
	}
	return m
}

// Set makes every instance's map answer token with keyAuth.
func (m *MapMirror) Set(token, keyAuth string) { m.wish(token, wish{keyAuth, true}) }

// Delete takes token out of every instance's map.
func (m *MapMirror) Delete(token string) { m.wish(token, wish{}) }

func (m *MapMirror) wish(token string, w wish) {
	for _, l := range m.lanes {
		l.put(token, w, true)
		l.signal()
	}
}

// signal wakes the lane's goroutine, or leaves it a wake-up if it is busy.
func (l *mirrorLane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// put records w for token, unless only a retry asks for it (newer is
// false) and a newer wish came in meanwhile.
func (l *mirrorLane) put(token string, w wish, newer bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, has := l.todo[token]; newer || !has {
		l.todo[token] = w
	}
}

// Run applies the wishes until ctx ends.
func (m *MapMirror) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range m.lanes {
		wg.Go(func() { m.follow(ctx, l) })
	}
	wg.Wait()
}

// follow is one instance's loop: wait for wishes, carry them out, and after
// a failure wait before trying again.
func (m *MapMirror) follow(ctx context.Context, l *mirrorLane) {
	log := m.log.With("haproxy", l.w.Name(), "map", m.mapFile)
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		switch err := m.apply(ctx, l); {
		case err == nil && backoff > 0:
			log.Info("challenge map entries are up to date again")
			backoff = 0
		case err != nil && ctx.Err() == nil:
			backoff = min(max(2*backoff, m.retry), 32*m.retry)
			log.Warn("challenge map entries not up to date; retrying", "in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				return
			}
			l.signal()
		}
	}
}

// apply carries out every wish of l once. Those that fail for a reason that
// may pass are put back, unless a newer wish for the token came in.
func (m *MapMirror) apply(ctx context.Context, l *mirrorLane) error {
	l.mu.Lock()
	todo := l.todo
	l.todo = map[string]wish{}
	l.mu.Unlock()
	var errs []error
	for token, w := range todo {
		var err error
		if w.present {
			err = l.w.AddMapEntry(ctx, m.mapFile, token, w.keyAuth)
		} else {
			err = l.w.DelMapEntry(ctx, m.mapFile, token)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidName) || errors.Is(err, ErrNotLoaded):
			m.log.Warn("challenge map entry refused; not retrying", "haproxy", l.w.Name(), "token", token, "err", err)
		default:
			l.put(token, w, false)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

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
