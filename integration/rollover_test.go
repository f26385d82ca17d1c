package integration

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/store"
)

// TestAccountKeyRollover: with the daemon stopped, `hotcert rollover`
// replaces the account key at the CA; the account stays, and hotcert goes on
// ordering with the new key.
func TestAccountKeyRollover(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.writeDomains("certificates:\n  - domains: [roll1.example.test]\n")
	p := e.start()
	e.lbs[0].waitServed("roll1.example.test", e.bundle(0, "roll1.example.test"), 2*time.Minute)

	out, err := exec.Command(hotcertBin, "rollover", "--config", e.cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "running") {
		t.Fatalf("rollover while the daemon runs: err=%v out=%s; want a refusal", err, out)
	}
	p.stop(t)
	st, _ := store.NewFile(e.stateDir)
	before, err := st.Account()
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(hotcertBin, "rollover", "--config", e.cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("rollover: %v\n%s", err, out)
	}
	after, err := st.Account()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before.KeyPEM, after.KeyPEM) || after.URI != before.URI || after.URI == "" {
		t.Fatalf("after rollover: key changed=%v, account %q -> %q; want a new key on the same account",
			!bytes.Equal(before.KeyPEM, after.KeyPEM), before.URI, after.URI)
	}
	e.writeDomains("certificates:\n  - domains: [roll1.example.test]\n  - domains: [roll2.example.test]\n")
	p = e.start()
	e.lbs[0].waitServed("roll2.example.test", e.bundle(0, "roll2.example.test"), 2*time.Minute)
	if !strings.Contains(p.Logs(), after.URI) {
		t.Fatalf("restarted hotcert does not use account %s:\n%s", after.URI, p.Logs())
	}
}
