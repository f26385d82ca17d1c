package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// memo keeps the store's records in memory so that a pass does no I/O: with
// 100,000 certificates, reading every state.json at each pass would cost
// far more than the pass itself. The daemon is the store's only writer
// while it runs, so one read of the disk is enough; writes go to the disk
// first and then replace the cached record. A failed write drops the cache,
// because the disk may then hold part of it, and the next read starts over.
//
// Records are kept slim: each bundle keeps only its leaf's serial and dates
// (store.Leaf), not its PEM, which only actions need and read from the
// store (Get). The memo also remembers which records were written since
// the last pass asked (takeChanged), so that a pass decides only for those.
type memo struct {
	Store
	log     *slog.Logger // nil: the reads of the store are not logged
	mu      sync.Mutex
	recs    map[string]*store.Record // nil until read; slim; values are never modified
	changed map[string]bool          // names written since takeChanged
	all     bool                     // the whole store was read since takeChanged
}

func newMemo(s Store) *memo {
	if m, ok := s.(*memo); ok {
		return m
	}
	return &memo{Store: s, changed: map[string]bool{}}
}

func (m *memo) loadLocked() error {
	if m.recs != nil {
		return nil
	}
	start := time.Now()
	list, inFull, err := m.listSlim()
	if err != nil {
		return err
	}
	if m.log != nil {
		// read_in_full above 0 tells why a start-up was slow: records from
		// before the store kept its leaves' facts, or after a crash.
		m.log.Info("state read", "records", len(list), "read_in_full", inFull, "took", time.Since(start).Round(time.Millisecond))
	}
	m.recs = make(map[string]*store.Record, len(list))
	for _, r := range list {
		m.recs[r.Name] = r
	}
	m.all = true
	return nil
}

// slimLister is a store that can list records slim itself, more cheaply
// than reading every PEM and parsing it here (store.File keeps the leaves'
// facts beside each record).
type slimLister interface {
	ListSlim() (recs []*store.Record, inFull int, err error)
}

// listSlim lists every record slim, and how many had to be read in full
// (every bundle read and parsed).
func (m *memo) listSlim() ([]*store.Record, int, error) {
	if s, ok := m.Store.(slimLister); ok {
		return s.ListSlim()
	}
	list, err := m.Store.List()
	if err != nil {
		return nil, 0, err
	}
	slimAll(list)
	return list, len(list), nil
}

// slimAll drops the PEM of every bundle and keeps its leaf's facts. Parsing
// 100,000 leaves is most of a start-up's CPU, so a few goroutines share it.
func slimAll(list []*store.Record) {
	workers := min(4, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(list); i += workers {
				slimInPlace(list[i])
			}
		})
	}
	wg.Wait()
}

// load reads the store unless the memo holds it.
func (m *memo) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loadLocked()
}

// snapshot returns every record by name. The records are shared and slim:
// the caller must not modify them.
func (m *memo) snapshot() (map[string]*store.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return nil, err
	}
	return maps.Clone(m.recs), nil
}

// some returns the records of names as snapshot has them, by name. A name
// without a record has none in the map.
func (m *memo) some(names []string) (map[string]*store.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return nil, err
	}
	out := make(map[string]*store.Record, len(names))
	for _, n := range names {
		if r, ok := m.recs[n]; ok {
			out[n] = r
		}
	}
	return out, nil
}

// peekChanged is takeChanged without taking: what the next pass will find.
func (m *memo) peekChanged() (names []string, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.changed {
		names = append(names, n)
	}
	return names, m.all
}

// takeChanged returns the names written since the last call, and whether
// the whole store was read meanwhile (then every name may have changed).
func (m *memo) takeChanged() (names []string, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.changed {
		names = append(names, n)
	}
	m.changed = map[string]bool{} // not clear: ranging over a cleared map costs its old size
	all, m.all = m.all, false
	return names, all
}

// setLocked keeps a slim copy of a record just written or read.
func (m *memo) setLocked(r *store.Record) {
	if m.recs != nil {
		m.recs[r.Name] = slim(r)
	}
	m.changed[r.Name] = true
}

// List returns full copies that the caller may modify, from the store.
func (m *memo) List() ([]*store.Record, error) {
	return m.Store.List()
}

// Get returns a full copy, bundles' PEM included, that the caller may
// modify: it reads the store, since the memo keeps no PEM.
func (m *memo) Get(name string) (*store.Record, error) {
	return m.Store.Get(name)
}

// putWith is Put through another writer: a claim's fenced Put.
func (m *memo) putWith(put func(*store.Record) error, r *store.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := put(r); err != nil {
		return err // the shared store refused it: the cache still holds what it held
	}
	m.setLocked(r)
	return nil
}

// remember takes in a record read elsewhere (a claim's fresh read).
func (m *memo) remember(r *store.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(r)
}

// refresh reads one record again from the store, which another node
// changed.
func (m *memo) refresh(name string) error {
	r, err := m.Store.Get(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		delete(m.recs, name)
		m.changed[name] = true
		return nil
	case err != nil:
		return err
	}
	m.setLocked(r)
	return nil
}

// Put writes a record. An operator's renewal request may have been written
// (update) while the caller held an older copy: the request's times only
// move forward, so the later of each is kept. So does the serial a deployed
// hook ran for, which only the pass writes (announce).
func (m *memo) Put(r *store.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.recs[r.Name]; cur != nil && (cur.RenewAsked.After(r.RenewAsked) || cur.RenewDone.After(r.RenewDone) ||
		!maps.Equal(cur.Deployed, r.Deployed)) {
		r = r.Clone()
		r.RenewAsked = later(r.RenewAsked, cur.RenewAsked)
		r.RenewDone = later(r.RenewDone, cur.RenewDone)
		r.Deployed = maps.Clone(cur.Deployed)
	}
	return m.putLocked(r)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// update changes one record, read in full from the store, under the lock.
func (m *memo) update(name string, change func(*store.Record)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.loadLocked(); err != nil {
		return err
	}
	if _, ok := m.recs[name]; !ok {
		return fmt.Errorf("update %s: %w", name, store.ErrNotFound)
	}
	r, err := m.Store.Get(name)
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	change(r)
	return m.putLocked(r)
}

func (m *memo) putLocked(r *store.Record) error {
	if err := m.Store.Put(r); err != nil {
		m.recs = nil
		return err
	}
	m.setLocked(r)
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
	m.changed[name] = true
	return nil
}

// leafOf is what decisions need of the bundle's leaf. The memo keeps it for
// every bundle, so this parses only bundles that never went through it.
func leafOf(b store.Bundle) (*store.Leaf, error) {
	if b.Leaf != nil {
		return b.Leaf, nil
	}
	leaf, err := bundle.Leaf(b.PEM)
	if err != nil {
		return nil, err
	}
	return store.LeafOf(leaf), nil
}

// slim is a copy of r for the memo: its bundles keep their leaf's facts,
// not their PEM.
func slim(r *store.Record) *store.Record {
	return slimInPlace(r.Clone())
}

// slimInPlace makes r, a copy nobody else holds, slim.
func slimInPlace(r *store.Record) *store.Record {
	for kt, b := range r.Bundles {
		if b.Leaf == nil {
			b.Leaf, _ = leafOf(b) // nil for an unreadable bundle, as decide expects
		}
		b.PEM = nil
		r.Bundles[kt] = b
	}
	return r
}
