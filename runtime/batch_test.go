package runtime

import (
	"bytes"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Stores read many to a line from a real HAProxy: each reply goes to its
// own store, a missing and an empty store read as nil, and a small
// tune.bufsize splits the reads over several lines.
func TestReadStoresBatched(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	want := map[string]*big.Int{}
	var paths []string
	for _, name := range []string{"a", "b", "c"} {
		bundle, serial := ca.leaf(t, "ecdsa", name+".test")
		must(t, c.Push(ctx(t), name, bundle))
		want[c.Path(name)] = serial
		paths = append(paths, c.Path(name), c.Path("missing-"+name))
	}
	empty := c.Path("empty")
	if out := h.raw(t, "new ssl cert "+empty); !strings.Contains(out, "New empty certificate store") {
		t.Fatalf("new ssl cert: %q", out)
	}
	paths = append(paths, empty)
	for _, tc := range []struct {
		bufSize   int
		lines     int // at least
		lineLimit int // at most
	}{{bufSize: 0, lines: 1, lineLimit: 1}, {bufSize: 300, lines: 3, lineLimit: len(paths)}} {
		var log bytes.Buffer
		rc := New(Options{Name: "lb1", Socket: h.sock, CertDir: h.certDir, CrtList: h.crtList, Timeout: 5 * time.Second,
			BufSize: tc.bufSize, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		got := map[string]*big.Int{}
		must(t, rc.readStores(ctx(t), paths, func(path string, serial *big.Int) {
			if _, dup := got[path]; dup {
				t.Errorf("bufsize %d: %s read twice", tc.bufSize, path)
			}
			got[path] = serial
		}))
		for _, p := range paths {
			if w := want[p]; w == nil && got[p] != nil || w != nil && (got[p] == nil || got[p].Cmp(w) != 0) {
				t.Errorf("bufsize %d: %s = %X, want %X", tc.bufSize, p, got[p], w)
			}
		}
		if len(got) != len(paths) {
			t.Errorf("bufsize %d: %d stores reported, want %d", tc.bufSize, len(got), len(paths))
		}
		if n := strings.Count(log.String(), `cmd="show ssl cert" stores=`); n < tc.lines || n > tc.lineLimit {
			t.Errorf("bufsize %d: %d lines sent, want %d to %d", tc.bufSize, n, tc.lines, tc.lineLimit)
		}
	}
}
