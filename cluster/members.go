package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Want publishes the certificates this node lists in its domains file, as
// wants keys on its session's lease: Delete keeps a record another node
// wants, and a dead node's wants go with its lease. It never waits for
// etcd; the set is written in the background and again under every new
// session.
func (c *Cluster) Want(names []string) {
	vals := make(map[string]string, len(names))
	for _, n := range names {
		if safeSegment(n) {
			vals[c.keys.want(n, c.opt.Node)] = ""
		}
	}
	c.leased.replace(c.keys.wants(), vals)
	c.kickSync()
}

// Members lists the nodes with a live session.
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.keys.members(), clientv3.WithPrefix())
	if err != nil {
		return nil, c.unavailable("list members", err)
	}
	out := make([]Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var m Member
		if json.Unmarshal(kv.Value, &m) != nil {
			// written by something else: the key still names a node
			m = Member{Node: strings.TrimPrefix(string(kv.Key), c.keys.members())}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// leaseNodes maps each member's session lease to its node.
func (c *Cluster) leaseNodes(ctx context.Context) (map[int64]string, error) {
	resp, err := c.cli.Get(ctx, c.keys.members(), clientv3.WithPrefix())
	if err != nil {
		return nil, c.unavailable("list members", err)
	}
	out := make(map[int64]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[kv.Lease] = strings.TrimPrefix(string(kv.Key), c.keys.members())
	}
	return out, nil
}

// Sync makes one round trip to etcd and reports whether it answered: the
// proof a node needs before an action the contract allows only while etcd
// answers (a removal), which the passive Ready may not know yet in the
// first seconds of a freeze.
func (c *Cluster) Sync(ctx context.Context) error {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	if _, err := c.cli.Get(cctx, c.keys.members(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		return c.unavailable("reach etcd", err)
	}
	c.health.answered()
	return nil
}
