package runtime

import (
	"os"
	"testing"
)

// Two HAProxy on one host may share cert_dir and crt_list (the config
// refuses sharing only one of them): a renewal and a removal must reach both,
// including one that restarted from the shared files in between.
func TestSharedCertDirAndCrtList(t *testing.T) {
	ca := newCA(t)
	h1 := startHAProxy(t, ca)
	h2 := newHAProxy(t, ca)
	h2.certDir, h2.crtList = h1.certDir, h1.crtList
	must(t, os.WriteFile(h2.cfg, []byte(h2.config()), 0o644))
	h2.start(t)
	f := Fleet{h1.client("lb1"), h2.client("lb2")}
	push := func(what string, bundle []byte) {
		t.Helper()
		for _, r := range f.Push(ctx(t), "shop", bundle) {
			if r.Err != nil {
				t.Fatalf("%s on %s: %v", what, r.Instance, r.Err)
			}
		}
	}
	b1, _ := ca.leaf(t, "ecdsa", "shop.test")
	push("push", b1)
	if n := crtListLines(t, h1, f[0].Path("shop")); n != 1 {
		t.Fatalf("shared crt-list has %d lines for shop, want 1", n)
	}
	h1.restart(t)
	b2, s2 := ca.leaf(t, "ecdsa", "shop.test")
	push("renewal", b2)
	sameSerial(t, "restarted lb1 after renewal", servedSerial(t, h1.https, "shop.test", nil), s2)
	sameSerial(t, "lb2 after renewal", servedSerial(t, h2.https, "shop.test", nil), s2)
	for _, r := range f.Remove(ctx(t), "shop") {
		must(t, r.Err)
	}
	sameSerial(t, "lb1 after removal", servedSerial(t, h1.https, "shop.test", nil), h1.placeholderSerial)
	sameSerial(t, "lb2 after removal", servedSerial(t, h2.https, "shop.test", nil), h1.placeholderSerial) // the shared list names h1's
	if n := crtListLines(t, h1, f[0].Path("shop")); n != 0 {
		t.Fatalf("shared crt-list keeps %d lines for shop", n)
	}
}
