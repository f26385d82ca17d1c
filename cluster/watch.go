package cluster

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// follow keeps a watch on prefix. Before each watch it reads the whole
// prefix afresh (resync) and watches from the revision after that read, so
// nothing between the two is missed: at the start, after etcd compacted the
// revisions the watch still had to deliver, and after any other error.
// The etcd client resumes a watch across reconnects by itself; this loop
// is for what it gives up on. Failures back off and are not logged: the
// session's health state already says when etcd is away.
func (c *Cluster) follow(ctx context.Context, prefix string, resync func(context.Context) (int64, error), apply func(context.Context, []*clientv3.Event)) {
	bo := newBackoff()
	for ctx.Err() == nil {
		rev, err := resync(ctx)
		if err == nil {
			started := time.Now()
			c.watch(ctx, prefix, rev+1, apply)
			if time.Since(started) > bo.max {
				bo.reset() // it ran well for a while: this is a new failure
			}
		}
		sleep(ctx, bo.wait())
	}
}

// watch applies events until the watch ends. WithRequireLeader makes an
// etcd member that lost its cluster end the watch rather than go quiet.
func (c *Cluster) watch(ctx context.Context, prefix string, from int64, apply func(context.Context, []*clientv3.Event)) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range c.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if resp.Err() != nil {
			return
		}
		if len(resp.Events) > 0 {
			apply(ctx, resp.Events)
		}
	}
}

// followCerts reports other nodes' changes to certs/ on Changes, and keeps
// the local copy in step.
func (c *Cluster) followCerts(ctx context.Context) {
	resync := func(ctx context.Context) (int64, error) {
		_, rev, err := c.loadAll(ctx, true)
		if errors.Is(err, ErrUnavailable) {
			return 0, err
		}
		return rev, nil // a record that does not decode is List's to report
	}
	c.follow(ctx, c.keys.certs(), resync, c.applyCerts)
}

// applyCerts refreshes each certificate an event batch touched, once. A
// change is read back whole (one read) rather than pieced together from
// events: a write changes the state and some of the bundles.
func (c *Cluster) applyCerts(ctx context.Context, evs []*clientv3.Event) {
	latest := map[string]int64{}
	for _, ev := range evs {
		if name, ok := c.keys.certName(string(ev.Kv.Key)); ok {
			latest[name] = max(latest[name], ev.Kv.ModRevision)
		}
	}
	for name, rev := range latest {
		c.refresh(ctx, name, rev)
	}
}

// refresh takes in a change of name made at rev, unless this node wrote or
// read it already, and announces it when it changed the local copy. It
// holds the name's lock across the read, so it cannot take this node's
// own write, still in flight, for another node's.
func (c *Cluster) refresh(ctx context.Context, name string, rev int64) {
	unlock := c.book.lock(name)
	defer unlock()
	if e := c.book.get(name); e.rev != unknown && e.rev >= rev {
		return
	}
	s, err := c.read(ctx, name)
	if err == nil {
		var changed bool
		if changed, err = c.absorb(s); err == nil && !changed {
			return
		}
	}
	if err != nil {
		// Announce it anyway: the daemon's own read retries, or falls
		// back on the local copy; the next read here catches up.
		e := c.book.get(name)
		e.rev = unknown
		c.book.set(name, e)
	}
	c.changes.push(name, name)
}
