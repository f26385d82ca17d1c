package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"

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
		m.recs[r.Name] = withLeaves(r)
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

// putWith is Put through another writer: a claim's fenced Put.
func (m *memo) putWith(put func(*store.Record) error, r *store.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := put(r); err != nil {
		return err // the shared store refused it: the cache still holds what it held
	}
	if m.recs != nil {
		m.recs[r.Name] = withLeaves(r.Clone())
	}
	return nil
}

// remember takes in a record read elsewhere (a claim's fresh read).
func (m *memo) remember(r *store.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs != nil {
		m.recs[r.Name] = withLeaves(r.Clone())
	}
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
		return nil
	case err != nil:
		return err
	}
	if m.recs != nil {
		m.recs[name] = withLeaves(r)
	}
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
		m.recs[r.Name] = withLeaves(r.Clone())
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

// leafOf is the bundle's parsed leaf. The memo parses every bundle once,
// when it loads or stores the record, so this parses only bundles that
// never went through it.
func leafOf(b store.Bundle) (*x509.Certificate, error) {
	if b.Leaf != nil {
		return b.Leaf, nil
	}
	return bundle.Leaf(b.PEM)
}

// withLeaves parses the leaf of every bundle of r that lacks it. r must be
// the memo's own copy.
func withLeaves(r *store.Record) *store.Record {
	for kt, b := range r.Bundles {
		if b.Leaf == nil {
			if leaf, err := bundle.Leaf(b.PEM); err == nil {
				b.Leaf = leaf
				r.Bundles[kt] = b
			}
		}
	}
	return r
}
