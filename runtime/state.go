package runtime

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"path/filepath"
	"strings"
	"time"
)

// state is what the client knows one HAProxy process holds. Reading every
// store costs one `show ssl cert <path>` per certificate (100,000 at scale),
// so Loaded answers from here and checks with one `show info` that the
// process is the one the state describes, plus a bounded slice of the
// rolling check (check.go). Only the certificate lock holder touches it.
type state struct {
	id      Info                // the process described; Pid 0 until the first scan
	scanned time.Time           // last time the store listing was read
	serials map[string]*big.Int // certificate name -> serial, non-empty stores under CertDir
	// listed holds the store paths in HAProxy's crt-list; nil until read.
	// A restart keeps it true: HAProxy reloads the crt-list file, and every
	// push writes its line there before touching the socket.
	listed map[string]bool
	// stale names must be read again: an operation on them failed midway.
	stale map[string]bool

	// snap is the map the last Loaded returned. Callers may keep it, so it
	// is never written: a change to serials marks it dirty, and the next
	// Loaded clones serials once instead of on every call.
	snap  map[string]*big.Int
	dirty bool

	roll rolling // the rolling check's place
}

func (s *state) valid() bool { return s.id.Pid != 0 }

// known reports whether a push may skip the store and crt-list checks.
func (s *state) known(name, path string) bool {
	return s.valid() && s.serials[name] != nil && !s.stale[name] && s.listed[path]
}

func (s *state) pushed(name, path string, serial *big.Int) {
	if !s.valid() {
		return
	}
	s.set(name, serial)
	delete(s.stale, name)
	if s.listed != nil {
		s.listed[path] = true
	}
}

func (s *state) removed(name, path string) {
	if !s.valid() {
		return
	}
	s.set(name, nil)
	delete(s.stale, name)
	if s.listed != nil {
		delete(s.listed, path)
	}
}

// set records the serial HAProxy serves for name, nil for none, and
// reports whether that changed what the state said.
func (s *state) set(name string, serial *big.Int) bool {
	old, had := s.serials[name]
	switch {
	case serial == nil && !had:
		return false
	case serial == nil:
		delete(s.serials, name)
	case had && old.Cmp(serial) == 0:
		return false
	default:
		if !had {
			s.roll.order = append(s.roll.order, name)
		}
		s.serials[name] = serial
	}
	s.dirty = true
	return true
}

// snapshot is serials as a map nobody writes to again, cloned only when
// serials changed since the last one.
func (s *state) snapshot() map[string]*big.Int {
	if s.snap == nil || s.dirty {
		s.snap = maps.Clone(s.serials)
		s.dirty = false
	}
	return s.snap
}

func (s *state) unsure(name string) {
	if s.valid() {
		s.stale[name] = true
	}
}

// restarted reports whether cur is another HAProxy process than prev: a new
// pid (a restart, or a new worker after a reload), a new start time (a
// container restarted with the same pid), or an uptime that went backwards.
func restarted(prev, cur Info) bool {
	return prev.Pid != cur.Pid || !prev.Started.Equal(cur.Started) || cur.Uptime < prev.Uptime
}

// Loaded maps every store under CertDir that HAProxy holds, by certificate
// name, to the serial it serves. Empty stores are left out. The map is
// shared: the caller must not modify it, and the client never does after
// returning it. When nothing changed it is the same map as last time and
// Loaded costs one `show info`, plus now and then a bounded slice of the
// rolling check (check.go). A restarted HAProxy and the first call read
// every store. After a restart it also puts back the challenge map entries
// HAProxy lost.
func (c *Client) Loaded(ctx context.Context) (map[string]*big.Int, error) {
	return c.loadedAs(ctx, (*state).snapshot)
}

// LoadedOf is Loaded for the stores of names alone, in a map of the
// caller's: what a push asks before it pushes. At 100,000 certificates the
// copy Loaded makes after every change (every push is one) costs more
// than the push's own commands.
func (c *Client) LoadedOf(ctx context.Context, names []string) (map[string]*big.Int, error) {
	return c.loadedAs(ctx, func(s *state) map[string]*big.Int {
		out := make(map[string]*big.Int, len(names))
		for _, n := range names {
			if serial, ok := s.serials[n]; ok {
				out[n] = serial
			}
		}
		return out
	})
}

