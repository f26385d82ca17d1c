package runtime

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFakeMapEntriesBackAfterRestartSeenByAFailedRescan: when the Loaded
// that notices a restart fails while reading the stores (a timeout among
// thousands of show ssl cert, the lock held by another writer), the
// challenge map entries HAProxy lost must still be put back by a later
// Loaded. Before, the failed rescan reset the client's view, so the next
// Loaded no longer saw a restart and a pending challenge stayed unanswered.
func TestFakeMapEntriesBackAfterRestartSeenByAFailedRescan(t *testing.T) {
	var mu sync.Mutex
	pid, uptime := 42, 100
	failStore := false
	f := newFake(t, nil)
	c := New(Options{Name: "fake1", Socket: f.sock, CertDir: "/etc/haproxy/certs", CrtList: "/etc/haproxy/list",
		Timeout: time.Second})
	info := infoScript(c, &mu, &pid, &uptime)
	f.setReply(func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "add map "), strings.HasPrefix(cmd, "del map "):
			return ""
		case strings.HasPrefix(cmd, "get map "):
			return `type=str, case=sensitive, found=yes, idx=tree, key="tok", value="tok.thumb", type="str", value="tok.thumb"`
		case cmd == "show ssl cert "+c.Path("a"):
			mu.Lock()
			fail := failStore
			mu.Unlock()
			if fail {
				return closeNow
			}
		}
		return info(cmd)
	})
	ctx := context.Background()
	_, err := c.Loaded(ctx)
	must(t, err)
	must(t, c.AddMapEntry(ctx, "/etc/haproxy/acme.map", "tok", "tok.thumb"))

	mu.Lock()
	pid, failStore = 43, true // restarted, and the rescan fails
	mu.Unlock()
	if _, err := c.Loaded(ctx); err == nil {
		t.Fatal("Loaded succeeded while a store could not be read")
	}
	mu.Lock()
	failStore = false
	mu.Unlock()
	before := len(f.commands())
	_, err = c.Loaded(ctx)
	must(t, err)
	if sent := f.commands()[before:]; !slices.Contains(sent, "add map /etc/haproxy/acme.map tok tok.thumb") {
		t.Fatalf("Loaded after the failed rescan sent %q, want the lost map entry added back", sent)
	}
}
