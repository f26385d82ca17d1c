package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hotcert/hotcert/store"
)

// importLocal moves a standalone node's state into etcd, once per node and
// etcd: every record etcd lacks, and the account if etcd has none, each
// with a create-only transaction, so etcd's copy wins where both exist and
// a node that ran alone places no new orders. imported/<node> marks it
// done; without the mark, a restart would bring back, from the local copy,
// every record that the cluster deleted meanwhile. (An etcd that lost
// everything has lost the marks too, and the nodes' copies refill it.)
func (c *Cluster) importLocal(ctx context.Context) error {
	if c.isImported() {
		return nil
	}
	mark := c.keys.imported(c.opt.Node)
	cctx, cancel := callCtx(ctx)
	resp, err := c.cli.Get(cctx, mark)
	cancel()
	if err != nil {
		return c.unavailable("import", err)
	}
	var at int64
	if len(resp.Kvs) > 0 {
		at = resp.Kvs[0].ModRevision
	} else if at, err = c.importAll(ctx, mark); err != nil {
		return err
	}
	c.mu.Lock()
	c.importedAt = at
	c.mu.Unlock()
	return nil
}

// importAll writes the local records and account etcd lacks, then the
// mark, and returns the mark's revision.
func (c *Cluster) importAll(ctx context.Context, mark string) (int64, error) {
	recs, err := c.opt.Local.List()
	if err != nil {
		return 0, fmt.Errorf("import: %w", err)
	}
	moved := 0
	for _, r := range recs {
		ok, _, err := c.createOnly(ctx, c.keys.state(r.Name), c.keys.changeOps(r, digest{}))
		if err != nil {
			return 0, fmt.Errorf("import %s: %w", r.Name, err)
		}
		if ok {
			moved++
		}
	}
	account := false
	a, err := c.opt.Local.Account()
	switch {
	case err == nil:
		if account, _, err = c.createOnly(ctx, c.keys.account(), []clientv3.Op{clientv3.OpPut(c.keys.account(), accountValue(a))}); err != nil {
			return 0, fmt.Errorf("import account: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("import: %w", err)
	}
	done, _ := json.Marshal(map[string]any{"at": c.opt.Now(), "records": moved, "account": account})
	_, at, err := c.createOnly(ctx, mark, []clientv3.Op{clientv3.OpPut(mark, string(done))})
	if err != nil {
		return 0, fmt.Errorf("import: %w", err)
	}
	if len(recs) > 0 || account {
		c.log.Info("cluster: moved this node's standalone state into etcd", "records", moved,
			"kept_etcds", len(recs)-moved, "account", account)
	}
	return at, nil
}

// createOnly writes ops if key does not exist, and reports whether it did
// and the revision etcd was at after the transaction.
func (c *Cluster) createOnly(ctx context.Context, key string, ops []clientv3.Op) (bool, int64, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	resp, err := c.cli.Txn(cctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(ops...).Commit()
	if err != nil {
		return false, 0, c.unavailable("create "+key, err)
	}
	return resp.Succeeded, resp.Header.Revision, nil
}