// loadedAs brings what the client knows up to date and returns it as view
// makes it, under the lock.
func (c *Client) loadedAs(ctx context.Context, view func(*state) map[string]*big.Int) (map[string]*big.Int, error) {
	out, restart, err := c.loaded(ctx, view)
	if restart {
		c.challenges.lost() // even when the rescan failed: the entries are gone regardless
	}
	if err != nil {
		return nil, fmt.Errorf("loaded certificates on %s: %w", c.opts.Name, err)
	}
	c.challenges.restore(ctx)
	return out, nil
}

// Epoch moves whenever what HAProxy serves may have changed other than
// through this client's Push and Remove: a restart or any other full read,
// a store read again after an interrupted operation that turned out
// different, a drift the rolling check found. A caller that saw the same
// Epoch before and after may trust that only its own pushes and removals
// changed the instance.
func (c *Client) Epoch() uint64 { return c.epoch.Load() }

func (c *Client) loaded(ctx context.Context, view func(*state) map[string]*big.Int) (map[string]*big.Int, bool, error) {
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	info, err := c.info(ctx)
	if err != nil {
		return nil, false, err
	}
	// c.seen, not c.st.id: a failed read resets c.st, and a restart after
	// that must still be noticed.
	prev := c.seen
	restart := prev.Pid != 0 && restarted(prev, info)
	c.seen = info
	switch {
	case restart:
		c.log.Warn("HAProxy restarted; reading every certificate store again",
			"old_pid", prev.Pid, "pid", info.Pid, "uptime", info.Uptime)
		err = c.rescan(ctx, info)
	case !c.st.valid():
		err = c.rescan(ctx, info)
	default:
		c.st.id = info
		if err = c.reread(ctx); err == nil {
			c.check(ctx)
		}
	}
	if err != nil {
		c.st = state{} // half read: start over next time
		return nil, restart, err
	}
	return view(&c.st), restart, nil
}

// rescan reads every store under CertDir: one listing, then `show ssl cert
// <path>` for each, batched.
func (c *Client) rescan(ctx context.Context, id Info) error {
	start := c.now()
	_, stores, err := c.stores(ctx)
	if err != nil {
		return err
	}
	var paths []string
	for _, s := range stores {
		if _, ok := c.nameOf(s); ok {
			paths = append(paths, s)
		}
	}
	serials := make(map[string]*big.Int, len(paths))
	err = c.readStores(ctx, paths, func(path string, serial *big.Int) {
		if name, _ := c.nameOf(path); serial != nil {
			serials[name] = serial
		}
	})
	if err != nil {
		return err
	}
	c.st = state{id: id, scanned: start, serials: serials, stale: map[string]bool{}}
	c.st.roll.restart(serials, start)
	c.epoch.Add(1)
	c.log.Debug("read every certificate store", "stores", len(stores), "ours", len(serials), "took", c.now().Sub(start))
	return nil
}

// nameOf is the certificate name of a store path that is one of ours.
func (c *Client) nameOf(path string) (string, bool) {
	name, ok := strings.CutSuffix(filepath.Base(path), ".pem")
	return name, ok && c.ours(path) && validName(name) == nil
}

// reread refreshes the names an interrupted push or remove left unsure.
func (c *Client) reread(ctx context.Context) error {
	if len(c.st.stale) == 0 {
		return nil
	}
	paths := make([]string, 0, len(c.st.stale))
	for name := range c.st.stale {
		paths = append(paths, c.Path(name))
	}
	changed := false
	err := c.readStores(ctx, paths, func(path string, serial *big.Int) {
		name, _ := c.nameOf(path)
		changed = c.st.set(name, serial) || changed
		delete(c.st.stale, name)
	})
	if changed {
		c.epoch.Add(1)
	}
	return err
}

// knownListed reports whether path is in HAProxy's crt-list, reading the
// whole list once per process and then keeping it up to date.
func (c *Client) knownListed(ctx context.Context, path string) (bool, error) {
	if c.st.valid() && c.st.listed != nil {
		return c.st.listed[path], nil
	}
	all, err := c.listing(ctx)
	if err != nil {
		return false, err
	}
	if c.st.valid() {
		c.st.listed = all
	}
	return all[path], nil
}

func (c *Client) now() time.Time { return c.opts.Now() }
