package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
	"github.com/hotcert/hotcert/internal/testca"
)

// envScript is a hook that appends its HOTCERT_ variables, and what
// openssl reads from the bundle, to <dir>/<cert>.<event>.env, then a line
// to <dir>/hooks.log.
func envScript(dir string) string {
	return `#!/bin/sh
out="` + dir + `/$HOTCERT_CERT.$HOTCERT_EVENT.env"
env | grep '^HOTCERT_' > "$out.tmp"
if [ -n "$HOTCERT_BUNDLE" ]; then openssl x509 -in "$HOTCERT_BUNDLE" -noout -serial >> "$out.tmp"; fi
mv "$out.tmp" "$out"
echo "$HOTCERT_EVENT $HOTCERT_CERT $HOTCERT_SERIAL" >> "` + dir + `/hooks.log"
`
}

// readEnv parses a file of NAME=value lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

func hookLines(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "hooks.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	eventually(t, 2*time.Minute, "the hook's file "+filepath.Base(path), func() error {
		_, err := os.Stat(path)
		return err
	})
}

// TestHookDeployed: the deployed hook runs once the certificate is served
// by both HAProxy instances, with the contract's environment; its bundle
// holds the serial HAProxy serves. It runs once: not at later passes, not
// after a restart.
func TestHookDeployed(t *testing.T) {
	e := newEnv(t, envOptions{instances: 2})
	hooks := filepath.Join(e.dir, "hooks")
	if err := os.Mkdir(hooks, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.dir, "hook.sh"), envScript(hooks))
	e.extraConfig = "hooks:\n  deployed: [/bin/sh, " + filepath.Join(e.dir, "hook.sh") + "]\n"
	e.writeDomains(`certificates:
  - name: shop
    domains: [shop.example.test, www.shop.example.test]
`)
	e.start()
	api := e.adminAPI(t)
	envFile := filepath.Join(hooks, "shop.deployed.env")
	waitFile(t, envFile)
	env := readEnv(t, envFile)
	served := e.lbs[0].waitServed("shop.example.test", e.bundle(0, "shop"), time.Minute)
	other, err := e.lbs[1].Served("www.shop.example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	hex := fmt.Sprintf("%X", served.SerialNumber.Bytes())
	bundleLeaf, err := lab.LeafFile(env["HOTCERT_BUNDLE"])
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"HOTCERT_EVENT":     "deployed",
		"HOTCERT_CERT":      "shop",
		"HOTCERT_DOMAINS":   "shop.example.test,www.shop.example.test",
		"HOTCERT_KEY_TYPE":  "ecdsa-p256",
		"HOTCERT_SERIAL":    hex,
		"serial":            hex, // what openssl x509 -serial read from HOTCERT_BUNDLE
		"HOTCERT_NOT_AFTER": served.NotAfter.UTC().Format(time.RFC3339),
		"HOTCERT_BUNDLE":    e.bundle(0, "shop"),
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["HOTCERT_ERROR"]; ok {
		t.Errorf("deployed got HOTCERT_ERROR: %v", env)
	}
	if bundleLeaf.SerialNumber.Cmp(served.SerialNumber) != 0 || other.SerialNumber.Cmp(served.SerialNumber) != 0 {
		t.Errorf("bundle %X, lb1 serves %X, lb2 serves %X", bundleLeaf.SerialNumber, served.SerialNumber, other.SerialNumber)
	}

	// The pass logs each hook it queues before it counts itself done, so
	// two passes without that line prove it was not queued.
	const queued = `msg="deployed hook queued" cert=shop`
	e.twoPasses(t, api)
	if l := hookLines(t, hooks); len(l) != 1 || strings.Count(e.proc.Logs(), queued) != 1 {
		t.Fatalf("after more passes the hook ran %d times (%q), logged %d times", len(l), l, strings.Count(e.proc.Logs(), queued))
	}
	e.proc.stop(t)
	e.start()
	api = e.adminAPI(t)
	e.twoPasses(t, api)
	if strings.Contains(e.proc.Logs(), queued) {
		t.Fatalf("a restart queued the hook again for a serial it had reported")
	}
	if l := hookLines(t, hooks); len(l) != 1 {
		t.Fatalf("after a restart the hook ran %d times: %q", len(l), l)
	}
}

