// Package packaging holds the files that install hotcert on a host; its
// tests check them with the tools the host would use.
package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// need finds a tool: under CI a missing tool fails, elsewhere it skips.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (CI=true: a missing dependency fails the run)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// verify runs systemd-analyze verify on unit with ExecStart pointed at an
// executable that exists here (verify insists on it), and fails on any
// complaint about the unit, warnings included.
func verify(t *testing.T, unit []byte, bin string) {
	t.Helper()
	tool := need(t, "systemd-analyze")
	unit = bytes.ReplaceAll(unit, []byte("/usr/local/bin/hotcert"), []byte(bin))
	path := filepath.Join(t.TempDir(), "hotcert.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "hotcert.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitVerifies(t *testing.T) {
	unit, err := os.ReadFile("hotcert.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=hotcert", "ProtectSystem=strict", "StateDirectory=hotcert",
		// Only the directory hotcert owns, not /etc/haproxy.
		"\nReadWritePaths=-/etc/haproxy/hotcert\n",
		"\nExecStartPre=/usr/local/bin/hotcert check --config /etc/hotcert/hotcert.yaml\n",
		"\nExecStart=/usr/local/bin/hotcert run --config /etc/hotcert/hotcert.yaml\n",
		"\nStartLimitIntervalSec=", "\nStartLimitBurst=", "\nSystemCallFilter=@system-service\n",
		"\nProtectProc=invisible\n", "\nProcSubset=pid\n", "\nRemoveIPC=yes\n", "\n#LoadCredential=eab-hmac:"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if i, j := bytes.Index(unit, []byte("StartLimitBurst=")), bytes.Index(unit, []byte("[Service]")); i > j {
		t.Error("StartLimitBurst= is in [Service]; systemd reads it in [Unit] only")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	verify(t, unit, self)
}

// TestMakeInstall installs into a DESTDIR and checks what lands where; with
// DESTDIR set it must create no user and touch nothing outside it.
func TestMakeInstall(t *testing.T) {
	mk := need(t, "make")
	dest := t.TempDir()
	cmd := exec.Command(mk, "-s", "install", "DESTDIR="+dest, "PREFIX=/opt/hc")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "opt/hc/bin/hotcert")
	st, err := os.Stat(bin)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v %v", err, st)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "hotcert ") {
		t.Fatalf("installed binary: %v %s", err, out)
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/hotcert.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/opt/hc/bin/hotcert run")) || !bytes.Contains(unit, []byte("ExecStartPre=/opt/hc/bin/hotcert check")) ||
		!bytes.Contains(unit, []byte("file:/opt/hc/share/doc/hotcert/operations.md")) {
		t.Fatalf("unit does not run the binary from PREFIX:\n%s", unit)
	}
	for _, f := range []string{"etc/hotcert/hotcert.yaml", "etc/hotcert/domains.yaml", "opt/hc/share/doc/hotcert/reference.md",
		"opt/hc/share/doc/hotcert/operations.md",
		"opt/hc/share/doc/hotcert/examples/alerts.yaml", "opt/hc/share/doc/hotcert/examples/haproxy.cfg"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	verify(t, bytes.ReplaceAll(unit, []byte("/opt/hc/bin/hotcert"), []byte("/usr/local/bin/hotcert")), bin)
}

// Exposure scores of `systemd-analyze security --offline=true` (systemd 252)
// for packaging/hotcert.service: before the hardening of the unit (ExecStartPre, SystemCallFilter, ProtectProc, ...) and now.
const (
	exposureBefore = 3.2
	exposureNow    = 1.5
)

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnitSecurityScore keeps the unit's exposure below what it was before
// the hardening, and no worse than recorded.
func TestUnitSecurityScore(t *testing.T) {
	tool := need(t, "systemd-analyze")
	unit, err := os.ReadFile("hotcert.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hotcert.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/hotcert"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no score in:\n%s", err, out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f (before the hardening %.1f)", score, exposureBefore)
	if score >= exposureBefore || score > exposureNow {
		t.Fatalf("exposure %.1f, want below %.1f and at most the recorded %.1f:\n%s", score, exposureBefore, exposureNow, out)
	}
}
