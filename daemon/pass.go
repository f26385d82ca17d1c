package daemon

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// queueSize bounds the queue; a pass that finds it full leaves the rest for
// the pass that the next finished action asks for.
const queueSize = 1024

type job struct {
	cert   configs.Certificate
	action action
	reason string
	forced bool
}

// pass runs one reconcile and returns when the next one is due. It decides
// for every certificate or only for what can have changed (see changes.go).
func (d *Daemon) pass(ctx context.Context) time.Time {
	now := d.opt.Now()
	next := now.Add(d.opt.Verify)
	d.mu.Lock()
	none := d.desired == nil
	d.mu.Unlock()
	if none {
		return next
	}
	if err := d.memo.load(); err != nil {
		return d.readFailed(work{}, err, now)
	}
	// An incremental pass asks each HAProxy only for the stores of the
	// certificates it decides for: what it serves of all of them is a copy
	// of 100,000 serials at that scale, made again after every push.
	shared := d.clusterReady()
	ask, everything := d.peekWork(shared, now)
	var asked []configs.Certificate
	if !everything {
		asked, _ = d.lookup(ask)
	}
	srv, wake := d.served(ctx, now, storesOf(asked, everything))
	next = earliest(next, wake, d.probeCA(ctx, now))
	w := d.takeWork(srv, shared, now)
	certs, others := d.lookup(w.names)
	if w.full {
		certs = w.desired.Certificates
	}
	sweep := shared == nil && (w.full || len(w.left) > 0 || others || d.removalsPending(w.edited))
	switch {
	case everything:
	case w.full || sweep:
		srv, _ = d.served(ctx, now, nil)
	case !covers(asked, certs):
		srv, _ = d.served(ctx, now, storeNames(certs))
	}
	decided, err := d.decideWork(w, certs, sweep, srv, shared, now)
	if err != nil {
		return d.readFailed(w, err, now)
	}
	for _, n := range d.prune(w) {
		d.forget(n)
	}
	d.opt.Metrics.PassDone(d.opt.Now())
	d.mu.Lock()
	defer d.mu.Unlock()
	d.passOK = d.opt.Now()
	d.changes.decided = decided
	return earliest(next, d.changes.timers.next())
}

// storesOf is what to ask HAProxy for: nil for every store, or the
// stores of certs (an empty list still asks whether it answers).
func storesOf(certs []configs.Certificate, everything bool) []string {
	if everything {
		return nil
	}
	return storeNames(certs)
}

// covers reports whether every certificate of certs is in asked.
func covers(asked, certs []configs.Certificate) bool {
	in := make(map[string]bool, len(asked))
	for _, c := range asked {
		in[c.Name] = true
	}
	for _, c := range certs {
		if !in[c.Name] {
			return false
		}
	}
	return true
}

// storeNames is every store name the certificates' bundles can have: what
// a decision for them looks up in what HAProxy serves.
func storeNames(certs []configs.Certificate) []string {
	out := make([]string, 0, len(certs)*(len(allKeyTypes)+1))
	for _, c := range certs {
		out = append(out, bundle.Names(c.Name)...)
	}
	return out
}

// decideWork decides for certs, w's certificates, and sweeps removals when
// something may have changed for them (sweep; never while the cluster's
// store does not answer). It returns how many it decided.
func (d *Daemon) decideWork(w work, certs []configs.Certificate, sweep bool, srv served, shared error, now time.Time) (int, error) {
	recs, err := d.recordsFor(w.full, certs)
	if err != nil {
		return 0, err
	}
	for _, c := range certs {
		d.decideFor(c, recs[c.Name], srv, shared, now, w.start)
	}
	if !sweep {
		return len(certs), nil
	}
	if !w.full {
		if recs, err = d.records(); err != nil {
			return len(certs), err
		}
	}
	desired, want := d.wantNow()
	d.sweep(desired, recs, want, srv, now, w.start)
	return len(certs), nil
}

