package integration

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/store"
)

// storedAccount is the ACME account in hotcert's state directory, as the
// store writes it.
func (e *env) storedAccount(t *testing.T) *store.Account {
	t.Helper()
	var a store.Account
	b, err := os.ReadFile(filepath.Join(e.stateDir, "account", "account.json"))
	if err == nil {
		err = json.Unmarshal(b, &a)
	}
	if err != nil {
		t.Fatalf("stored account: %v", err)
	}
	return &a
}

// TestDirectorySwitchReissuesFromTheNewCA: certificates issued by CA A are
// issued again by CA B once acme.directory names B (and hotcert restarts,
// since it reads hotcert.yaml at start-up). Throughout, every name is served
// with a certificate that verifies, from A until B's replaces it, never the
// placeholder.
func TestDirectorySwitchReissuesFromTheNewCA(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.secondCA(t)
	rootA, rootB := issuerRoots(t, e.ca), issuerRoots(t, b)
	h := e.lbs[0]
	both := x509.NewCertPool()
	both.AppendCertsFromPEM(rootA)
	both.AppendCertsFromPEM(rootB)
	onlyB := x509.NewCertPool()
	onlyB.AppendCertsFromPEM(rootB)

	names := []string{"alpha.example.test", "www.alpha.example.test", "beta.example.test"}
	e.writeDomains("certificates:\n  - name: alpha\n    domains: [alpha.example.test, www.alpha.example.test]\n" +
		"  - domains: [beta.example.test]\n    key_type: rsa2048\n")
	p := e.start()
	h.waitServed("alpha.example.test", e.bundle(0, "alpha"), 2*time.Minute)
	h.waitServed("beta.example.test", e.bundle(0, "beta.example.test"), 2*time.Minute)
	ordersA := e.ca.Orders()

	poll := startHandshakes(t, h.HTTPSPort, names, both)
	p.stop(t)
	e.directory = b.DirectoryURL
	e.writeConfig()
	p = e.start()
	eventually(t, 3*time.Minute, "every name served with a certificate from B", func() error {
		for _, n := range names {
			if err := verifyServed(h.HTTPSPort, n, onlyB); err != nil {
				return err
			}
		}
		return nil
	})
	checks, failures := poll.stop()
	if len(failures) > 0 {
		t.Fatalf("%d of %d handshakes did not get a valid certificate during the switch, first: %v", len(failures), checks, failures[0])
	}
	t.Logf("%d handshakes during the switch, all valid", checks)
	if checks < len(names) {
		t.Fatalf("only %d handshakes during the switch", checks)
	}
	if n := b.Orders(); n != 2 {
		t.Fatalf("B saw %d orders, want one per certificate", n)
	}
	if n := e.ca.Orders(); n != ordersA {
		t.Fatalf("A saw %d more orders after the switch", n-ordersA)
	}
	for _, c := range e.adminAPI(t).certificates() {
		if c.Directory != b.DirectoryURL {
			t.Fatalf("%s: status says directory %q, want B's", c.Name, c.Directory)
		}
	}
	want := "issued by " + e.ca.DirectoryURL + ", now " + b.DirectoryURL
	if logs := p.Logs(); !strings.Contains(logs, want) || !strings.Contains(logs, "directory="+b.DirectoryURL) {
		t.Fatalf("the logs lack the reason %q or B's account:\n%s", want, logs)
	}
	// The account B registered is the one on disk now: A's URL means nothing at B.
	if a := e.storedAccount(t); a.Directory != b.DirectoryURL || !strings.HasPrefix(a.URI, strings.TrimSuffix(b.DirectoryURL, "/dir")) {
		t.Fatalf("stored account %+v, want B's", a)
	}
}
