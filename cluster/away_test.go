package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// TestEtcdAway: with etcd killed, Put and Claim fail with ErrUnavailable
// within a few seconds, List and Get answer from the local copy, a change
// of per-node fields still saves, and Ready says etcd is away; once etcd is
// back, Ready is nil again and Changes resume.
func TestEtcdAway(t *testing.T) {
	e, a, b := twoNodes(t)
	v1 := record("www", "v1")
	if err := a.Put(v1); err != nil {
		t.Fatal(err)
	}
	if got := nextChange(t, b); got != "www" {
		t.Fatalf("b saw %q", got)
	}

	e.Stop()
	start := time.Now()
	if err := a.Put(record("www", "v2")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with etcd stopped: %v, want ErrUnavailable", err)
	}
	if _, err := a.Claim(context.Background(), "api"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Claim with etcd stopped: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*callTimeout+time.Second {
		t.Fatalf("Put and Claim took %s", took)
	}
	waitFor(t, "b reports etcd away", testTTL+2*time.Second, func() error {
		if b.Ready() == nil {
			return errors.New("b is ready")
		}
		return nil
	})
	start = time.Now()
	recs, err := b.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("b.List with etcd stopped: %d records, %v", len(recs), err)
	}
	sameRecord(t, "b.List", recs[0], v1)
	got, err := b.Get("www")
	if err != nil {
		t.Fatalf("b.Get with etcd stopped: %v", err)
	}
	sameRecord(t, "b.Get", got, v1)
	if took := time.Since(start); took > time.Second {
		t.Errorf("local reads took %s", took)
	}
	removed := v1.Clone()
	removed.RemovedAt = time.Now()
	if err := b.Put(removed); err != nil {
		t.Fatalf("a per-node change with etcd stopped: %v", err)
	}

	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a)
	waitReady(t, b)
	for len(b.Changes()) > 0 {
		<-b.Changes()
	}
	if err := a.Put(record("www", "v3")); err != nil {
		t.Fatal(err)
	}
	if got := nextChange(t, b); got != "www" {
		t.Fatalf("after etcd came back, b saw %q", got)
	}
	got, err = b.Get("www")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "b.Get after etcd came back", got, record("www", "v3"))
	if got.RemovedAt.IsZero() {
		t.Error("b lost its RemovedAt")
	}
}

// TestOpenWithoutEtcd: with no etcd at all, Open succeeds, Ready says why
// not, reads answer from the local copy, writes fail with ErrUnavailable at
// once (no session), and Close does not hang.
func TestOpenWithoutEtcd(t *testing.T) {
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	local := newLocal(t)
	if err := local.Put(record("www", "alone")); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), Options{Node: "a", Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", port)},
		LeaseTTL: testTTL, Local: local})
	if err != nil {
		t.Fatalf("Open without etcd: %v", err)
	}
	if c.Ready() == nil {
		t.Fatal("ready without etcd")
	}
	recs, err := c.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("List without etcd: %d records, %v", len(recs), err)
	}
	start := time.Now()
	if err := c.Put(record("www", "v2")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put without etcd: %v", err)
	}
	if _, err := c.Claim(context.Background(), "www"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Claim without etcd: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("writes without a session took %s", took)
	}
	start = time.Now()
	c.Close()
	if took := time.Since(start); took > callTimeout+time.Second {
		t.Errorf("Close took %s", took)
	}
}
