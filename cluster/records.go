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
	return c.opt.Local.List()
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
			return c.take(name, s, false)
		}
	}
	return c.opt.Local.Get(name)
}

// loadAll reads every record, takes each into the local copy (announcing
// the ones that changed when notify) and returns them with the revision
// read at. A record that cannot be decoded is reported, not skipped:
// forgetting it would make hotcert order it again.
func (c *Cluster) loadAll(ctx context.Context, notify bool) ([]*store.Record, int64, error) {
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
			snaps[name] = &snapshot{at: at} // gone from etcd, or never there
		}
	}
	var out []*store.Record
	var errs []error
	for name, s := range snaps {
		r, err := c.take(name, s, notify)
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

// take absorbs a read into the local copy and returns the record: etcd's
// with this node's RemovedAt. A record etcd lacks is ErrNotFound, or the
// local copy while a standalone state directory waits for its import.
func (c *Cluster) take(name string, s *snapshot, notify bool) (*store.Record, error) {
	unlock := c.book.lock(name)
	changed, err := c.absorb(name, s)
	removed := c.book.get(name).removed
	unlock()
	if err != nil {
		return nil, err
	}
	if changed && notify {
		c.changes.push(name, name)
	}
	if s.rev == 0 {
		if !c.importedBy(s.at) {
			return c.opt.Local.Get(name)
		}
		return nil, fmt.Errorf("load %s: %w", name, store.ErrNotFound)
	}
	r, err := s.record(name)
	if err != nil {
		return nil, err
	}
	r.RemovedAt = removed
	return r, nil
}

// absorb brings the local copy of name up to s, unless this node knows a
// later version, and reports whether the local copy changed. Called with
// name's lock held.
func (c *Cluster) absorb(name string, s *snapshot) (bool, error) {
	e := c.book.get(name)
	if e.rev != unknown && s.version() <= e.rev {
		return false, nil
	}
	if s.rev == 0 {
		return c.absorbAbsent(name, s, e), nil
	}
	d := s.digest()
	next := entry{rev: s.rev, present: true, etcd: d, local: d, removed: e.removed}
	if d.equal(e.local) {
		c.book.set(name, next)
		return false, nil
	}
	r, err := s.record(name)
	if err != nil {
		return false, err
	}
	r.RemovedAt = e.removed
	if err := c.opt.Local.Put(r); err != nil {
		c.localFailed(err) // rev stays behind: the next read writes it again
		return false, nil
	}
	c.book.set(name, next)
	return true, nil
}

// absorbAbsent takes in that etcd has no record of name. The local copy
// goes, unless it is a standalone record the import has yet to move.
func (c *Cluster) absorbAbsent(name string, s *snapshot, e entry) bool {
	gone := entry{rev: s.at}
	if e.local.empty() || !c.importedBy(s.at) {
		gone.local, gone.removed = e.local, e.removed
		c.book.set(name, gone)
		return false
	}
	if err := c.opt.Local.Delete(name); err != nil {
		c.localFailed(err)
		return false
	}
	c.book.set(name, gone)
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

// Put writes r's shared fields to etcd in one transaction, then the whole
// record to the local copy. A record whose shared fields did not change
// (only RemovedAt, which is this node's alone) goes to the local copy only.
// Without a session, or when etcd does not answer in time, Put fails with
// ErrUnavailable and writes nothing.
func (c *Cluster) Put(r *store.Record) error {
	if err := checkName(r.Name); err != nil {
		return err
	}
	defer c.book.lock(r.Name)()
	if err := c.putShared(r); err != nil {
		return err
	}
	return c.saveLocal(r)
}

// putShared makes etcd hold r's shared part. The transaction compares the
// state key's mod revision with the one this node last saw, so that the
// bundles it leaves out as unchanged really are etcd's; when another node
// wrote in between, it takes etcd's record in and tries again. Plain Put is
// last-writer-wins: an order's result goes through Claim.Put, which is
// fenced. Called with the name's lock held.
func (c *Cluster) putShared(r *store.Record) error {
	d := digestRecord(r)
	op := "save " + r.Name
	for range 3 {
		e := c.book.get(r.Name)
		if e.holds(d) {
			return nil
		}
		if c.session() == nil {
			return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, errNoSession)
		}
		rev, base := e.base()
		resp, err := c.commit(r.Name, c.keys.changeOps(r, base), nil, rev)
		if err != nil {
			return c.unavailable(op, err)
		}
		if resp.Succeeded {
			c.wrote(r.Name, resp.Header.Revision, d)
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if _, err := c.absorb(r.Name, c.keys.snapshotOf(r.Name, kvs, resp.Header.Revision)); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w: the record kept changing under this write", op, ErrUnavailable)
}

// commit writes ops if the state key's mod revision is rev (and cmps
// hold); otherwise it reads the record (or else, when given).
func (c *Cluster) commit(name string, ops, orElse []clientv3.Op, rev int64, cmps ...clientv3.Cmp) (*clientv3.TxnResponse, error) {
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c.keys.state(name)), "=", rev))
	if orElse == nil {
		orElse = []clientv3.Op{clientv3.OpGet(c.keys.cert(name), clientv3.WithPrefix())}
	}
	resp, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if err == nil {
		c.health.answered()
	}
	return resp, err
}

// wrote records that etcd took d at rev. A claim this node holds on the
// name builds on the write too, so that a plain Put does not fence this
// node's own claim. The local copy is saveLocal's.
func (c *Cluster) wrote(name string, rev int64, d digest) {
	e := c.book.get(name)
	e.rev, e.present, e.etcd = rev, true, d
	c.book.set(name, e)
	c.mu.Lock()
	cl := c.held[name]
	c.mu.Unlock()
	if cl != nil {
		cl.setBase(rev, d)
	}
}

// saveLocal writes r to the local copy unless it holds r already.
func (c *Cluster) saveLocal(r *store.Record) error {
	e := c.book.get(r.Name)
	d := digestRecord(r)
	if d.equal(e.local) && e.removed.Equal(r.RemovedAt) {
		return nil
	}
	if err := c.opt.Local.Put(r); err != nil {
		e.rev = unknown // the next read writes it again
		c.book.set(r.Name, e)
		return err
	}
	e.local, e.removed = d, r.RemovedAt
	c.book.set(r.Name, e)
	return nil
}

// Delete deletes the shared record only if no other node wants it (one
// transaction compares the wants keys), and this node's local copy in any
// case. Without etcd it deletes nothing: removals wait for etcd.
func (c *Cluster) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	defer c.book.lock(name)()
	op := "delete " + name
	if c.session() == nil {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, errNoSession)
	}
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	wants, own := c.keys.wantsOf(name), c.keys.want(name, c.opt.Node)
	resp, err := c.cli.Txn(ctx).If(
		// no wants key but this node's own: [wants, own) and (own, end)
		clientv3.Compare(clientv3.CreateRevision(wants), "=", 0).WithRange(own),
		clientv3.Compare(clientv3.CreateRevision(own+"\x00"), "=", 0).WithRange(clientv3.GetPrefixRangeEnd(wants)),
	).Then(clientv3.OpDelete(c.keys.cert(name), clientv3.WithPrefix())).Commit()
	if err != nil {
		return c.unavailable(op, err)
	}
	c.health.answered()
	e := c.book.get(name)
	if resp.Succeeded {
		e = entry{rev: resp.Header.Revision}
	}
	if err := c.opt.Local.Delete(name); err != nil {
		return err
	}
	e.local, e.removed = digest{}, time.Time{}
	c.book.set(name, e)
	return nil
}
