package daemon

import (
	"slices"
	"time"

	"github.com/hotcert/hotcert/configs"
)

// A pass decides only for what can have changed since the last one. A full
// pass looks at every certificate: at start-up, when something every
// certificate depends on changed (what an HAProxy serves other than through
// this daemon, an instance's health, the cluster's store, the CA, holds
// cleared, an operator's SIGHUP or confirmation), and every fullEvery in
// case anything was missed. Any other pass decides only the certificates
// made dirty since the last one (an edit, a finished action, a record
// written, an operator's request) and those whose timer is due: every
// decision's Wake is kept in the timers.

// fullEvery bounds how long anything an incremental pass missed can go
// unseen.
const fullEvery = 10 * time.Minute

// epochs is an HAProxy that says when what it serves may have changed other
// than through its own Push and Remove (a restart, a drift a check found).
// A pass that sees an instance's epoch move, or an instance without one,
// looks at every certificate.
type epochs interface{ Epoch() uint64 }

// instanceView is what a pass saw of one instance, to tell whether it moved.
type instanceView struct {
	answered bool
	epoch    uint64
}

// changes is what the loop gathers between passes, under Daemon.mu.
type changes struct {
	dirty    map[string]bool
	left     map[string]bool // names that left the desired set
	edited   bool            // the desired set changed
	full     bool
	lastFull time.Time
	views    map[string]instanceView
	shared   string // the cluster's readiness error seen last, "" when ready
	timers   timers
	// decided counts the certificates the last pass decided for, which
	// tests read to prove a pass looked only at what changed.
	decided int
}

func newChanges() changes {
	return changes{dirty: map[string]bool{}, left: map[string]bool{}, views: map[string]instanceView{}, timers: newTimers()}
}

// work is what one pass looks at.
type work struct {
	full    bool
	desired *configs.Domains // the set in force when the work was taken
	names   []string         // for an incremental pass: dirty and due, desired or not
	left    []string
	edited  bool
	// start is the count of finished actions when the pass took its work:
	// one that finishes later marks its certificate dirty for the next pass
	// (see enqueue).
	start uint64
}

func (d *Daemon) markDirtyLocked(name string) { d.changes.dirty[name] = true }

func (d *Daemon) markFullLocked() { d.changes.full = true }

// viewInstances is what this pass saw of each instance; blind reports an
// instance that answered but cannot tell what changed (it has no Epoch).
func (d *Daemon) viewInstances(srv served) (views map[string]instanceView, blind bool) {
	views = make(map[string]instanceView, len(d.opt.HAProxies))
	for _, h := range d.opt.HAProxies {
		v := instanceView{answered: srv[h.Name()] != nil}
		if e, ok := h.(epochs); ok {
			v.epoch = e.Epoch()
		} else if v.answered {
			blind = true
		}
		views[h.Name()] = v
	}
	return views, blind
}

// peekWork foretells the pass's work, before it asks HAProxy what it
// serves, so that it can ask only for what it will look at: the stores of
// the certificates an incremental pass decides for, or, when everything is
// to be looked at (a full pass, a sweep of removals), every store. An
// instance's Epoch that moves, or a change that lands between the peek and
// takeWork, only makes the pass ask again.
func (d *Daemon) peekWork(shared error, now time.Time) (names []string, everything bool) {
	written, all := d.memo.peekChanged()
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := &d.changes
	if d.fullDueLocked(all, shared, now) || len(ch.left) > 0 || d.removalsPendingLocked(ch.edited) || d.viewsMayMoveLocked(now) {
		return nil, true
	}
	names = ch.timers.peekDue(now, written)
	for n := range ch.dirty {
		names = append(names, n)
	}
	for _, n := range names {
		if _, ok := d.index[n]; !ok {
			return nil, true // a record of a certificate not desired: a sweep
		}
	}
	return names, false
}

