package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/store"
)

// hub is a shared store with claims, as etcd is to a cluster of nodes.
type hub struct {
	*fakeStore
	mu     sync.Mutex
	claims map[string]string // cert -> node
	nodes  map[string]*fakeCluster
	down   error
}

func newHub(recs ...*store.Record) *hub {
	return &hub{fakeStore: newFakeStore(recs...), claims: map[string]string{}, nodes: map[string]*fakeCluster{}}
}

func (h *hub) node(name string) *fakeCluster {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := &fakeCluster{hub: h, name: name, changes: make(chan string, 64)}
	h.nodes[name] = n
	return n
}

func (h *hub) setDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = err
}

// fakeCluster is one node's view of the hub.
type fakeCluster struct {
	hub     *hub
	name    string
	changes chan string
}

func (c *fakeCluster) Ready() error {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.hub.down
}

func (c *fakeCluster) Want([]string)              {}
func (c *fakeCluster) Sync(context.Context) error { return c.Ready() }
func (c *fakeCluster) Changes() <-chan string     { return c.changes }

func (c *fakeCluster) Claim(_ context.Context, name string) (Claim, error) {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	if c.hub.down != nil {
		return nil, c.hub.down
	}
	if owner, ok := c.hub.claims[name]; ok && owner != c.name {
		return nil, fmt.Errorf("%s: %w", owner, ErrClaimed)
	}
	c.hub.claims[name] = c.name
	return &fakeClaim{c: c, name: name}, nil
}

// Put through the node's store (unclaimed writes: per-node fields).
func (c *fakeCluster) store() Store { return nodeStore{c} }

type nodeStore struct{ c *fakeCluster }

func (s nodeStore) List() ([]*store.Record, error)      { return s.c.hub.List() }
func (s nodeStore) Get(n string) (*store.Record, error) { return s.c.hub.Get(n) }
func (s nodeStore) Put(r *store.Record) error           { return s.c.hub.Put(r) }
func (s nodeStore) Delete(n string) error               { return s.c.hub.Delete(n) }

type fakeClaim struct {
	c    *fakeCluster
	name string
}

func (cl *fakeClaim) Fresh() (*store.Record, error) { return cl.c.hub.Get(cl.name) }

func (cl *fakeClaim) Put(r *store.Record) error {
	h := cl.c.hub
	h.mu.Lock()
	if h.claims[cl.name] != cl.c.name {
		h.mu.Unlock()
		return errors.New("fenced: the claim was lost")
	}
	others := []*fakeCluster{}
	for n, node := range h.nodes {
		if n != cl.c.name {
			others = append(others, node)
		}
	}
	h.mu.Unlock()
	if err := h.fakeStore.Put(r); err != nil {
		return err
	}
	for _, o := range others {
		o.changes <- cl.name
	}
	return nil
}

func (cl *fakeClaim) Release() {
	cl.c.hub.mu.Lock()
	defer cl.c.hub.mu.Unlock()
	if cl.c.hub.claims[cl.name] == cl.c.name {
		delete(cl.c.hub.claims, cl.name)
	}
}

func startNode(t *testing.T, h *hub, name string, iss *fakeIssuer) (*Daemon, *fakeHAProxy, func()) {
	c := h.node(name)
	lb := newFakeHAProxy(name)
	d := New(Options{Issuer: iss, Store: c.store(), Cluster: c, HAProxies: []HAProxy{lb}, Now: time.Now, Workers: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return d, lb, func() { cancel(); <-done }
}

// TestClusterOrdersOnceAndEveryNodeServes: two nodes that list the same
// certificate order it once, and both serve the same serial.
func TestClusterOrdersOnceAndEveryNodeServes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub()
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
		a, lbA, stopA := startNode(t, h, "a", iss)
		defer stopA()
		b, lbB, stopB := startNode(t, h, "b", iss)
		defer stopB()
		a.SetDesired(desired(cert("shop", "shop.test")))
		b.SetDesired(desired(cert("shop", "shop.test")))
		time.Sleep(time.Minute)
		settle()
		if n := iss.count(); n != 1 {
			t.Fatalf("two nodes placed %d orders for one certificate", n)
		}
		sa, sb := lbA.served("shop"), lbB.served("shop")
		if sa == nil || sb == nil || sa.Cmp(sb) != 0 {
			t.Fatalf("node a serves %v, node b serves %v; want the same serial", sa, sb)
		}
	})
}

// TestClusterStoreAwayOrdersAndRemovesNothing: while the shared store does
// not answer, a node orders nothing and removes nothing, and keeps pushing
// what it holds; it converges once the store answers.
func TestClusterStoreAwayOrdersAndRemovesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kept, gone := cert("kept", "kept.test"), cert("gone", "gone.test")
		rk, _ := validRecord(t, kept, time.Now())
		rg, sg := validRecord(t, gone, time.Now())
		h := newHub(rk, rg)
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
		h.setDown(errors.New("etcd does not answer"))
		d, lb, stop := startNode(t, h, "a", iss)
		defer stop()
		lb.serving["gone"] = sg
		d.SetDesired(desired(kept, cert("new", "new.test")))
		time.Sleep(time.Minute)
		settle()
		if lb.served("kept") == nil {
			t.Fatal("a certificate the node holds was not pushed while the store was away")
		}
		if n := iss.count(); n != 0 {
			t.Fatalf("%d orders while the shared store was away", n)
		}
		if lb.served("gone") == nil {
			t.Fatal("a removal went ahead while the shared store was away")
		}
		if down := d.Probe(context.Background()); down["cluster store"] == "" {
			t.Fatalf("Probe = %v; want the cluster store reported", down)
		}
		h.setDown(nil)
		time.Sleep(time.Minute)
		settle()
		if iss.count() != 1 || lb.served("new") == nil || lb.served("gone") != nil {
			t.Fatalf("after the store came back: %d orders, new served %v, gone served %v", iss.count(), lb.served("new"), lb.served("gone"))
		}
	})
}

// TestClusterTakesOverADeadNodesClaim: a node that finds another node's
// claim waits for its result; when that node dies without one (its claim
// lapses), this node orders, counting the interrupted order.
func TestClusterTakesOverADeadNodesClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cert("shop", "shop.test")
		h := newHub(&store.Record{Name: "shop", Ordering: true, Attempts: 0, Spec: specOf(c), Bundles: map[string]store.Bundle{}})
		h.claims["shop"] = "dead"
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
		d, lb, stop := startNode(t, h, "a", iss)
		defer stop()
		d.SetDesired(desired(c))
		time.Sleep(30 * time.Second)
		settle()
		if n := iss.count(); n != 0 {
			t.Fatalf("ordered %d times while another node held the claim", n)
		}
		h.mu.Lock()
		delete(h.claims, "shop") // the dead node's lease ran out
		h.mu.Unlock()
		time.Sleep(10 * time.Second)
		settle()
		if iss.count() != 1 || lb.served("shop") == nil {
			t.Fatalf("after the claim lapsed: %d orders, served %v", iss.count(), lb.served("shop"))
		}
	})
}
