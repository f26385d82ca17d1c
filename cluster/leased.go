package cluster

import (
	"context"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leased holds the keys that live only as long as this node's session
// (member key, wants, pending tokens): want is what this node means to have
// in etcd, have what it wrote under the current lease. A new lease starts
// with nothing written, so everything is written again under it.
type leased struct {
	mu    sync.Mutex
	want  map[string]string
	have  map[string]string
	lease clientv3.LeaseID
	// syncMu keeps one sync at a time: two would race a stale put past a
	// newer delete.
	syncMu sync.Mutex
}

// stale is the value have records for a key this node may have left in
// etcd and must delete (a claim whose lock or unlock did not complete).
const stale = "\x00stale"

// maxTxnOps keeps each write well under etcd's --max-txn-ops (128).
const maxTxnOps = 64

func newLeased() *leased {
	return &leased{want: map[string]string{}, have: map[string]string{}}
}

func (l *leased) set(key, val string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[key] = val
}

func (l *leased) unset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.want, key)
}

func (l *leased) value(key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.want[key]
	return v, ok
}

// replace makes vals the wanted keys under prefix.
func (l *leased) replace(prefix string, vals map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.want {
		if _, keep := vals[k]; strings.HasPrefix(k, prefix) && !keep {
			delete(l.want, k)
		}
	}
	for k, v := range vals {
		l.want[k] = v
	}
}

// begin starts a new lease: nothing is written under it yet.
func (l *leased) begin(lease clientv3.LeaseID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lease, l.have = lease, map[string]string{}
}

// clean marks a key written under lease for deletion by the next sync.
func (l *leased) clean(lease clientv3.LeaseID, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease == l.lease {
		l.have[key] = stale
	}
}

// keep withdraws a clean: the key is in use again.
func (l *leased) keep(lease clientv3.LeaseID, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease == l.lease && l.have[key] == stale {
		delete(l.have, key)
	}
}

type change struct {
	key, val string
	del      bool
}

// plan lists the writes that bring etcd to want under lease.
func (l *leased) plan(lease clientv3.LeaseID) []change {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease != l.lease {
		return nil // a session that has ended
	}
	var out []change
	for k, v := range l.want {
		if h, ok := l.have[k]; !ok || h != v {
			out = append(out, change{key: k, val: v})
		}
	}
	for k := range l.have {
		if _, ok := l.want[k]; !ok {
			out = append(out, change{key: k, del: true})
		}
	}
	return out
}

// done records writes that etcd took under lease.
func (l *leased) done(lease clientv3.LeaseID, cs []change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease != l.lease {
		return
	}
	for _, ch := range cs {
		if ch.del {
			delete(l.have, ch.key)
		} else {
			l.have[ch.key] = ch.val
		}
	}
}

// sync writes the planned changes in transactions of at most maxTxnOps,
// each within callTimeout.
func (l *leased) sync(ctx context.Context, cli *clientv3.Client, lease clientv3.LeaseID, h *health) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	cs := l.plan(lease)
	for len(cs) > 0 {
		n := min(len(cs), maxTxnOps)
		ops := make([]clientv3.Op, n)
		for i, ch := range cs[:n] {
			ops[i] = clientv3.OpPut(ch.key, ch.val, clientv3.WithLease(lease))
			if ch.del {
				ops[i] = clientv3.OpDelete(ch.key)
			}
		}
		cctx, cancel := callCtx(ctx)
		_, err := cli.Txn(cctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			h.failed(err)
			return err
		}
		h.answered()
		l.done(lease, cs[:n])
		cs = cs[n:]
	}
	return nil
}
