package daemon

import (
	"crypto/x509"
	"fmt"
	"maps"
	"runtime"
	"sort"
	"sync"
	"time"
	"unsafe"
	"weak"

	"github.com/hotcert/hotcert/store"
)

// memo keeps the store's records in memory so that a pass does no I/O: with
// 10,000 certificates, reading every state.json and PEM at each pass would
// cost far more than the pass itself. The daemon is the store's only writer
// while it runs, so one read of the disk is enough; writes go to the disk
// first and then replace the cached record. A failed write drops the cache,
// because the disk may then hold part of it, and the next read starts over.
type memo struct {
	Store
	mu   sync.Mutex
	recs map[string]*store.Record // nil until read; values are never modified
}

func newMemo(s Store) *memo {
	if m, ok := s.(*memo); ok {
		return m
	}
	return &memo{Store: s}
}

func (m *memo) loadLocked() error {
	if m.recs != nil {
		return nil
	}
	list, err := m.Store.List()
	if err != nil {
		return err
	}
	m.recs = make(map[string]*store.Record, len(list))
	for _, r := range list {
		m.recs[r.Name] = r
	}
	return nil
}

// snapshot returns every record by name. The records are shared: the
// caller must not modify them.
func (m *memo) snapshot() (map[string]*store.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return nil, err
	}
	return maps.Clone(m.recs), nil
}

// List returns copies that the caller may modify, sorted by name.
func (m *memo) List() ([]*store.Record, error) {
	recs, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	out := make([]*store.Record, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns a copy that the caller may modify.
func (m *memo) Get(name string) (*store.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return nil, err
	}
	r, ok := m.recs[name]
	if !ok {
		return nil, fmt.Errorf("load %s: %w", name, store.ErrNotFound)
	}
	return r.Clone(), nil
}

// Put writes a record. An operator's renewal request may have been written
// (update) while the caller held an older copy: the request's times only
// move forward, so the later of each is kept.
func (m *memo) Put(r *store.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.recs[r.Name]; cur != nil && (cur.RenewAsked.After(r.RenewAsked) || cur.RenewDone.After(r.RenewDone)) {
		r = r.Clone()
		r.RenewAsked = later(r.RenewAsked, cur.RenewAsked)
		r.RenewDone = later(r.RenewDone, cur.RenewDone)
	}
	return m.putLocked(r)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// update changes one record in place of its stored copy, under the lock.
func (m *memo) update(name string, change func(*store.Record)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return err
	}
	r, ok := m.recs[name]
	if !ok {
		return fmt.Errorf("update %s: %w", name, store.ErrNotFound)
	}
	r = r.Clone()
	change(r)
	return m.putLocked(r)
}

func (m *memo) putLocked(r *store.Record) error {
	if err := m.Store.Put(r); err != nil {
		m.recs = nil
		return err
	}
	if m.recs != nil {
		m.recs[r.Name] = r.Clone()
	}
	return nil
}

func (m *memo) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Store.Delete(name); err != nil {
		m.recs = nil
		return err
	}
	delete(m.recs, name)
	return nil
}

// leafAddr names a PEM slice by its memory, not its content: hashing
// 10,000 bundles at each pass would cost what parsing them costs.
type leafAddr struct {
	p uintptr
	n int
}

// parsedLeaf holds a weak pointer to the bundle it was parsed from: the memo
// never keeps a replaced bundle alive, and an entry whose bundle died no
// longer matches, even if a new bundle is later allocated at its address.
type parsedLeaf struct {
	from   weak.Pointer[byte]
	leaf   *x509.Certificate
	serial string // hex, as the status shows it
	err    error
}

var leaves = struct {
	sync.RWMutex
	m map[leafAddr]parsedLeaf
}{m: map[leafAddr]parsedLeaf{}}

// leafOf is LeafOf, parsed once per bundle. Bundles are never modified in
// place (a new certificate is a new slice), which is what makes the memory
// of a slice a valid name for its content.
func leafOf(bundle []byte) (*x509.Certificate, error) {
	pl := parse(bundle)
	return pl.leaf, pl.err
}

func parse(bundle []byte) parsedLeaf {
	if len(bundle) == 0 {
		_, err := LeafOf(bundle)
		return parsedLeaf{err: err}
	}
	p := unsafe.SliceData(bundle)
	k := leafAddr{p: uintptr(unsafe.Pointer(p)), n: len(bundle)}
	leaves.RLock()
	pl, ok := leaves.m[k]
	leaves.RUnlock()
	if ok && pl.from.Value() == p {
		return pl
	}
	pl = parsedLeaf{from: weak.Make(p)}
	if pl.leaf, pl.err = LeafOf(bundle); pl.err == nil {
		pl.serial = pl.leaf.SerialNumber.Text(16)
	}
	leaves.Lock()
	leaves.m[k] = pl
	leaves.Unlock()
	runtime.AddCleanup(p, forgetLeaf, k)
	return pl
}

// forgetLeaf drops the entry of a collected bundle, unless a new bundle at
// the same address has taken its place meanwhile.
func forgetLeaf(k leafAddr) {
	leaves.Lock()
	defer leaves.Unlock()
	if pl, ok := leaves.m[k]; ok && pl.from.Value() == nil {
		delete(leaves.m, k)
	}
}