// readFailed ends a pass that could not read the store, and gives back
// what it was to look at.
func (d *Daemon) readFailed(w work, err error, now time.Time) time.Time {
	d.log.Error("reconcile: read store", "err", err)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.markFullLocked()
	for _, n := range w.left {
		d.changes.left[n] = true
	}
	return now.Add(5 * time.Second)
}

// decideFor decides for one desired certificate, notes its status, runs its
// deployed hook when due, queues its action and sets its timer.
func (d *Daemon) decideFor(c configs.Certificate, rec *store.Record, srv served, shared error, now time.Time, start uint64) {
	dec := d.decideNow(c, rec, srv, shared, now)
	d.note(c, rec, dec, srv)
	if shared == nil {
		// The serial a hook ran for is recorded in the shared store, so
		// hooks wait while it is away.
		d.announce(c, rec, srv)
	}
	d.enqueue(c, dec, start)
	d.mu.Lock()
	d.changes.timers.set(c.Name, dec.Wake)
	if dec.Action == actIssue {
		d.issuing[c.Name] = true
	} else {
		delete(d.issuing, c.Name)
	}
	d.mu.Unlock()
}

// lookup returns the desired certificates among names, and reports names
// the desired set lacks.
func (d *Daemon) lookup(names []string) (certs []configs.Certificate, others bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range names {
		if i, ok := d.index[n]; ok {
			certs = append(certs, d.desired.Certificates[i])
		} else {
			others = true
		}
	}
	return certs, others
}

// wantNow is the desired set with a copy of its index, which SetDesired
// changes in place, for a sweep.
func (d *Daemon) wantNow() (*configs.Domains, map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.desired, maps.Clone(d.index)
}

// removalsPending reports removals that the last sweep let go or kept
// waiting for another certificate: they are judged again at every pass
// until done. Held ones wait for an operator (a full pass) or an edit of
// the desired set, which may bring them within the limit.
func (d *Daemon) removalsPending(edited bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.removalsPendingLocked(edited)
}

func (d *Daemon) removalsPendingLocked(edited bool) bool {
	for _, r := range d.removals.list {
		if edited || r.State != rmHeld.String() {
			return true
		}
	}
	return false
}

// decideNow is decide as the loop applies it: with an operator's renewal
// information request, and held back while the cluster's store is away or
// the certificate's last action failed locally.
func (d *Daemon) decideNow(c configs.Certificate, rec *store.Record, srv served, shared error, now time.Time) decision {
	dec := waitForCluster(decide(c, d.withARIDue(rec), srv, d.opt.Directory, now), shared, now)
	return d.held(c.Name, func() string { return specOf(c) }, dec, now)
}

// records are shared with the memo: a pass only reads them.
func (d *Daemon) records() (map[string]*store.Record, error) {
	return d.memo.snapshot()
}

// recordsFor are the records a pass decides from: every one for a full
// pass, else those of certs, read at once so that a cache dropped by a
// failed write meanwhile is read again rather than seen as empty.
func (d *Daemon) recordsFor(full bool, certs []configs.Certificate) (map[string]*store.Record, error) {
	if full {
		return d.records()
	}
	names := make([]string, len(certs))
	for i, c := range certs {
		names[i] = c.Name
	}
	return d.memo.some(names)
}

// enqueue queues a decision unless the certificate has an action running,
// or one finished after this pass (started at seq start) read the store:
// the decision may then be stale, and could order a certificate twice. The
// finished action asked for another pass, which decides afresh.
func (d *Daemon) enqueue(c configs.Certificate, dec decision, start uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished[c.Name] > start {
		return
	}
	if dec.Action == actNone || d.inflight[c.Name] {
		return
	}
	select {
	case d.jobs <- job{cert: c, action: dec.Action, reason: dec.Reason, forced: dec.forced}:
		d.inflight[c.Name] = true
		if dec.Action == actRefresh || dec.Action == actIssue || dec.Action == actRenew {
			delete(d.ariDue, c.Name)
		}
	default:
		d.markDirtyLocked(c.Name) // for the pass the next finished action asks for
	}
}

