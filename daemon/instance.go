package daemon

import (
	"context"
	"math/big"
	"math/rand/v2"
	"time"
)

// haproxyState is what the daemon knows of one HAProxy instance's health. An
// instance that does not answer is not asked again before its backoff ends;
// one that refuses certificate changes (another writer's transaction) gets
// one probing push when its backoff ends, not one push per certificate.
type haproxyState struct {
	err     error // nil when it answered last
	seen    time.Time
	fault   *fault
	refuses bool // the fault is refusing pushes, not failing to answer
	probing bool
}

// asking reports whether the pass should ask this instance what it serves.
// A refusing instance is asked only when a probe may go out: while it is
// held, the pass sees it as absent, so nothing is decided for it.
func (st *haproxyState) asking(now time.Time) bool {
	return st.fault == nil || !st.probing && !now.Before(st.fault.until)
}

// served asks every HAProxy that is not held back what it serves of the
// stores names (nil: of every store), in parallel, and returns when a held
// one is due again. An instance that answers has a map, empty or not; one
// that does not, or is held back, has none.
func (d *Daemon) served(ctx context.Context, now time.Time, names []string) (served, time.Time) {
	return d.ask(ctx, now, names, d.answered)
}

// ask is served's work; record, when not nil, takes each instance's
// outcome (Plan asks without changing what the loop knows).
func (d *Daemon) ask(ctx context.Context, now time.Time, names []string, record func(name string, err error)) (served, time.Time) {
	results := make([]map[string]*big.Int, len(d.opt.HAProxies))
	var wake time.Time
	ask := make([]bool, len(d.opt.HAProxies))
	d.mu.Lock()
	for i, h := range d.opt.HAProxies {
		st := d.haproxies[h.Name()]
		ask[i] = st.asking(now)
		if st.fault != nil && st.fault.until.After(now) {
			wake = earliest(wake, st.fault.until)
		}
	}
	d.mu.Unlock()
	d.eachHAProxy(func(i int, h HAProxy) error {
		if !ask[i] {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, pushTimeout)
		defer cancel()
		loaded, err := loadedSome(cctx, h, names)
		if ctx.Err() == nil {
			if record != nil {
				record(h.Name(), err)
			}
			results[i] = loaded
		}
		return err
	})
	out := served{}
	for i, l := range d.opt.HAProxies {
		out[l.Name()] = results[i]
	}
	return out, wake
}

// answered records the outcome of asking an instance what it serves.
func (d *Daemon) answered(name string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, now := d.haproxies[name], d.opt.Now()
	d.opt.Metrics.HAProxyUp(name, err == nil)
	if err != nil {
		st.refuses = false
		d.lbFailedLocked(name, st, err, "haproxy does not answer", now)
		return
	}
	st.seen = now
	if st.fault != nil && !st.refuses {
		d.lbClearedLocked(name, st, "haproxy answers again", now)
	}
}

// pushable reports whether a push to an instance may go out now, and
// whether it is the one probe of an instance that refused.
func (d *Daemon) pushable(name string) (ok, probe bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.haproxies[name]
	switch {
	case st.fault == nil:
		return true, false
	case !st.refuses || st.probing || d.opt.Now().Before(st.fault.until):
		return false, false
	}
	st.probing = true
	return true, true
}

// pushed records the outcome of pushes to an instance. sent is false when
// nothing needed sending, which proves nothing about a refusing instance.
func (d *Daemon) pushed(name string, err error, probe, sent bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, now := d.haproxies[name], d.opt.Now()
	if probe {
		st.probing = false
	}
	switch {
	case err != nil && isInstanceWide(err):
		st.refuses = true
		d.lbFailedLocked(name, st, err, "haproxy refuses certificate changes", now)
	case err == nil && probe && sent && st.fault != nil:
		d.lbClearedLocked(name, st, "haproxy accepts certificate changes again", now)
	}
}

func (d *Daemon) lbFailedLocked(name string, st *haproxyState, err error, what string, now time.Time) {
	st.err = err
	if st.fault == nil {
		st.fault = &fault{}
	}
	if st.fault.failed(err, now, lbFaultCap, rand.Float64()) {
		logFault(d.log.With("haproxy", name), what, st.fault, err, now)
	}
}

// lbClearedLocked ends an instance's fault. Certificates held back while it
// failed are let go at once: their failures were the instance's.
func (d *Daemon) lbClearedLocked(name string, st *haproxyState, what string, now time.Time) {
	logCleared(d.log.With("haproxy", name), what, st.fault, now)
	st.fault, st.err, st.refuses = nil, nil, false
	clear(d.holds)
	d.markFullLocked()
	d.kickLocked()
}

// down reports whether an instance is known not to answer.
func (d *Daemon) down(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.haproxies[name]
	return st.fault != nil && !st.refuses
}