// fullDueLocked reports what makes a pass full, but for instances that
// moved: a full pass asked for, the whole store read (all), the cluster's
// readiness changed, or the safety period passed.
func (d *Daemon) fullDueLocked(all bool, shared error, now time.Time) bool {
	ch := &d.changes
	return ch.full || all || sharedWhy(shared) != ch.shared || ch.lastFull.IsZero() ||
		now.Sub(ch.lastFull) >= fullEvery || now.Before(ch.lastFull)
}

func sharedWhy(shared error) string {
	if shared == nil {
		return ""
	}
	return shared.Error()
}

// viewsMayMoveLocked foretells viewInstances: an instance that will be
// asked now and was not last time (a held one's probe), or the reverse,
// or whose Epoch moved since.
func (d *Daemon) viewsMayMoveLocked(now time.Time) bool {
	for _, h := range d.opt.HAProxies {
		v := d.changes.views[h.Name()]
		if d.haproxies[h.Name()].asking(now) != v.answered {
			return true
		}
		if e, ok := h.(epochs); ok && e.Epoch() != v.epoch {
			return true
		}
	}
	return false
}

// takeWork decides whether this pass is full and empties what was gathered.
func (d *Daemon) takeWork(srv served, shared error, now time.Time) work {
	views, moved := d.viewInstances(srv)
	written, all := d.memo.takeChanged()
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := &d.changes
	for n, v := range views {
		if ch.views[n] != v {
			moved = true
		}
	}
	full := moved || d.fullDueLocked(all, shared, now)
	ch.views, ch.shared = views, sharedWhy(shared)
	w := work{full: full, desired: d.desired, edited: ch.edited, start: d.seq}
	ch.edited = false
	for n := range ch.left {
		w.left = append(w.left, n)
	}
	ch.left = map[string]bool{} // not clear: a map keeps its size, and ranging over it costs that
	if full {
		ch.full, ch.lastFull = false, now
		ch.dirty = map[string]bool{}
		ch.timers.due(now, nil)
		return w
	}
	for _, n := range written {
		ch.dirty[n] = true
	}
	for _, n := range ch.timers.due(now, nil) {
		ch.dirty[n] = true
	}
	for n := range ch.dirty {
		w.names = append(w.names, n)
	}
	ch.dirty = map[string]bool{}
	return w
}

// diffDesiredLocked marks what an edit of the desired set changed: added
// and changed certificates are dirty, and removed ones have left. It
// updates the index in place: the catalog keeps most certificates at the
// same position from one set to the next, so an edit costs one comparison
// per certificate and a map write per one that moved. A set that extends
// the last one in the same memory (the catalog appends a new certificate
// to the set it handed over, whose entries nobody writes to) costs only
// its new entries: at 100,000 certificates the comparisons were most of
// what an admin API PUT added to the pass.
func (d *Daemon) diffDesiredLocked(doms *configs.Domains) {
	var old []configs.Certificate
	if d.desired != nil {
		old = d.desired.Certificates
	}
	start := 0
	if len(old) > 0 && len(doms.Certificates) >= len(old) && &old[0] == &doms.Certificates[0] {
		start = len(old)
	}
	kept := start
	for i := start; i < len(doms.Certificates); i++ {
		c := doms.Certificates[i]
		j, ok := i, i < len(old) && old[i].Name == c.Name
		if !ok {
			j, ok = d.index[c.Name]
			d.index[c.Name] = i
		}
		if ok {
			kept++
		}
		if !ok || !sameCertificate(old[j], c) {
			d.markDirtyLocked(c.Name)
			delete(d.changes.left, c.Name)
			d.changes.edited = true
		}
	}
	if kept == len(old) {
		return // names are unique: every old one is still there
	}
	for n, j := range d.index {
		if j >= len(doms.Certificates) || doms.Certificates[j].Name != n {
			delete(d.index, n)
			d.changes.left[n] = true
			d.changes.timers.drop(n)
			d.changes.edited = true
		}
	}
}

func sameCertificate(a, b configs.Certificate) bool {
	return a.Name == b.Name && a.KeyFile == b.KeyFile && a.Challenge == b.Challenge && a.DNSProvider == b.DNSProvider &&
		slices.Equal(a.Domains, b.Domains) && slices.Equal(a.KeyTypes, b.KeyTypes)
}
