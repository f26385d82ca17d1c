package runtime

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkHotUpdate renews one certificate in place while HAProxy holds
// 1,000: the full Push (disk, show, set, commit, crt-list check, verify).
func BenchmarkHotUpdate(b *testing.B) {
	ca := newCA(b)
	h := newHAProxy(b, ca)
	c := h.client("lb1")
	list, err := os.OpenFile(h.crtList, os.O_APPEND|os.O_WRONLY, 0)
	must(b, err)
	for i := range 1000 {
		name := fmt.Sprintf("site%04d", i)
		bundle, _ := ca.leaf(b, "ecdsa", name+".test")
		must(b, os.WriteFile(c.Path(name), bundle, 0o600))
		fmt.Fprintln(list, c.Path(name))
	}
	must(b, list.Close())
	start := time.Now()
	h.start(b)
	b.Logf("HAProxy started with 1,000 certificates in %v", time.Since(start))
	renewals := make([][]byte, 8)
	for i := range renewals {
		renewals[i], _ = ca.leaf(b, "ecdsa", "site0500.test")
	}
	ctx := ctx(b)
	// Push: everything, including the fsyncs of the PEM file and directory.
	b.Run("push", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := c.Push(ctx, "site0500", renewals[i%len(renewals)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// socket: only the runtime API exchange (show, set, commit, crt-list check).
	b.Run("socket", func(b *testing.B) {
		path := c.Path("site0500")
		for i := 0; b.Loop(); i++ {
			bd, err := sanitise(renewals[i%len(renewals)])
			must(b, err)
			if err := c.load(ctx, "site0500", "set ssl cert "+path+" <<\n"+string(bd.pem), bd.serial); err != nil {
				b.Fatal(err)
			}
		}
	})
}
