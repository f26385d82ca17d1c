package cluster

import (
	"fmt"
	"sync"
	"time"

	"github.com/hotcert/hotcert/store"
)

// unknown is the revision of a record this node has not read from etcd yet.
const unknown = -1

// entry is what this node knows of one certificate.
type entry struct {
	// rev is the record's version as last read or written (see
	// snapshot.version), or unknown.
	rev int64
	// present: etcd held the record at rev, and etcd is its digest.
	present bool
	etcd    digest
	// local is the digest of the local copy's shared part (empty: none).
	// Reads keep it equal to etcd's; Delete drops it alone when other
	// nodes still want the record.
	local digest
	// removed is the local copy's RemovedAt, a field of this node alone.
	removed time.Time
	// served is the shared part of what the caller (the daemon) was last
	// given or wrote; empty: nothing, or "not found". A plain Put from a
	// caller whose copy is older than etcd's would undo another node's
	// work, so it is refused (see stale).
	served digest
}

// stale reports whether the caller's copy is behind the record etcd holds.
func (e entry) stale() bool {
	return e.present && e.rev != unknown && !e.served.equal(e.etcd)
}

// base is what a write compares and builds on: etcd's mod revision of the
// state key (0: no record, unknown: not read yet) and its digest.
func (e entry) base() (int64, digest) {
	switch {
	case e.rev == unknown:
		return unknown, digest{}
	case !e.present:
		return 0, digest{}
	}
	return e.rev, e.etcd
}

// holds reports whether d is what this node holds already, locally or in
// etcd: a write of d changes nothing shared. An unknown etcd record counts
// as the local copy, so that a write of per-node fields alone never needs
// etcd, and a stale copy never overwrites a newer record by itself.
func (e entry) holds(d digest) bool {
	return d.equal(e.local) || (e.present && e.rev != unknown && d.equal(e.etcd))
}

// book holds an entry per certificate and a lock per certificate. The lock
// is held across a write to etcd and the update of the entry, so that the
// watch, which takes it too, never mistakes this node's own write for
// another node's.
type book struct {
	mu      sync.Mutex
	entries map[string]entry
	locks   sync.Map // name → *sync.Mutex; names are few and live long
}

// loadBook starts from the local copy; nothing is known of etcd yet.
func loadBook(local *store.File) (*book, error) {
	recs, err := local.List()
	if err != nil {
		return nil, fmt.Errorf("open cluster: local copy: %w", err)
	}
	b := &book{entries: make(map[string]entry, len(recs))}
	for _, r := range recs {
		d := digestRecord(r)
		b.entries[r.Name] = entry{rev: unknown, local: d, removed: r.RemovedAt}
	}
	return b, nil
}

// lock takes name's lock and returns its release.
func (b *book) lock(name string) func() {
	m, _ := b.locks.LoadOrStore(name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (b *book) get(name string) entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[name]; ok {
		return e
	}
	return entry{rev: unknown}
}

func (b *book) set(name string, e entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries[name] = e
}

// serve records what the caller was given for name (nil: not found).
func (b *book) serve(name string, r *store.Record) {
	var d digest
	if r != nil {
		d = digestRecord(r)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[name]
	if !ok {
		e.rev = unknown
	}
	e.served = d
	b.entries[name] = e
}

func (b *book) names() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.entries))
	for n := range b.entries {
		out = append(out, n)
	}
	return out
}
