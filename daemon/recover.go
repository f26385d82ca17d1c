package daemon

import (
	"context"
	"sort"
	"time"

	"github.com/hotcert/hotcert/store"
)

// freeInterrupted is how many interrupted orders in a row are retried at
// once; after that a crash loop backs off, so that it cannot hammer the CA.
const freeInterrupted = 2

// interruptedBase starts the backoff of interrupted orders. It is shorter
// than a failure's: an interruption says nothing against the CA or the
// definition, only that hotcert restarts, and a few restarts in a row (a
// deploy, an operator's retries) should cost seconds, not minutes. Doubling
// still bounds a crash loop to a dozen orders an hour at most.
const interruptedBase = 10 * time.Second

// interruptedBackoff is the wait after the n-th interrupted order beyond
// the free ones (n >= 1).
func interruptedBackoff(n int) time.Duration {
	wait := interruptedBase
	for i := 1; i < n && wait < orderBackoff(n); i++ {
		wait *= 2
	}
	return min(wait, orderBackoff(n))
}

// interrupted turns an order that never ended into a failed attempt: the
// first ones are retried at once, a crash loop backs off.
func (d *Daemon) interrupted(r *store.Record, now time.Time, why string) {
	r.Ordering = false
	r.Attempts++
	r.LastError = why
	r.NextAttempt = now
	if r.Attempts > freeInterrupted {
		r.NextAttempt = now.Add(interruptedBackoff(r.Attempts - freeInterrupted))
	}
}

// recoverState runs once at start-up, before the first pass: it turns orders
// that a crash interrupted into failed attempts, and aborts certificate
// transactions that a crashed hotcert left open in HAProxy.
func (d *Daemon) recoverState(ctx context.Context) {
	recs, err := d.memo.snapshot()
	if err != nil {
		d.log.Error("start-up: read store", "err", err)
		return
	}
	var names []string
	for n, r := range recs {
		// In a cluster another node may be ordering it now; the claim
		// tells, and claimFor counts the interruption.
		if r.Ordering && d.opt.Cluster == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	now := d.opt.Now()
	for _, n := range names {
		var after store.Record
		err := d.memo.update(n, func(r *store.Record) {
			d.interrupted(r, now, "order interrupted by a restart of hotcert")
			after = *r
		})
		if err != nil {
			d.log.Error("start-up: save interrupted order", "cert", n, "err", err)
		}
		d.log.Warn("order was interrupted", "cert", n, "attempts", after.Attempts, "next_attempt", after.NextAttempt)
	}
	for _, l := range d.opt.HAProxies {
		a, ok := l.(transactionAborter)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := a.AbortForeign(cctx); err != nil {
			d.log.Warn("start-up: open certificate transaction", "haproxy", l.Name(), "err", err)
		}
		cancel()
	}
}
