package daemon

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hotcert/hotcert/store"
)

// caFaultCap bounds how long a CA that does not answer goes unasked. Asking
// is one GET of its directory, no order, so a CA that comes back is noticed
// within half a minute.
const caFaultCap = 30 * time.Second

// probeLimit is how long a probe certificate may take to be ordered before
// another probe goes out.
const probeLimit = 10 * time.Minute

// caState is the CA's health as the daemon's orders see it. An order that
// fails because the CA is down or failing (issuer.IsUnavailable) waits on
// its own persisted backoff, which after a long outage reaches hours. When
// the CA answers its directory again, one such certificate is let go at
// once as a probe; when its order succeeds, every other one is let go too.
// A CA whose directory answers while its orders still fail therefore costs
// one order attempt per probe, and the probes back off like orders do.
type caState struct {
	fault   *fault
	probing bool   // a Ping is running
	probe   string // the certificate let go as a probe, "" when none
	probeAt time.Time
	misses  int // probes whose orders failed in a row
	// pinged is the last Ping's error: orders' errors name their
	// certificate and attempt, so only a Ping's says the fault changed.
	pinged string
}

// caFailedLocked records an order that failed because of the CA.
func (d *Daemon) caFailedLocked(name string, err error, now time.Time) {
	ca := &d.ca
	if ca.fault == nil {
		ca.fault = &fault{}
	}
	if name != "" && name == ca.probe {
		ca.probe = ""
		ca.misses++
	}
	ca.fault.failed(err, now, caFaultCap, rand.Float64())
	ping := name == ""
	if ca.fault.count == 1 || ping && ca.pinged != "" && err.Error() != ca.pinged {
		logFault(d.log, "the CA does not answer", ca.fault, err, now)
	}
	if ping {
		ca.pinged = err.Error()
	}
	// A probe whose order failed waits like an order: the directory
	// answering proves little while orders keep failing.
	if ca.misses > 0 {
		ca.fault.until = later(ca.fault.until, now.Add(orderBackoff(ca.misses)))
	}
	d.wake = earliest(d.wake, ca.fault.until)
}

// caOrderedLocked records an order the CA completed: the CA is back.
func (d *Daemon) caOrderedLocked(now time.Time) {
	ca := &d.ca
	if ca.fault == nil {
		return
	}
	logCleared(d.log, "the CA answers again", ca.fault, now)
	*ca = caState{}
	d.markFullLocked()
	go d.releaseCAHeld(now)
}

// probeCA asks the CA whether it answers, once its backoff has ended.
func (d *Daemon) probeCA(ctx context.Context, now time.Time) time.Time {
	d.mu.Lock()
	ca := &d.ca
	if ca.probe != "" && now.Sub(ca.probeAt) > probeLimit {
		ca.probe = "" // its order never ran (the certificate left the file, say)
	}
	if ca.fault == nil || ca.probing || ca.probe != "" || now.Before(ca.fault.until) {
		var wake time.Time
		if ca.fault != nil && ca.probe == "" {
			wake = ca.fault.until
		}
		d.mu.Unlock()
		return wake
	}
	ca.probing = true
	d.mu.Unlock()
	go func() {
		err := d.opt.Issuer.Ping(ctx)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		ca.probing = false
		if err != nil {
			d.caFailedLocked("", err, d.opt.Now())
			d.rearmLocked()
			return
		}
		ca.probe, ca.probeAt = d.releaseOneLocked(), d.opt.Now()
		if ca.probe == "" {
			d.caOrderedLocked(d.opt.Now()) // nothing waits on the CA
		}
		d.kickLocked()
	}()
	return time.Time{}
}

// releaseOneLocked lets the certificate that has waited longest on the CA
// be ordered now, and names it.
func (d *Daemon) releaseOneLocked() string {
	recs, err := d.memo.snapshot()
	if err != nil {
		return ""
	}
	var oldest *store.Record
	now := d.opt.Now()
	for _, r := range recs {
		if r.CAUnavailable && r.NextAttempt.After(now) && (oldest == nil || r.LastAttempt.Before(oldest.LastAttempt)) {
			oldest = r
		}
	}
	if oldest == nil {
		return ""
	}
	d.release(oldest.Name, now)
	return oldest.Name
}

// releaseCAHeld lets every certificate that waits on the CA be ordered.
func (d *Daemon) releaseCAHeld(now time.Time) {
	recs, err := d.memo.snapshot()
	if err != nil {
		return
	}
	for _, r := range recs {
		if r.CAUnavailable && r.NextAttempt.After(now) {
			d.release(r.Name, now)
		}
	}
	d.Kick()
}

func (d *Daemon) release(name string, now time.Time) {
	err := d.memo.update(name, func(r *store.Record) { r.NextAttempt = now })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("let an order go after the CA came back", "cert", name, "err", err)
	}
}

func (d *Daemon) rearmLocked() {
	select {
	case d.rearm <- struct{}{}:
	default:
	}
}
