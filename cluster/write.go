package cluster

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hotcert/hotcert/store"
)

// Put writes r's shared fields to etcd in one transaction, then the whole
// record to the local copy. A record whose shared fields did not change
// (only RemovedAt, which is this node's alone) goes to the local copy only.
// Without a session, or when etcd does not answer in time, Put fails with
// ErrUnavailable and writes nothing. When another node changed the record
// since this node's caller last read it (Get, List, Claim.Fresh), Put
// fails with ErrFenced and writes nothing: the caller's copy is old, and
// writing it would undo the other node's work (a certificate it issued).
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
// bundles it leaves out as unchanged really are etcd's. When the compare
// fails, etcd's record is taken in: if the caller's copy is still current
// (the record was merely unknown here) the write is tried again, else it
// is refused. Called with the name's lock held.
func (c *Cluster) putShared(r *store.Record) error {
	d := digestRecord(r)
	op := "save " + r.Name
	for range 3 {
		e := c.book.get(r.Name)
		if e.holds(d) {
			return nil
		}
		if e.stale() {
			return fmt.Errorf("%s: %w: another node changed the record since it was read; read it again", op, ErrFenced)
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
		changed, err := c.absorb(c.keys.snapshotOf(r.Name, kvs, resp.Header.Revision))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if changed { // the watch will find it known: announce it here
			c.changes.push(r.Name, r.Name)
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
	e.rev, e.present, e.etcd, e.served = rev, true, d, d
	c.book.set(name, e)
	c.mu.Lock()
	cl := c.held[name]
	c.mu.Unlock()
	if cl != nil {
		cl.setBase(rev, d)
	}
}

// saveLocal writes r to the local copy unless it holds r already. The
// caller wrote r, so r is what it has.
func (c *Cluster) saveLocal(r *store.Record) error {
	e := c.book.get(r.Name)
	d := digestRecord(r)
	e.served = d
	if d.equal(e.local) && e.removed.Equal(r.RemovedAt) {
		c.book.set(r.Name, e)
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
	e.local, e.removed, e.served = digest{}, time.Time{}, digest{}
	c.book.set(name, e)
	return nil
}
