package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotcert/hotcert/store"
)

// TestPutSeenByOtherNode: a record one node writes reaches the other
// through Changes and Get, with its bundle, and lands in the other's local
// copy; a node is not told of its own writes; RemovedAt stays with the node
// that set it and costs no etcd write.
func TestPutSeenByOtherNode(t *testing.T) {
	e, a, b := twoNodes(t)
	v1 := record("www", "v1")
	if err := a.Put(v1); err != nil {
		t.Fatal(err)
	}
	if got := nextChange(t, b); got != "www" {
		t.Fatalf("b saw a change of %q, want www", got)
	}
	got, err := b.Get("www")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "b.Get", got, v1)
	local, err := b.opt.Local.Get("www")
	if err != nil {
		t.Fatalf("b's local copy: %v", err)
	}
	sameRecord(t, "b's local copy", local, v1)

	// Changes come in revision order, so had a been told of its own write,
	// that would come before b's.
	if err := b.Put(record("api", "v1")); err != nil {
		t.Fatal(err)
	}
	if got := nextChange(t, a); got != "api" {
		t.Fatalf("a's first change is %q: its own write was reported to it", got)
	}

	cli := raw(t, e)
	before := count(t, cli, a.keys.certs())
	removed := v1.Clone()
	removed.RemovedAt = time.Now().Truncate(time.Second)
	if err := a.Put(removed); err != nil {
		t.Fatal(err)
	}
	if ga, _ := a.Get("www"); !ga.RemovedAt.Equal(removed.RemovedAt) {
		t.Errorf("a lost its RemovedAt: %v", ga.RemovedAt)
	}
	if gb, _ := b.Get("www"); !gb.RemovedAt.IsZero() {
		t.Errorf("b got a's RemovedAt: %v", gb.RemovedAt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, a.keys.state("www"))
	if err != nil || resp.Kvs[0].Version != 1 || count(t, cli, a.keys.certs()) != before {
		t.Errorf("a per-node change was written to etcd (version %d)", resp.Kvs[0].Version)
	}
}

// TestStalePutRefused: a plain Put from a node whose copy is older than
// etcd's (another node wrote since it read) is refused with ErrFenced and
// leaves etcd alone; once the node reads again, its Put goes through.
func TestStalePutRefused(t *testing.T) {
	_, a, b := twoNodes(t)
	if err := a.Put(record("www", "v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("www"); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(record("www", "v2")); err != nil {
		t.Fatal(err)
	}
	if got := nextChange(t, a); got != "www" {
		t.Fatalf("a saw %q", got)
	}
	stale := record("www", "v1")
	stale.Attempts = 1
	if err := a.Put(stale); !errors.Is(err, ErrFenced) {
		t.Fatalf("Put of a copy older than etcd's: %v, want ErrFenced", err)
	}
	got, err := a.Get("www")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "after the refused Put", got, record("www", "v2"))
	got.Attempts = 1
	if err := a.Put(got); err != nil {
		t.Fatalf("Put after reading again: %v", err)
	}
	if got, _ := b.Get("www"); got.Attempts != 1 || got.Spec != "v2" {
		t.Fatalf("b sees %+v", got)
	}
}

// TestDeleteKeepsWantedRecord: Delete removes the shared record only once
// no other node wants it; until then only the local copy goes.
func TestDeleteKeepsWantedRecord(t *testing.T) {
	e, a, b := twoNodes(t)
	cli := raw(t, e)
	wants := func(n int64) func() error {
		return func() error {
			if got := count(t, cli, a.keys.wantsOf("www")); got != n {
				return errors.New("wants keys not published yet")
			}
			return nil
		}
	}
	a.Want([]string{"www"})
	b.Want([]string{"www", "api"})
	if err := a.Put(record("www", "v1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two wants", 5*time.Second, wants(2))
	a.Want(nil)
	waitFor(t, "b's want alone", 5*time.Second, wants(1))

	if err := a.Delete("www"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("www"); err != nil {
		t.Fatalf("the record b wants is gone: %v", err)
	}
	if _, err := a.opt.Local.Get("www"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a's local copy: %v, want ErrNotFound", err)
	}

	b.Want([]string{"api"})
	waitFor(t, "no wants", 5*time.Second, wants(0))
	if err := a.Delete("www"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("www"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b.Get after the last want went: %v, want ErrNotFound", err)
	}
	if n := count(t, cli, a.keys.cert("www")); n != 0 {
		t.Fatalf("%d keys of www left in etcd", n)
	}
}
