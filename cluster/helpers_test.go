package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/hotcert/hotcert/internal/etcdlab"
	"github.com/hotcert/hotcert/store"
)

// testTTL is the tests' lease. etcd grants 2 s with the lab's election
// timeout, but a race-detector build on a loaded machine can miss the
// keepalives of so short a lease, ending a session the test needs alive.
const testTTL = 4 * time.Second

func newLocal(t *testing.T) *store.File {
	t.Helper()
	f, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// open starts a node on e; local nil means an empty state directory.
func open(t *testing.T, e *etcdlab.Etcd, node string, local *store.File) *Cluster {
	t.Helper()
	if local == nil {
		local = newLocal(t)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil)).With("node", node)
	c, err := Open(context.Background(), Options{Node: node, Endpoints: e.Endpoints(), LeaseTTL: testTTL,
		Local: local, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// twoNodes starts an etcd and two ready nodes on it.
func twoNodes(t *testing.T) (*etcdlab.Etcd, *Cluster, *Cluster) {
	e := etcdlab.Start(t)
	a, b := open(t, e, "a", nil), open(t, e, "b", nil)
	waitReady(t, a)
	waitReady(t, b)
	return e, a, b
}

// waitFor polls cond until it returns nil, or fails the test with its last
// error after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitReady(t *testing.T, c *Cluster) {
	t.Helper()
	waitFor(t, c.opt.Node+" ready", 10*time.Second, c.Ready)
	// and its keys published, so that the others see it as a member
	waitFor(t, c.opt.Node+" published", 5*time.Second, func() error {
		s := c.session()
		if s == nil {
			return errors.New("no session")
		}
		if c.leased.plan(s.Lease()) != nil {
			return errors.New("keys not written yet")
		}
		return nil
	})
}

// nextChange is the next name c reports on Changes.
func nextChange(t *testing.T, c *Cluster) string { t.Helper(); return next(t, c, c.Changes()) }

func nextToken(t *testing.T, c *Cluster) TokenEvent { t.Helper(); return next(t, c, c.Tokens()) }

func next[T any](t *testing.T, c *Cluster, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing reported within 5s", c.opt.Node)
		var zero T
		return zero
	}
}

// record is a certificate record with an ECDSA bundle; serial tells
// versions apart (the store does not parse PEM).
func record(name, serial string) *store.Record {
	pem := fmt.Sprintf("-----BEGIN CERTIFICATE-----\n%s %s\n-----END CERTIFICATE-----\n", name, serial)
	return &store.Record{Name: name, Domains: []string{name + ".example"}, KeyTypes: []string{"ecdsa"},
		Bundles: map[string]store.Bundle{"ecdsa": {KeyType: "ecdsa", PEM: []byte(pem)}}, Spec: serial}
}

// sameRecord fails unless got is want's version (Spec and bundle).
func sameRecord(t *testing.T, who string, got *store.Record, want *store.Record) {
	t.Helper()
	if got.Spec != want.Spec || string(got.Bundles["ecdsa"].PEM) != string(want.Bundles["ecdsa"].PEM) {
		t.Fatalf("%s: got version %q (%q), want %q", who, got.Spec, got.Bundles["ecdsa"].PEM, want.Spec)
	}
}

// raw is a plain etcd client, for what a test does behind the nodes' backs.
func raw(t *testing.T, e *etcdlab.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func count(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
