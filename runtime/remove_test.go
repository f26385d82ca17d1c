package runtime

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// Removing a certificate from a crt-list file that is missing or empty has
// nothing to take out, so it must write nothing: a file holding only a
// newline is an empty crt-list, which HAProxy refuses to start with.
func TestFakeRemoveFromMissingCrtListWritesNothing(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	f.setReply(script(c, nil))
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	list := c.opts.CrtList

	must(t, os.Remove(list))
	must(t, c.Remove(ctx(t), "shop"))
	if _, err := os.Stat(list); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removing from a missing crt-list created it: %v", err)
	}

	must(t, os.WriteFile(list, nil, 0o600))
	must(t, c.Remove(ctx(t), "shop"))
	if got, err := os.ReadFile(list); err != nil || len(got) != 0 {
		t.Fatalf("removing from an empty crt-list left %q (%v)", got, err)
	}
}

// A removal costs the same whatever HAProxy holds: it reads neither the
// store listing nor the crt-list, and takes out an empty store and one with
// a leftover transaction of ours too.
func TestRemoveReadsNoListing(t *testing.T) {
	h, c, bundle := shopPushed(t)
	var log bytes.Buffer
	c.log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	must(t, c.Push(ctx(t), "open", bundle))
	if out := h.raw(t, "set ssl cert "+c.Path("open")+" <<\n"+string(bundle)); !strings.Contains(out, "Transaction created") {
		t.Fatalf("set ssl cert: %q", out)
	}
	if out := h.raw(t, "new ssl cert "+c.Path("empty")); !strings.Contains(out, "New empty") {
		t.Fatalf("new ssl cert: %q", out)
	}
	log.Reset()
	for _, name := range []string{"shop", "open", "empty", "never"} {
		must(t, c.Remove(ctx(t), name))
	}
	for _, listing := range []string{`cmd="show ssl cert"`, `cmd="show ssl crt-list`} {
		if strings.Contains(log.String(), listing) {
			t.Fatalf("Remove read a whole listing (%s):\n%s", listing, log.String())
		}
	}
	_, stores, err := c.stores(ctx(t))
	must(t, err)
	for _, s := range stores {
		if strings.HasPrefix(s, h.certDir) {
			t.Fatalf("store %s left after the removals; stores %q", s, stores)
		}
	}
	sameSerial(t, "shop.test after removal", servedSerial(t, h.https, "shop.test", nil), h.placeholderSerial)
}

// A store someone listed twice in HAProxy's crt-list has both entries
// taken out.
func TestRemoveSeveralEntries(t *testing.T) {
	h, c, _ := shopPushed(t)
	if out := h.raw(t, "add ssl crt-list "+h.crtList+" "+c.Path("shop")); !strings.Contains(out, "Success!") {
		t.Fatalf("add ssl crt-list: %q", out)
	}
	must(t, c.Remove(ctx(t), "shop"))
	lines, err := c.listed(ctx(t), c.Path("shop"))
	must(t, err)
	if len(lines) != 0 {
		t.Fatalf("HAProxy's crt-list still holds shop at lines %v", lines)
	}
	if _, err := c.Serial(ctx(t), "shop"); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Serial after removal: %v, want ErrNotLoaded", err)
	}
}

// shopPushed is a real HAProxy serving certificate shop, pushed by c.
func shopPushed(t *testing.T) (*haproxy, *Client, []byte) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, _ := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))
	return h, c, bundle
}
