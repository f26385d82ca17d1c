package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// keepSession keeps this node's session: a lease that etcd keeps alive as
// long as the node answers, and that everything of this node's hangs on
// (claims, wants, member key, pending tokens). A session that dies (etcd
// frozen or away past the TTL, or the lease revoked) is replaced, with
// backoff, and the publisher writes everything again under the new lease.
func (c *Cluster) keepSession(ctx context.Context) {
	bo := newBackoff()
	var last clientv3.LeaseID
	for ctx.Err() == nil {
		s, alive, err := c.startSession(ctx)
		if err != nil {
			c.health.failed(err)
			c.health.sessionLost(err)
			sleep(ctx, bo.wait())
			continue
		}
		bo.reset()
		if old := last; old != 0 {
			// The old lease may outlive its session on etcd's side (etcd
			// extends leases when it restarts): let its claims go now.
			c.wg.Go(func() { c.revoke(old) })
		}
		last = s.Lease()
		c.setSession(s)
		c.health.sessionUp(s.Lease())
		c.kickSync()
		if !c.hold(ctx, s, alive) {
			return // Close revokes the lease
		}
		c.setSession(nil)
		c.health.sessionLost(errLeaseEnded)
	}
}

// startSession grants a lease within callTimeout and keeps it alive. It
// returns a second keepalive channel, whose answers say etcd is there.
func (c *Cluster) startSession(ctx context.Context) (*concurrency.Session, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	gctx, cancel := callCtx(ctx)
	defer cancel()
	g, err := c.cli.Grant(gctx, int64(c.opt.LeaseTTL/time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("start session: grant lease: %w", err)
	}
	// WithLease: NewSession would otherwise grant on its context, which
	// must be the long-lived one (it also bounds the keepalives).
	s, err := concurrency.NewSession(c.cli, concurrency.WithLease(g.ID), concurrency.WithContext(ctx))
	if err != nil {
		c.revoke(g.ID)
		return nil, nil, fmt.Errorf("start session: %w", err)
	}
	alive, err := c.cli.KeepAlive(s.Ctx(), g.ID)
	if err != nil {
		s.Orphan()
		c.revoke(g.ID)
		return nil, nil, fmt.Errorf("start session: keepalive: %w", err)
	}
	return s, alive, nil
}

// hold watches a session until it ends (false: because ctx ended). A
// keepalive answer is proof that etcd answers; none for two thirds of the
// TTL (two missed keepalives) marks etcd unreachable before the lease
// expires, so that reads turn to the local copy and Ready says so.
func (c *Cluster) hold(ctx context.Context, s *concurrency.Session, alive <-chan *clientv3.LeaseKeepAliveResponse) bool {
	ttl := c.opt.LeaseTTL
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	last := time.Now() // etcd's clock, not the injected one: leases run on real time
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.Done():
			return true
		case _, ok := <-alive:
			if !ok {
				alive = nil // s.Done follows
				continue
			}
			last = time.Now()
			c.health.answered()
		case <-tick.C:
			if time.Since(last) > 2*ttl/3 {
				c.health.failed(errNoKeepalive)
			}
		}
	}
}

func (c *Cluster) revoke(lease clientv3.LeaseID) {
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	c.cli.Revoke(ctx, lease) // best effort: the lease expires anyway
}

// keepPublished writes what this node owes etcd whenever asked (a new
// session, Want, a token), retrying with backoff until it succeeds: the
// keys that hang on the session's lease, and the import of a standalone
// state directory.
func (c *Cluster) keepPublished(ctx context.Context) {
	bo := newBackoff()
	var retry <-chan time.Time
	warned := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-retry:
		}
		retry = nil
		s := c.session()
		if s == nil {
			continue // the next session kicks again
		}
		// A local disk that fails the import must not keep this node's
		// wants and tokens out of etcd: both run, whatever the other did.
		err := errors.Join(c.publish(ctx, s), c.importLocal(ctx))
		if err == nil {
			bo.reset()
			warned = ""
			continue
		}
		// A lease etcd no longer knows is a session about to be replaced,
		// and the new one kicks again.
		quiet := unreachable(err) || errors.Is(err, rpctypes.ErrLeaseNotFound)
		if !quiet && err.Error() != warned {
			// etcd answered and refused: say so once per distinct error
			warned = err.Error()
			c.log.Warn("cluster: cannot bring etcd up to date with this node (keys, import); retrying", "err", err)
		}
		retry = time.After(bo.wait())
	}
}

// publish brings the keys on s's lease to what this node wants.
func (c *Cluster) publish(ctx context.Context, s *concurrency.Session) error {
	return c.leased.sync(ctx, c.cli, s.Lease(), c.health)
}
