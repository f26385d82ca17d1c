package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hotcert/hotcert/store"
)

// List returns every record etcd holds, with this node's own fields, and
// brings the local copy up to date. While etcd is unreachable it answers
// from the local copy.
func (c *Cluster) List() ([]*store.Record, error) {
	if c.health.reachable() {
		recs, _, err := c.loadAll(context.Background(), false)
		if !errors.Is(err, ErrUnavailable) {
			return recs, err
		}
	}
	recs, err := c.opt.Local.List()
	for _, r := range recs {
		c.book.serve(r.Name, r)
	}
	return recs, err
}

// Get returns one record as etcd holds it, with this node's own fields, or
// the local copy while etcd is unreachable.
func (c *Cluster) Get(name string) (*store.Record, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if c.health.reachable() {
		s, err := c.read(context.Background(), name)
		if err == nil {
			return c.take(s, false)
		}
	}
	defer c.book.lock(name)()
	r, err := c.opt.Local.Get(name)
	c.book.serve(name, r)
	return r, err
}

// loadAll reads every record and takes each in (see take) and returns them
// with the revision read at. A record that cannot be decoded is reported,
// not skipped: forgetting it would make hotcert order it again.
func (c *Cluster) loadAll(ctx context.Context, background bool) ([]*store.Record, int64, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.keys.certs(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, c.unavailable("list certificates", err)
	}
	c.health.answered()
	at := resp.Header.Revision
	snaps := c.keys.snapshots(resp.Kvs, at)
	for _, name := range c.book.names() {
		if _, ok := snaps[name]; !ok {
			snaps[name] = &snapshot{name: name, at: at} // gone from etcd, or never there
		}
	}
	var out []*store.Record
	var errs []error
	for _, s := range snaps {
		r, err := c.take(s, background)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			errs = append(errs, err)
		default:
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, at, errors.Join(errs...)
}

// read returns one certificate's keys as etcd holds them now.
func (c *Cluster) read(ctx context.Context, name string) (*snapshot, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.keys.cert(name), clientv3.WithPrefix())
	if err != nil {
		return nil, c.unavailable("load "+name, err)
	}
	c.health.answered()
	return c.keys.snapshotOf(name, resp.Kvs, resp.Header.Revision), nil
}

// take absorbs a read into the local copy and returns the record: etcd's,
// with this node's RemovedAt. A record etcd lacks is ErrNotFound, or the
// local copy while a standalone state directory waits for its import. A
// read for a caller marks what the caller was given (see entry.served); a
// background read instead announces a change of the local copy on Changes.
func (c *Cluster) take(s *snapshot, background bool) (*store.Record, error) {
	defer c.book.lock(s.name)()
	changed, err := c.absorb(s)
	if err != nil {
		return nil, err
	}
	if changed && background {
		c.changes.push(s.name, s.name)
	}
	r, err := c.recordOf(s)
	if !background {
		c.book.serve(s.name, r)
	}
	return r, err
}

// recordOf is the record a read stands for. Called with the name's lock.
func (c *Cluster) recordOf(s *snapshot) (*store.Record, error) {
	if s.rev == 0 {
		if !c.importedBy(s.at) {
			return c.opt.Local.Get(s.name)
		}
		return nil, fmt.Errorf("load %s: %w", s.name, store.ErrNotFound)
	}
	r, err := s.record()
	if err != nil {
		return nil, err
	}
	r.RemovedAt = c.book.get(s.name).removed
	return r, nil
}

// absorb brings the local copy up to s, unless this node knows a later
// version, and reports whether the local copy changed. Called with the
// name's lock held.
func (c *Cluster) absorb(s *snapshot) (bool, error) {
	e := c.book.get(s.name)
	if e.rev != unknown && s.version() <= e.rev {
		return false, nil
	}
	if s.rev == 0 {
		return c.absorbAbsent(s, e), nil
	}
	d, err := s.digest()
	if err != nil {
		return false, err
	}
	next := e
	next.rev, next.present, next.etcd, next.local = s.rev, true, d, d
	if d.equal(e.local) {
		c.book.set(s.name, next)
		return false, nil
	}
	r, _ := s.record()
	r.RemovedAt = e.removed
	if err := c.opt.Local.Put(r); err != nil {
		c.localFailed(err) // rev stays behind: the next read writes it again
		return false, nil
	}
	c.book.set(s.name, next)
	return true, nil
}

// absorbAbsent takes in that etcd has no record. The local copy goes,
// unless it is a standalone record the import has yet to move.
func (c *Cluster) absorbAbsent(s *snapshot, e entry) bool {
	gone := e
	gone.rev, gone.present, gone.etcd = s.at, false, digest{}
	if e.local.empty() || !c.importedBy(s.at) {
		c.book.set(s.name, gone)
		return false
	}
	if err := c.opt.Local.Delete(s.name); err != nil {
		c.localFailed(err)
		return false
	}
	gone.local, gone.removed = digest{}, time.Time{}
	c.book.set(s.name, gone)
	return true
}

// localFailed logs a failed write of the local copy, once per distinct
// error: a full disk would otherwise log at every read.
func (c *Cluster) localFailed(err error) {
	c.mu.Lock()
	seen := c.localErr == err.Error()
	c.localErr = err.Error()
	c.mu.Unlock()
	if !seen {
		c.log.Error("cluster: local copy not updated; it is behind etcd until this clears", "err", err)
	}
}
