package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/hotcert/hotcert/store"
)

// Claim is this node's right to order one certificate: a concurrency.Mutex
// on claims/<name>, held under this node's session. Its writes are fenced:
// etcd takes them only while the lock is still this session's and the
// record is as the claim last read or wrote it.
type Claim struct {
	c     *Cluster
	name  string
	sess  *concurrency.Session
	mutex *concurrency.Mutex
	key   string // the lock's key, deleted in the background if Unlock fails

	mu   sync.Mutex
	rev  int64  // the state key's mod revision as last read (0: no record)
	base digest // etcd's record at rev
	once sync.Once
}

// Claim takes the claim on name if no node holds it (TryLock: it never
// waits). ErrClaimed names the node that holds it; ErrUnavailable means
// etcd did not answer, or this node has no session. The claim reads the
// record, so a Put without Fresh is fenced against what etcd held then.
func (c *Cluster) Claim(ctx context.Context, name string) (*Claim, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	// A session's Mutex lets the same session lock twice; two claims of
	// one node on one name must exclude each other too.
	c.mu.Lock()
	_, busy := c.held[name]
	if !busy {
		c.held[name] = nil
	}
	c.mu.Unlock()
	if busy {
		return nil, fmt.Errorf("claim %s: %w by %s (this node)", name, ErrClaimed, c.opt.Node)
	}
	cl, err := c.claim(ctx, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.held, name)
		return nil, err
	}
	c.held[name] = cl
	return cl, nil
}

func (c *Cluster) claim(ctx context.Context, name string) (*Claim, error) {
	op := "claim " + name
	s := c.session()
	if s == nil {
		return nil, fmt.Errorf("%s: %w: %w", op, ErrUnavailable, errNoSession)
	}
	cctx, cancel := callCtx(ctx)
	defer cancel()
	m := concurrency.NewMutex(s, c.keys.claim(name))
	key := c.keys.claimKey(name, s.Lease())
	err := m.TryLock(cctx)
	switch {
	case errors.Is(err, concurrency.ErrLocked):
		c.health.answered()
		return nil, fmt.Errorf("%s: %w by %s", op, ErrClaimed, c.holder(cctx, name))
	case err != nil:
		// The lock may have been taken and the answer lost: delete it in
		// the background rather than keep others out until the lease ends.
		c.leased.clean(s.Lease(), key)
		c.kickSync()
		return nil, c.unavailable(op, err)
	}
	c.health.answered()
	c.leased.keep(s.Lease(), key)
	cl := &Claim{c: c, name: name, sess: s, mutex: m, key: key, rev: unknown}
	if _, err := cl.Fresh(); err != nil && !errors.Is(err, store.ErrNotFound) {
		cl.unlock()
		return nil, err
	}
	return cl, nil
}

// Fresh returns the record as etcd holds it now, and fences the claim's
// next Put against it: lock, check again, then work.
func (cl *Claim) Fresh() (*store.Record, error) {
	s, err := cl.c.read(context.Background(), cl.name)
	if err != nil {
		return nil, err
	}
	d, err := s.digest()
	if err != nil {
		return nil, err
	}
	cl.setBase(s.rev, d)
	return cl.c.take(s, false)
}

// Put writes r through the claim in one transaction that etcd applies only
// if the claim's lock key is still this session's and the record's mod
// revision is the one the claim last read; otherwise ErrFenced and nothing
// is written. A node whose lease expired can therefore never overwrite a
// record that a later claim wrote.
func (cl *Claim) Put(r *store.Record) error {
	c, op := cl.c, "save "+cl.name
	if r.Name != cl.name {
		return fmt.Errorf("%s: a claim on %s cannot write %s", op, cl.name, r.Name)
	}
	defer c.book.lock(cl.name)()
	select {
	case <-cl.sess.Done():
		return fmt.Errorf("%s: %w: the session's lease ended", op, ErrFenced)
	default:
	}
	d := digestRecord(r)
	cl.mu.Lock()
	rev, base := cl.rev, cl.base
	cl.mu.Unlock()
	if rev <= 0 || !d.equal(base) {
		resp, err := c.commit(cl.name, c.keys.changeOps(r, base), []clientv3.Op{clientv3.OpGet(cl.key)}, rev, cl.mutex.IsOwner())
		if err != nil {
			return c.unavailable(op, err)
		}
		if !resp.Succeeded {
			if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
				return fmt.Errorf("%s: %w: the claim was lost (its lease ended or its lock was deleted)", op, ErrFenced)
			}
			return fmt.Errorf("%s: %w: the record changed since the claim read it", op, ErrFenced)
		}
		c.wrote(cl.name, resp.Header.Revision, d)
		cl.setBase(resp.Header.Revision, d)
	}
	return c.saveLocal(r)
}

func (cl *Claim) setBase(rev int64, d digest) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.rev, cl.base = rev, d
}

// Release gives the claim up. An unlock that etcd does not take is
// retried in the background; the lock goes with the lease anyway.
func (cl *Claim) Release() {
	cl.once.Do(func() {
		c := cl.c
		c.mu.Lock()
		if c.held[cl.name] == cl {
			delete(c.held, cl.name)
		}
		c.mu.Unlock()
		cl.unlock()
	})
}

func (cl *Claim) unlock() {
	select {
	case <-cl.sess.Done():
		return // the lock went with the lease
	default:
	}
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	if err := cl.mutex.Unlock(ctx); err != nil {
		cl.c.leased.clean(cl.sess.Lease(), cl.key)
		cl.c.kickSync()
	}
}

// Claims maps each certificate that a node is ordering to that node.
func (c *Cluster) Claims(ctx context.Context) (map[string]string, error) {
	cctx, cancel := callCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(cctx, c.keys.claims(), clientv3.WithPrefix())
	if err != nil {
		return nil, c.unavailable("list claims", err)
	}
	owner := map[string]*mvccpb.KeyValue{} // the oldest lock key holds the lock
	for _, kv := range resp.Kvs {
		name, ok := c.keys.claimName(string(kv.Key))
		if o := owner[name]; ok && (o == nil || kv.CreateRevision < o.CreateRevision) {
			owner[name] = kv
		}
	}
	nodes, err := c.leaseNodes(cctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(owner))
	for name, kv := range owner {
		out[name] = nodeOf(nodes, kv.Lease)
	}
	return out, nil
}

// holder names the node whose lock on name is the oldest.
func (c *Cluster) holder(ctx context.Context, name string) string {
	resp, err := c.cli.Get(ctx, c.keys.claim(name)+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return "another node"
	}
	nodes, err := c.leaseNodes(ctx)
	if err != nil {
		return "another node"
	}
	return nodeOf(nodes, resp.Kvs[0].Lease)
}

func nodeOf(nodes map[int64]string, lease int64) string {
	if n, ok := nodes[lease]; ok {
		return n
	}
	// a session whose member key is not (or no longer) on its lease
	return fmt.Sprintf("an unknown node (lease %x)", lease)
}
