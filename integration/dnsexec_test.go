package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nsupdateHook is a dns.exec script as an operator writes one for lego's
// exec provider: it gets present|cleanup FQDN VALUE, and its key, server
// and zone from dns.env. Each call is appended to $CALLS.
const nsupdateHook = `#!/bin/sh
set -e
case "$1" in present) op=add ;; cleanup) op=delete ;; *) echo "unknown action $1" >&2; exit 2 ;; esac
echo "$1 $2" >> "$CALLS"
nsupdate -y "hmac-sha256:$TSIG_NAME:$TSIG_SECRET" <<EOF
server $DNS_HOST $DNS_PORT
zone $DNS_ZONE
update $op $2 30 TXT "$3"
send
EOF
echo "$op $2 done"
`

func findNsupdate(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nsupdate"); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nsupdate (bind9-dnsutils) not installed (CI=true: a missing dependency fails the run)")
	}
	t.Skip("nsupdate (bind9-dnsutils) not installed")
}

// execProvider is a dns_providers entry of kind exec that runs script,
// written by the test, with the BIND's address and key in its environment.
func execProvider(t *testing.T, e *env, b *bind, name, script, timeout string) string {
	t.Helper()
	path := filepath.Join(e.dir, name+".sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(b.Addr)
	return fmt.Sprintf(`  %[1]s:
    provider: exec
    exec: [%[2]s]
    exec_timeout: %[3]s
    env:
      TSIG_NAME: %[4]s
      TSIG_SECRET: %[5]q
      DNS_HOST: %[6]s
      DNS_PORT: %[7]q
      DNS_ZONE: example.test
      CALLS: %[8]s
    resolver: %[9]s
    nameservers: [%[9]s]
    propagation_timeout: 60s
`, name, path, timeout, strings.TrimSuffix(b.KeyName, "."), b.Secret, host, port, filepath.Join(e.dir, name+".calls"), b.Addr)
}

// TestDNS01ExecAndRFC2136Together: one domains file, two providers. The
// wildcard (two TXT values under one name at once) goes through a script
// that calls nsupdate, the other certificate through hotcert's own RFC 2136
// updates, and HAProxy serves both.
func TestDNS01ExecAndRFC2136Together(t *testing.T) {
	findNsupdate(t)
	e, b := newDNSEnv(t, func(b *bind) string { return b.Secret })
	h := e.lbs[0]
	e.extraConfig += "dns_providers:\n" + execProvider(t, e, b, "scripted", nsupdateHook, "30s")
	e.writeDomains(`certificates:
  - name: wild
    domains: ["*.example.test", example.test]
    challenge: dns-01
    dns_provider: scripted
  - name: internal
    domains: [internal.example.test]
    challenge: dns-01
`)
	p := e.start()

	leaf := h.waitServed("anything.example.test", e.bundle(0, "wild"), 120*time.Second)
	if apex := h.waitServed("example.test", e.bundle(0, "wild"), 10*time.Second); apex.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("example.test is served serial %x, anything.example.test %x", apex.SerialNumber, leaf.SerialNumber)
	}
	assertChainVerifies(t, e, e.bundle(0, "wild"), "anything.example.test")
	h.waitServed("internal.example.test", e.bundle(0, "internal"), 120*time.Second)
	waitNoChallenges(t, b, "example.test")

	calls, err := os.ReadFile(filepath.Join(e.dir, "scripted.calls"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("present _acme-challenge.example.test.\n", 2) + strings.Repeat("cleanup _acme-challenge.example.test.\n", 2)
	if string(calls) != want {
		t.Fatalf("the script was called:\n%s\nwant (wildcard and apex, nothing for internal):\n%s", calls, want)
	}
	logs := p.Logs()
	for _, want := range []string{
		`dns_provider=scripted action=present name=_acme-challenge.example.test. stream=stdout line="add _acme-challenge.example.test. done"`,
		`dns_provider=dns name=_acme-challenge.internal.example.test. zone=example.test.`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs, b.Secret) {
		t.Fatal("hotcert logged the TSIG secret given in dns.env")
	}
	if status, _, _ := runBin(t, "status", "-o", "json", "--config", e.cfgPath); strings.Contains(status, b.Secret) {
		t.Fatal("hotcert status shows the TSIG secret given in dns.env")
	}

	// A certificate that names a provider the config lacks is rejected at
	// its line, like any bad file, and what is served stays.
	logsBefore := len(p.Logs())
	e.writeDomains("certificates:\n  - name: wild\n    domains: [\"*.example.test\", example.test]\n    challenge: dns-01\n    dns_provider: nope\n")
	p.Kick(t)
	eventually(t, 30*time.Second, "hotcert rejects the unknown provider", func() error {
		if logs := p.Logs()[logsBefore:]; !strings.Contains(logs, `domains.yaml:5:19: certificates[0].dns_provider: \"nope\" is not in dns_providers`) {
			return fmt.Errorf("no rejection naming line 5 yet:\n%s", logs)
		}
		return nil
	})
	if got := servedSerial(t, h, "internal.example.test"); got == nil {
		t.Fatal("internal is no longer served after a rejected file")
	}
	p.stop(t)
}

// failingHook fails as a script does when its API refuses: a line on
// stderr, then exit 3.
const failingHook = `#!/bin/sh
echo "starting $1"
echo "api: zone example.test is locked" >&2
exit 3
`

// hangingHook never ends; its child sleep records its pid, so that the
// test can see the whole process group was killed.
const hangingHook = `#!/bin/sh
sleep 300 &
echo $! > "$CALLS"
wait
`

// TestDNS01ExecFailsAndHangs: a script that fails and one that hangs each
// fail their certificate with an error saying why, the hanging one is
// killed at exec_timeout with its children, and a third certificate is
// issued all the same.
func TestDNS01ExecFailsAndHangs(t *testing.T) {
	e, b := newDNSEnv(t, func(b *bind) string { return b.Secret })
	h := e.lbs[0]
	e.extraConfig += "dns_providers:\n" + execProvider(t, e, b, "failing", failingHook, "30s") +
		execProvider(t, e, b, "hanging", hangingHook, "3s")
	e.writeDomains(`certificates:
  - name: fails
    domains: [fails.example.test]
    challenge: dns-01
    dns_provider: failing
  - name: hangs
    domains: [hangs.example.test]
    challenge: dns-01
    dns_provider: hanging
  - name: fine
    domains: [fine.example.test]
    challenge: dns-01
`)
	e.start()
	rec := waitLastError(t, e, "fails", 120*time.Second)
	for _, want := range []string{"exit status 3", "api: zone example.test is locked", "_acme-challenge.fails.example.test."} {
		if !strings.Contains(rec.LastError, want) {
			t.Errorf("last_error of fails does not name %q: %s", want, rec.LastError)
		}
	}
	if rec.Permanent {
		t.Errorf("a failing script must be a transient error: %+v", rec)
	}
	rec = waitLastError(t, e, "hangs", 120*time.Second)
	if !strings.Contains(rec.LastError, "killed after the 3s timeout") {
		t.Errorf("last_error of hangs does not say it was killed at the timeout: %s", rec.LastError)
	}
	pidText, err := os.ReadFile(filepath.Join(e.dir, "hanging.calls"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	eventually(t, 30*time.Second, "the hanging script's child is killed", func() error {
		if processAlive(pid) {
			return fmt.Errorf("sleep %d still runs", pid)
		}
		return nil
	})
	h.waitServed("fine.example.test", e.bundle(0, "fine"), 120*time.Second)
}

// processAlive tells a running process from a dead one, counting a zombie
// nobody has reaped yet as dead.
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
