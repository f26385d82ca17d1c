package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/store"
)

// dnsZones are the test zones: example.test, where _acme-challenge.sub is a CNAME into
// delegated.test (the acme-dns pattern), and web is an http-01 name.
var dnsZones = []bindZone{
	{name: "example.test", records: []string{
		"@ IN A 127.0.0.1",
		"web IN A 127.0.0.1",
		"_acme-challenge.sub IN CNAME _acme-challenge.delegated.test.",
	}},
	{name: "delegated.test"},
}

// newDNSEnv starts BIND, points Pebble's DNS at it, and writes the dns section with the
// given secret (padded with whitespace, which must be ignored) and a key name without its
// trailing dot.
func newDNSEnv(t *testing.T, secret func(*bind) string) (*env, *bind) {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	b := startBIND(t, dnsZones...)
	e := newEnv(t, envOptions{ca: testca.Options{DNSResolver: b.Addr}})
	writeFile(t, filepath.Join(e.dir, "tsig.secret"), "\n  "+secret(b)+"\n")
	e.extraConfig = fmt.Sprintf(`dns:
  server: %[1]s
  tsig_key: %[2]s
  tsig_algorithm: hmac-sha256
  tsig_secret_file: tsig.secret
  ttl: 30
  nameservers: [%[1]s]
  propagation_timeout: 60s
`, b.Addr, strings.TrimSuffix(b.KeyName, "."))
	return e, b
}

// TestDNS01WildcardThroughBIND issues *.example.test with example.test (two TXT values
// under one name at once) and a name whose challenge is a CNAME into delegated.test,
// with TSIG-signed updates to a real BIND, and checks what HAProxy serves.
func TestDNS01WildcardThroughBIND(t *testing.T) {
	e, b := newDNSEnv(t, func(b *bind) string { return b.Secret })
	h := e.lbs[0]
	e.writeDomains(`certificates:
  - name: wild
    domains: ["*.example.test", example.test]
    challenge: dns-01
  - name: sub
    domains: [sub.example.test]
    challenge: dns-01
`)
	p := e.start()

	leaf := h.waitServed("anything.example.test", e.bundle(0, "wild"), 120*time.Second)
	apex := h.waitServed("example.test", e.bundle(0, "wild"), 10*time.Second)
	if apex.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("example.test is served serial %x, anything.example.test %x", apex.SerialNumber, leaf.SerialNumber)
	}
	assertChainVerifies(t, e, e.bundle(0, "wild"), "anything.example.test")
	assertChainVerifies(t, e, e.bundle(0, "wild"), "example.test")

	// BIND ignores a TXT added at a CNAME's name, so this certificate could only be
	// validated through the record in delegated.test.
	h.waitServed("sub.example.test", e.bundle(0, "sub"), 120*time.Second)
	if st, err := os.Stat(filepath.Join(b.dir, "delegated.test.db.jnl")); err != nil || st.Size() == 0 {
		t.Fatalf("delegated.test was never updated (journal: %v)", err)
	}

	for _, zone := range []string{"example.test", "delegated.test"} {
		waitNoChallenges(t, b, zone)
	}
	logs := p.Logs()
	if strings.Contains(logs, b.Secret) {
		t.Fatal("hotcert logged the TSIG secret")
	}
	if n := addsBeforeFirstDelete(logs, "_acme-challenge.example.test."); n != 2 {
		t.Fatalf("%d TXT values were under _acme-challenge.example.test. at once, want 2 (wildcard and apex)", n)
	}
	p.stop(t)
}

// addsBeforeFirstDelete counts the records hotcert logged as added at name before it
// deleted the first one.
func addsBeforeFirstDelete(logs, name string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "name="+name+" ") {
			continue
		}
		if strings.Contains(line, "dns-01 record deleted") {
			break
		}
		if strings.Contains(line, "dns-01 record added") {
			n++
		}
	}
	return n
}

// TestDNS01WrongTSIGSecret: BIND rejects the key, the dns-01 certificate fails with a
// permanent error naming the server and the zone, and an http-01 certificate next to it
// is still issued.
func TestDNS01WrongTSIGSecret(t *testing.T) {
	wrong := ""
	e, b := newDNSEnv(t, func(b *bind) string { wrong = randomSecret(t); return wrong })
	h := e.lbs[0]
	e.writeDomains(`certificates:
  - name: bad
    domains: [bad.example.test]
    challenge: dns-01
  - name: web
    domains: [web.example.test]
`)
	p := e.start()
	h.waitServed("web.example.test", e.bundle(0, "web"), 120*time.Second)

	rec := waitLastError(t, e, "bad", 60*time.Second)
	for _, want := range []string{b.Addr, "zone example.test.", "BADSIG"} {
		if !strings.Contains(rec.LastError, want) {
			t.Errorf("last_error does not name %q: %s", want, rec.LastError)
		}
	}
	if !rec.Permanent {
		t.Errorf("a rejected TSIG key must be a permanent error: %+v", rec)
	}
	logs := p.Logs()
	if strings.Contains(logs, wrong) || strings.Contains(logs, b.Secret) || strings.Contains(rec.LastError, wrong) {
		t.Fatal("a TSIG secret was logged or stored")
	}
	if _, err := os.Stat(e.bundle(0, "bad")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a bundle was written for the failing certificate: %v", err)
	}
	if got := b.challengeTXT(t, "example.test"); len(got) != 0 {
		t.Fatalf("rejected updates left records: %v", got)
	}
	p.stop(t)
}

func waitNoChallenges(t *testing.T, b *bind, zone string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := b.challengeTXT(t, zone)
		if len(got) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone %s still holds challenge records: %v", zone, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLastError reads the certificate's state as hotcert persisted it until an order failed.
func waitLastError(t *testing.T, e *env, name string, timeout time.Duration) *store.Record {
	t.Helper()
	st, err := store.NewFile(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		rec, err := st.Get(name)
		if err == nil && rec.LastError != "" {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("no last_error for %s within %s (%v); logs:\n%s", name, timeout, err, e.proc.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
