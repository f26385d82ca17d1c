package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/store"
)

var keyTypeCycle = []string{"ecdsa-p256", "rsa2048", "ecdsa-p384", "rsa3072", "rsa4096"}

// TestTwentyMixedKeyTypes issues 20 certificates against Pebble with its
// defaults on (nonce rejection, authorization reuse, validation sleep, a
// random profile) and checks that HAProxy serves each with its key type.
func TestTwentyMixedKeyTypes(t *testing.T) {
	e := newEnv(t, envOptions{})
	var b strings.Builder
	b.WriteString("certificates:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  - domains: [c%d.example.test]\n    key_type: %s\n", i, keyTypeCycle[i%len(keyTypeCycle)])
	}
	e.writeDomains(b.String())
	e.start()
	h := e.lbs[0]
	for i := range 20 {
		name := fmt.Sprintf("c%d.example.test", i)
		leaf := h.waitServed(name, e.bundle(0, name), 3*time.Minute)
		if got, want := keyTypeOf(leaf), keyTypeCycle[i%len(keyTypeCycle)]; got != want {
			t.Errorf("%s is served with a %s key, want %s", name, got, want)
		}
	}
}

func keyTypeOf(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P384() {
			return "ecdsa-p384"
		}
		return "ecdsa-p256"
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	}
	return "unknown"
}

// TestHalfOfNoncesRejected: with Pebble rejecting 50% of nonces, every
// certificate is still issued (badNonce is retried at once with the fresh
// nonce, not after growing sleeps).
func TestHalfOfNoncesRejected(t *testing.T) {
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "50")
	e := newEnv(t, envOptions{})
	e.writeDomains("certificates:\n  - domains: [n1.example.test]\n  - domains: [n2.example.test, www.n2.example.test]\n  - domains: [n3.example.test]\n    key_type: rsa2048\n")
	e.start()
	for _, n := range []string{"n1.example.test", "n2.example.test", "n3.example.test"} {
		e.lbs[0].waitServed(n, e.bundle(0, n), 3*time.Minute)
	}
}

// TestARIWindowInThePast: once the CA's renewal window for a served
// certificate lies in the past, hotcert renews it at once (here after SIGHUP,
// which refreshes renewal information whatever the last Retry-After said),
// long before the lifetime rule would, and HAProxy serves the new serial.
func TestARIWindowInThePast(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.acmeExtra = "  profile: default\n" // 90 days: the lifetime rule alone would wait two months
	e.writeDomains("certificates:\n  - domains: [ari.example.test]\n")
	p := e.start()
	h := e.lbs[0]
	old := h.waitServed("ari.example.test", e.bundle(0, "ari.example.test"), 2*time.Minute)
	if life := old.NotAfter.Sub(old.NotBefore); life < 30*24*time.Hour {
		t.Fatalf("certificate lifetime %s; the test needs a long one", life)
	}
	waitFor(t, 30*time.Second, "renewal information fetched", func() bool {
		return strings.Contains(p.Logs(), "action=refresh-ari")
	})
	now := time.Now()
	if err := e.ca.SetRenewalWindow(t.Context(), old, now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 2*time.Minute, "a renewed certificate served", func() bool {
		got, err := h.Served("ari.example.test", nil)
		return err == nil && got.SerialNumber.Cmp(old.SerialNumber) != 0
	})
	renewed := h.waitServed("ari.example.test", e.bundle(0, "ari.example.test"), 10*time.Second)
	if !renewed.NotBefore.After(old.NotBefore.Add(-time.Second)) {
		t.Fatalf("served certificate is not newer: %v vs %v", renewed.NotBefore, old.NotBefore)
	}
}

// TestExternalAccountBinding: a CA that requires EAB refuses registration
// without credentials, with a clear error, and accepts it with them.
func TestExternalAccountBinding(t *testing.T) {
	const kid, hmacKey = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	e := newEnv(t, envOptions{ca: testca.Options{RequireEAB: true, EABKeys: map[string]string{kid: hmacKey}}})
	e.writeDomains("certificates:\n  - domains: [eab.example.test]\n")
	p := e.start()
	select {
	case <-p.done:
		p.done <- nil
	case <-time.After(60 * time.Second):
		t.Fatalf("hotcert kept running without the EAB credentials the CA requires; logs:\n%s", p.Logs())
	}
	if p.cmd.ProcessState.ExitCode() == 0 {
		t.Fatal("hotcert exited 0 although registration failed")
	}
	if !strings.Contains(strings.ToLower(p.Logs()), "eab") {
		t.Fatalf("the error does not say that EAB is needed:\n%s", p.Logs())
	}

	e.acmeExtra = fmt.Sprintf("  eab: {key_id: %s, hmac_key: %s}\n", kid, hmacKey)
	e.writeConfig()
	e.start()
	e.lbs[0].waitServed("eab.example.test", e.bundle(0, "eab.example.test"), 2*time.Minute)
}

// TestRefusedNameIsPermanent: a name the CA refuses gets a permanent error
// for its certificate only; the others are issued, and the refused one is
// not retried in a tight loop.
func TestRefusedNameIsPermanent(t *testing.T) {
	e := newEnv(t, envOptions{ca: testca.Options{Blocklist: []string{"blocked.example.test"}}})
	e.writeDomains(`certificates:
  - domains: [ok1.example.test]
  - name: refused
    domains: [blocked.example.test]
  - domains: [ok2.example.test]
`)
	e.start()
	api := e.adminAPI(t)
	for _, n := range []string{"ok1.example.test", "ok2.example.test"} {
		e.lbs[0].waitServed(n, e.bundle(0, n), 2*time.Minute)
	}
	st, err := store.NewFile(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	var first *store.Record
	waitFor(t, time.Minute, "the refusal recorded", func() bool {
		first, err = st.Get("refused")
		return err == nil && first.Attempts > 0 && !first.Ordering
	})
	if !first.Permanent || !strings.Contains(first.LastError, "blocked.example.test") {
		t.Fatalf("refused certificate: permanent=%v last_error=%q; want permanent, naming the domain", first.Permanent, first.LastError)
	}
	// More passes run (the edit, every finished action and SIGHUP ask for
	// one); none may place another order for the refused name.
	e.writeDomains(`certificates:
  - domains: [ok1.example.test]
  - name: refused
    domains: [blocked.example.test]
  - domains: [ok2.example.test]
  - domains: [ok3.example.test]
`)
	e.lbs[0].waitServed("ok3.example.test", e.bundle(0, "ok3.example.test"), 2*time.Minute)
	state := "not listed"
	for _, c := range e.statusAfterTwoPasses(t, api) {
		if c.Name == "refused" {
			state = c.State
		}
	}
	if !strings.Contains(state, "refused by the CA") {
		t.Fatalf("a pass after the refusal left the refused certificate %q, want it waiting as refused by the CA", state)
	}
	again, err := st.Get("refused")
	if err != nil {
		t.Fatal(err)
	}
	if again.Attempts != first.Attempts || !again.LastAttempt.Equal(first.LastAttempt) {
		t.Fatalf("refused certificate retried: attempts %d -> %d, last attempt %v -> %v",
			first.Attempts, again.Attempts, first.LastAttempt, again.LastAttempt)
	}
	if _, err := e.lbs[0].Served("blocked.example.test", nil); err != nil {
		t.Fatalf("HAProxy stopped answering: %v", err)
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for: %s", timeout, what)
}
