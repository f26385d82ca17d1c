package cluster

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOneClaimWins: of two nodes claiming one certificate at once, one gets
// the claim and the other ErrClaimed naming the holder; Claims shows the
// holder; a second claim on the same node is refused too; once released,
// the other node can claim.
func TestOneClaimWins(t *testing.T) {
	_, a, b := twoNodes(t)
	ctx := context.Background()
	nodes := []*Cluster{a, b}
	claims, errs := make([]*Claim, 2), make([]error, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range nodes {
		wg.Go(func() {
			<-start
			claims[i], errs[i] = c.Claim(ctx, "www")
		})
	}
	close(start)
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("claims: a: %v, b: %v; want exactly one to succeed", errs[0], errs[1])
	}
	win, lose := 0, 1
	if errs[0] != nil {
		win, lose = 1, 0
	}
	winner, loser := nodes[win], nodes[lose]
	err := errs[lose]
	if !errors.Is(err, ErrClaimed) || !strings.Contains(err.Error(), "by "+winner.opt.Node) {
		t.Fatalf("loser's error: %v; want ErrClaimed by %s", err, winner.opt.Node)
	}
	held, err := loser.Claims(ctx)
	if err != nil || held["www"] != winner.opt.Node {
		t.Fatalf("Claims: %v, %v; want www held by %s", held, err, winner.opt.Node)
	}
	if _, err := winner.Claim(ctx, "www"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a second claim on the holding node: %v, want ErrClaimed", err)
	}
	if err := claims[win].Put(record("www", "v1")); err != nil {
		t.Fatal(err)
	}
	claims[win].Release()
	cl, err := loser.Claim(ctx, "www")
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	got, err := cl.Fresh()
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "Fresh", got, record("www", "v1"))
	cl.Release()
}

// TestFenced: a claim's write is refused (ErrFenced) once it no longer
// holds: its lock key deleted while the session lives (etcd's compare
// refuses), its lease revoked after another node claimed and wrote, or the
// record changed by a plain Put since the claim read it.
func TestFenced(t *testing.T) {
	e, a, b := twoNodes(t)
	cli := raw(t, e)
	ctx := context.Background()

	cl, err := a.Claim(ctx, "www")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, cl.key); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(record("www", "late")); !errors.Is(err, ErrFenced) {
		t.Fatalf("Put after the lock key went: %v, want ErrFenced", err)
	}
	cl.Release()

	cl, err = a.Claim(ctx, "www")
	if err != nil {
		t.Fatal(err)
	}
	revoked := cl.sess.Lease()
	if _, err := cli.Revoke(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	clb := takeOver(t, b, cl)

	if _, err := a.Get("www"); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(record("www", "plain")); err != nil {
		t.Fatal(err)
	}
	if err := clb.Put(record("www", "b2")); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("Put after another node's plain Put: %v, want ErrFenced (record changed)", err)
	}
	if _, err := clb.Fresh(); err != nil {
		t.Fatal(err)
	}
	if err := clb.Put(record("www", "b2")); err != nil {
		t.Fatalf("Put after Fresh: %v", err)
	}
	clb.Release()
	waitFor(t, "a replaces its revoked session", 5*time.Second, func() error {
		if s := a.session(); s == nil || s.Lease() == revoked {
			return errors.New("still on the revoked lease")
		}
		return nil
	})
	waitReady(t, a)
}

// TestFencedAfterFreeze: etcd frozen past the lease TTL ends the holder's
// session; after the thaw another node claims and writes, and the old
// claim's write is refused.
func TestFencedAfterFreeze(t *testing.T) {
	e, a, b := twoNodes(t)
	ctx := context.Background()
	cl, err := a.Claim(ctx, "www")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's session ends", testTTL+3*time.Second, func() error {
		select {
		case <-cl.sess.Done():
			return nil
		default:
			return errors.New("session lives")
		}
	})
	if a.Ready() == nil {
		t.Error("a is ready with etcd frozen")
	}
	if err := e.Thaw(); err != nil {
		t.Fatal(err)
	}
	takeOver(t, b, cl).Release()
	waitReady(t, a)
}

// takeOver has b claim the certificate of the lost claim old and write
// version "b", then checks that old's write is refused and changes
// nothing.
func takeOver(t *testing.T, b *Cluster, old *Claim) *Claim {
	t.Helper()
	var cl *Claim
	waitFor(t, "b claims", 10*time.Second, func() (err error) {
		cl, err = b.Claim(context.Background(), old.name)
		return err
	})
	if err := cl.Put(record(old.name, "b")); err != nil {
		t.Fatal(err)
	}
	if err := old.Put(record(old.name, "late")); !errors.Is(err, ErrFenced) {
		t.Fatalf("Put of the lost claim: %v, want ErrFenced", err)
	}
	got, err := b.Get(old.name)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "after the fenced write", got, record(old.name, "b"))
	return cl
}