// sweep takes out of every HAProxy what left the domains file, as far as
// the removal policy lets it (see removal.go), and forgets removed
// certificates once they have been gone for the retention period.
func (d *Daemon) sweep(desired *configs.Domains, recs map[string]*store.Record, want map[string]int, srv served, now time.Time, start uint64) {
	for _, rm := range d.judgeRemovals(desired, recs, want, srv) {
		if rm.verdict != rmGo {
			continue
		}
		d.enqueue(configs.Certificate{Name: rm.name}, d.removeNow(rm, now), start)
	}
	for n, r := range recs {
		if _, ok := want[n]; ok {
			continue
		}
		if !r.RemovedAt.IsZero() && !stillServed(n, srv) && now.Sub(r.RemovedAt) > d.opt.Retain {
			if err := d.opt.Store.Delete(n); err != nil && !errors.Is(err, store.ErrNotFound) {
				d.log.Error("forget removed certificate", "cert", n, "err", err)
				continue
			}
			d.log.Info("forgot removed certificate", "cert", n, "removed_at", r.RemovedAt)
		}
		d.forget(n)
	}
}

// removeNow is a removal the policy let go, held back while the last
// removal of the certificate failed locally and its backoff runs.
func (d *Daemon) removeNow(rm removal, now time.Time) decision {
	return d.held(rm.name, func() string { return removedSpec }, decision{Action: actRemove, Reason: rm.reason}, now)
}

// removedSpec is the spec a removal is held under: a certificate added back
// is a new definition, whose actions are not held by its removal's failures.
const removedSpec = "(removed)"

// held turns a decision into a wait while the certificate's last action
// for the same definition failed locally and its backoff runs.
// spec is a func because a pass holds back few certificates, and building
// every spec string would be most of a no-change pass's allocations.
func (d *Daemon) held(name string, spec func() string, dec decision, now time.Time) decision {
	if dec.Action == actNone {
		return dec
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.holds[name]
	if f == nil || !f.holding(spec(), now) {
		return dec
	}
	return decision{Action: actNone, Wake: f.until,
		Reason: "retrying at " + f.until.UTC().Format(time.RFC3339) + " after " + f.err}
}

// prune forgets what the loop kept for certificates that left the domains
// file, and finished marks no pass can still be older than. It returns the
// statuses of certificates that left, which sweep does not see when they
// have no record (never issued). An incremental pass looks only at the
// names that left since the last pass.
func (d *Daemon) prune(w work) (gone []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := d.index
	for n, seq := range d.finished {
		if seq <= w.start {
			delete(d.finished, n)
		}
	}
	if !w.full {
		for _, n := range w.left {
			if _, ok := want[n]; !ok {
				gone = append(gone, d.pruneLocked(n)...)
			}
		}
		return gone
	}
	// Every wanted name has a status by now, so only a longer list has
	// names that left.
	if len(d.status) > len(want) {
		for n := range d.status {
			if _, ok := want[n]; !ok {
				gone = append(gone, n)
			}
		}
	}
	for n := range d.ariDue {
		if _, ok := want[n]; !ok {
			delete(d.ariDue, n)
		}
	}
	for n, f := range d.holds {
		if _, ok := want[n]; !ok && f.spec != removedSpec {
			delete(d.holds, n)
		}
	}
	for k := range d.announced {
		if _, ok := want[k[:strings.LastIndexByte(k, '/')]]; !ok {
			delete(d.announced, k)
		}
	}
	return gone
}

// pruneLocked forgets what the loop kept for one certificate that left.
func (d *Daemon) pruneLocked(n string) (gone []string) {
	if _, ok := d.status[n]; ok {
		gone = append(gone, n)
	}
	delete(d.ariDue, n)
	if f := d.holds[n]; f != nil && f.spec != removedSpec {
		delete(d.holds, n)
	}
	for _, kt := range allKeyTypes {
		delete(d.announced, n+"/"+string(kt))
	}
	d.changes.timers.drop(n)
	return gone
}

func stillServed(name string, srv served) bool {
	for _, loaded := range srv {
		for _, sn := range bundle.Names(name) {
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
