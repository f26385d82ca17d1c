package integration

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// TestEndToEnd issues one certificate for two names from the domains file,
// through a real HAProxy and Pebble with its defaults (nonce rejection,
// validation sleep), and checks what HAProxy serves over TLS with SNI.
// Validation really goes CA -> HAProxy -> hotcert's challenge backend.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test, www.shop.example.test]\n")
	pidBefore := h.pid()
	p := e.start()

	leaf := h.waitServed("shop.example.test", e.bundle(0, "shop"), 90*time.Second)
	other := h.waitServed("www.shop.example.test", e.bundle(0, "shop"), 5*time.Second)
	if other.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("the two names get different certificates: %x vs %x", leaf.SerialNumber, other.SerialNumber)
	}
	onDisk, err := lab.LeafFile(e.bundle(0, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf.RawIssuer, onDisk.RawIssuer) || leaf.Issuer.String() == "" {
		t.Fatalf("served issuer %q differs from the bundle's %q", leaf.Issuer, onDisk.Issuer)
	}
	if !strings.Contains(strings.ToLower(leaf.Issuer.String()), "pebble") {
		t.Fatalf("served certificate was not issued by the test CA: issuer %q", leaf.Issuer)
	}
	assertChainVerifies(t, e, e.bundle(0, "shop"), "shop.example.test")
	assertMode(t, e.bundle(0, "shop"), 0o600)
	list, _ := os.ReadFile(h.CrtList)
	if !strings.Contains(string(list), e.bundle(0, "shop")) {
		t.Fatalf("crt-list file lacks the certificate line:\n%s", list)
	}
	if got := h.pid(); got != pidBefore {
		t.Fatalf("HAProxy pid changed from %d to %d: it was restarted or reloaded", pidBefore, got)
	}
	if !h.Running() {
		t.Fatal("HAProxy process exited during the test")
	}
	p.stop(t)

	// Second pass: HAProxy restarts and must serve the same certificate from disk.
	h.restart()
	again, err := h.Served("shop.example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("after a restart HAProxy serves serial %x, want %x (from disk)", again.SerialNumber, leaf.SerialNumber)
	}

	// hotcert starts again: it reads its state from the leaves' facts in
	// state.json, not by reading and parsing the bundle, and orders nothing.
	p = e.start()
	eventually(t, 30*time.Second, "hotcert's first pass after its restart", func() error {
		if p.count("first reconcile pass done") == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if logs := p.Logs(); !strings.Contains(logs, `msg="state read" records=1 read_in_full=0`) {
		t.Fatalf("hotcert did not read its one record from the leaves' facts at start-up:\n%s", logs)
	}
	if n := p.count("order created"); n != 0 {
		t.Fatalf("hotcert ordered %d times after a restart with a valid certificate", n)
	}
	if again, err = h.Served("shop.example.test", nil); err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("after hotcert's restart HAProxy serves %v (%v), want serial %x", again, err, leaf.SerialNumber)
	}
}

func assertMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Fatalf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
	}
}

// assertChainVerifies checks the bundle's chain up to Pebble's issuing root.
func assertChainVerifies(t *testing.T, e *env, path, name string) {
	t.Helper()
	root, err := e.ca.IssuerRootPEM(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(root)
	b, _ := os.ReadFile(path)
	certs := parseCerts(t, b)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Fatalf("chain of %s does not verify for %s: %v", path, name, err)
	}
}
