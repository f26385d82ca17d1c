package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"path/filepath"
	"strings"
	"time"
)

// state is what the client knows one HAProxy process holds. Reading every
// store costs one round trip per certificate (10,000 at scale), so Loaded
// answers from here and checks with one `show info` that the process is the
// one the state describes. Only the certificate lock holder touches it.
type state struct {
	id      Info                // the process described; Pid 0 until the first scan
	scanned time.Time           // last full scan
	serials map[string]*big.Int // certificate name -> serial, non-empty stores under CertDir
	// listed holds the store paths in HAProxy's crt-list; nil until read.
	// A restart keeps it true: HAProxy reloads the crt-list file, and every
	// push writes its line there before touching the socket.
	listed map[string]bool
	// stale names must be read again: an operation on them failed midway.
	stale map[string]bool
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
	s.serials[name] = serial
	delete(s.stale, name)
	if s.listed != nil {
		s.listed[path] = true
	}
}

func (s *state) removed(name, path string) {
	if !s.valid() {
		return
	}
	delete(s.serials, name)
	delete(s.stale, name)
	if s.listed != nil {
		delete(s.listed, path)
	}
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
// name, to the serial it serves. Empty stores are left out. It costs one
// `show info` when nothing changed; a restarted HAProxy, the first call and
// every Options.Rescan read all stores again. After a restart it also puts
// back the challenge map entries HAProxy lost.
func (c *Client) Loaded(ctx context.Context) (map[string]*big.Int, error) {
	out, restart, err := c.loaded(ctx)
	if restart {
		c.challenges.lost() // even when the rescan failed: the entries are gone regardless
	}
	if err != nil {
		return nil, fmt.Errorf("loaded certificates on %s: %w", c.opts.Name, err)
	}
	c.challenges.restore(ctx)
	return out, nil
}

func (c *Client) loaded(ctx context.Context) (map[string]*big.Int, bool, error) {
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
	case !c.st.valid() || c.now().Sub(c.st.scanned) >= c.opts.Rescan:
		err = c.rescan(ctx, info)
	default:
		c.st.id = info
		err = c.reread(ctx)
	}
	if err != nil {
		c.st = state{} // half read: start over next time
		return nil, restart, err
	}
	return maps.Clone(c.st.serials), restart, nil
}

// rescan reads every store under CertDir: one listing, then one
// `show ssl cert <path>` each.
func (c *Client) rescan(ctx context.Context, id Info) error {
	start := c.now()
	_, stores, err := c.stores(ctx)
	if err != nil {
		return err
	}
	serials := map[string]*big.Int{}
	for _, s := range stores {
		name, ok := strings.CutSuffix(filepath.Base(s), ".pem")
		if !ok || !c.ours(s) || validName(name) != nil {
			continue
		}
		info, err := c.showCert(ctx, s)
		if errors.Is(err, ErrNotLoaded) {
			continue
		}
		if err != nil {
			return err
		}
		serials[name] = info.serial
	}
	c.st = state{id: id, scanned: start, serials: serials, stale: map[string]bool{}}
	c.log.Debug("read every certificate store", "stores", len(stores), "ours", len(serials), "took", c.now().Sub(start))
	return nil
}

// reread refreshes the names an interrupted push or remove left unsure.
func (c *Client) reread(ctx context.Context) error {
	for name := range c.st.stale {
		info, err := c.showCert(ctx, c.Path(name))
		switch {
		case errors.Is(err, ErrNotLoaded):
			delete(c.st.serials, name)
		case err != nil:
			return err
		default:
			c.st.serials[name] = info.serial
		}
		delete(c.st.stale, name)
	}
	return nil
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