// TestHookFailedAndHanging: the failed hook runs for a certificate the CA
// refuses, with the error; a deployed hook that hangs is killed at its
// limit with what it started, and hotcert carries on.
func TestHookFailedAndHanging(t *testing.T) {
	e := newEnv(t, envOptions{ca: testca.Options{Blocklist: []string{"blocked.example.test"}}})
	hooks := filepath.Join(e.dir, "hooks")
	if err := os.Mkdir(hooks, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.dir, "failed.sh"), envScript(hooks))
	// The sleep is the shell's child: killing only the shell would leave it.
	writeFile(t, filepath.Join(e.dir, "hang.sh"), "#!/bin/sh\nsleep 600 &\necho $! > "+hooks+"/$HOTCERT_CERT.pid\nwait\n")
	e.extraConfig = "hooks:\n  timeout: 2s\n" +
		"  deployed: [/bin/sh, " + filepath.Join(e.dir, "hang.sh") + "]\n" +
		"  failed: [/bin/sh, " + filepath.Join(e.dir, "failed.sh") + "]\n"
	e.writeDomains(`certificates:
  - name: first
    domains: [first.example.test]
  - name: refused
    domains: [blocked.example.test]
`)
	p := e.start()
	api := e.adminAPI(t)

	envFile := filepath.Join(hooks, "refused.failed.env")
	waitFile(t, envFile)
	env := readEnv(t, envFile)
	if env["HOTCERT_EVENT"] != "failed" || env["HOTCERT_CERT"] != "refused" || env["HOTCERT_DOMAINS"] != "blocked.example.test" ||
		!strings.Contains(env["HOTCERT_ERROR"], "blocked.example.test") {
		t.Errorf("failed hook's environment: %v", env)
	}
	for _, k := range []string{"HOTCERT_SERIAL", "HOTCERT_NOT_AFTER", "HOTCERT_BUNDLE"} {
		if v, ok := env[k]; !ok || v != "" {
			t.Errorf("%s = %q (present %v), want empty for a certificate never issued", k, v, ok)
		}
	}

	e.lbs[0].waitServed("first.example.test", e.bundle(0, "first"), 2*time.Minute)
	pidFile := filepath.Join(hooks, "first.pid")
	waitFile(t, pidFile)
	eventually(t, time.Minute, "the hanging hook killed", func() error {
		if !strings.Contains(p.Logs(), `msg="hook killed at its limit" component=hook cert=first event=deployed limit=2s`) {
			return fmt.Errorf("no log line yet")
		}
		return nil
	})
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the hook's sleep gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("process %d still runs", pid)
		}
		return nil
	})

	passes := api.passes()
	e.writeDomains(`certificates:
  - name: first
    domains: [first.example.test]
  - name: refused
    domains: [blocked.example.test]
  - name: second
    domains: [second.example.test]
`)
	e.lbs[0].waitServed("second.example.test", e.bundle(0, "second"), 2*time.Minute)
	e.twoPasses(t, api)
	if n := api.passes(); n <= passes {
		t.Fatalf("passes %v, not past %v", n, passes)
	}
	m := api.metrics()
	wantMetrics(t, m, map[string]float64{
		`hotcert_hooks_total{event="failed",result="ok"}`: 1,
	})
	if m[`hotcert_hooks_total{event="deployed",result="timeout"}`] < 1 {
		t.Errorf("no deployed timeout counted: %v", m[`hotcert_hooks_total{event="deployed",result="timeout"}`])
	}
}
