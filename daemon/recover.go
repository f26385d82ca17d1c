package daemon

import (
	"context"
	"time"

	"github.com/hotcert/hotcert/issuer"
)

// freeInterrupted is how many interrupted orders in a row are retried at
// once; after that a crash loop backs off like any failure, so that it cannot
// hammer the CA.
const freeInterrupted = 2

// recoverState runs once at start-up, before the first pass: it turns orders
// that a crash interrupted into failed attempts, and aborts certificate
// transactions that a crashed hotcert left open in HAProxy.
func (d *Daemon) recoverState(ctx context.Context) {
	recs, err := d.opt.Store.List()
	if err != nil {
		d.log.Error("start-up: read store", "err", err)
		return
	}
	now := d.opt.Now()
	for _, r := range recs {
		if !r.Ordering {
			continue
		}
		r.Ordering = false
		r.Attempts++
		r.LastError = "order interrupted by a restart of hotcert"
		r.NextAttempt = now
		if r.Attempts > freeInterrupted {
			r.NextAttempt = now.Add(issuer.Backoff(r.Attempts - freeInterrupted))
		}
		if err := d.opt.Store.Put(r); err != nil {
			d.log.Error("start-up: save interrupted order", "cert", r.Name, "err", err)
		}
		d.log.Warn("order was interrupted", "cert", r.Name, "attempts", r.Attempts, "next_attempt", r.NextAttempt)
	}
	for _, l := range d.opt.Loaders {
		a, ok := l.(interface{ AbortForeign(context.Context) error })
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
