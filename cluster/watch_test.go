package cluster

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWatchEndsOnCompaction: a watch asked for revisions etcd compacted
// away ends at once, so that follow lists the prefix again instead of
// waiting on a watch that will never deliver them.
func TestWatchEndsOnCompaction(t *testing.T) {
	e, a := startOne(t, "a")
	cli := raw(t, e)
	ctx := context.Background()
	var rev int64
	for _, v := range []string{"1", "2", "3"} {
		resp, err := cli.Put(ctx, a.keys.challenge("t"), v)
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		a.watch(ctx, a.keys.challenges(), 1, func(context.Context, []*clientv3.Event) {})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch from a compacted revision did not end")
	}
	// and the node's own watch still follows: the cache has the last value
	waitFor(t, "the cache follows", 5*time.Second, func() error {
		if v, ok := a.KeyAuth("t"); !ok || v != "3" {
			return context.DeadlineExceeded
		}
		return nil
	})
}
