package daemon

import (
	"context"
	"errors"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// queueSize bounds the queue; a pass that finds it full leaves the rest for
// the pass that the next finished action asks for.
const queueSize = 1024

type job struct {
	cert   configs.Certificate
	action Action
	reason string
	forced bool
}

// pass runs one reconcile and returns when the next one is due.
func (d *Daemon) pass(ctx context.Context) time.Time {
	now := d.opt.Now()
	next := now.Add(d.opt.Verify)
	d.mu.Lock()
	desired := d.desired
	d.mu.Unlock()
	if desired == nil {
		return next
	}
	d.mu.Lock()
	start := d.seq
	d.mu.Unlock()
	recs, err := d.records()
	if err != nil {
		d.log.Error("reconcile: read store", "err", err)
		return now.Add(5 * time.Second)
	}
	srv := d.served(ctx)
	want := map[string]bool{}
	for _, c := range desired.Certificates {
		want[c.Name] = true
		dec := decide(c, d.withARIDue(recs[c.Name]), srv, now)
		d.note(c, recs[c.Name], dec, srv)
		d.enqueue(c, dec, start)
		next = earliest(next, dec.Wake)
	}
	d.sweep(ctx, recs, want, srv, now, start)
	d.opt.Metrics.PassDone(d.opt.Now())
	d.mu.Lock()
	d.passOK = d.opt.Now()
	d.mu.Unlock()
	return next
}

// records are shared with the memo: a pass only reads them.
func (d *Daemon) records() (map[string]*store.Record, error) {
	return d.memo.snapshot()
}

// served asks every HAProxy what it serves. An instance that does not answer
// is left out of this pass (nil) and reported as down.
func (d *Daemon) served(ctx context.Context) served {
	// Asked in parallel: a hung instance costs the pass one deadline, not
	// one deadline per instance before it.
	results := make([]map[string]*big.Int, len(d.opt.Loaders))
	var wg sync.WaitGroup
	for i, l := range d.opt.Loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			loaded, err := l.Loaded(cctx)
			d.setLB(l.Name(), err)
			if err != nil {
				d.log.Warn("haproxy does not answer", "haproxy", l.Name(), "err", err)
				return
			}
			results[i] = loaded
		}()
	}
	wg.Wait()
	out := served{}
	for i, l := range d.opt.Loaders {
		out[l.Name()] = results[i]
	}
	return out
}

// enqueue queues a decision unless the certificate has an action running,
// or one finished after this pass (started at seq start) read the store:
// the decision may then be stale, and could order a certificate twice. The
// finished action asked for another pass, which decides afresh.
func (d *Daemon) enqueue(c configs.Certificate, dec Decision, start uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished[c.Name] > start {
		return
	}
	forced := d.forced[c.Name]
	if forced && (dec.Action == None || dec.Action == Push || dec.Action == Refresh) {
		dec = Decision{Action: Renew, Reason: "renewal asked for by an operator"}
	}
	if dec.Action == None || d.inflight[c.Name] {
		return
	}
	select {
	case d.jobs <- job{cert: c, action: dec.Action, reason: dec.Reason, forced: forced}:
		d.inflight[c.Name] = true
		delete(d.forced, c.Name)
		if dec.Action == Refresh || dec.Action == Issue || dec.Action == Renew {
			delete(d.ariDue, c.Name)
		}
	default:
	}
}

// sweep takes out of every HAProxy what left the domains file, and forgets
// removed certificates once they have been gone for the retention period.
func (d *Daemon) sweep(ctx context.Context, recs map[string]*store.Record, want map[string]bool, srv served, now time.Time, start uint64) {
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := recs[n]
		if want[n] {
			continue
		}
		switch {
		case r.RemovedAt.IsZero() || stillServed(n, srv):
			d.enqueue(configs.Certificate{Name: n}, Decision{Action: Remove, Reason: "no longer in the domains file"}, start)
		case now.Sub(r.RemovedAt) > d.opt.Retain:
			if err := d.opt.Store.Delete(n); err != nil && !errors.Is(err, store.ErrNotFound) {
				d.log.Error("forget removed certificate", "cert", n, "err", err)
				continue
			}
			d.log.Info("forgot removed certificate", "cert", n, "removed_at", r.RemovedAt)
		}
		d.forget(n)
	}
}

func stillServed(name string, srv served) bool {
	for _, loaded := range srv {
		for _, sn := range storesOf(name) {
			if _, ok := loaded[sn]; ok {
				return true
			}
		}
	}
	return false
}

// withARIDue returns the record as the pass should see it: when an operator
// asked for renewal information (SIGHUP), the stored Retry-After is ignored.
func (d *Daemon) withARIDue(r *store.Record) *store.Record {
	if r == nil {
		return nil
	}
	d.mu.Lock()
	due := d.ariDue[r.Name]
	d.mu.Unlock()
	if !due {
		return r
	}
	c := r.Clone()
	c.ARICheckAt = time.Time{}
	return c
}
