package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

// writeCheckConfig writes hotcert.yaml with extra appended to a minimal
// valid config, and an empty domains file beside it.
func writeCheckConfig(t *testing.T, dir, acmeExtra, extra string) string {
	t.Helper()
	data := "acme:\n  accept_terms: true\n" + acmeExtra + "haproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n" +
		"    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\n" + extra
	cfg := filepath.Join(dir, "hotcert.yaml")
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "domains.yaml"), []byte("certificates: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

const dnsSection = "dns:\n  server: 127.0.0.1:53\n  tsig_key: hotcert.\n  tsig_secret_file: tsig.secret\n"

func TestCheckReadsTheFilesRunNeeds(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "  ca_roots: roots.pem\n  account_key: account.key\n", dnsSection)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1 for missing files; stdout %q", code, stdout.String())
	}
	for _, want := range []string{":3:13: acme.ca_roots: open " + filepath.Join(dir, "roots.pem"),
		":4:16: acme.account_key: open " + filepath.Join(dir, "account.key"),
		":13:21: dns.tsig_secret_file: open " + filepath.Join(dir, "tsig.secret")} {
		if !strings.Contains(stderr.String(), cfg+want) {
			t.Errorf("check output lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestCheckOKWhenTheFilesExist(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", dnsSection)
	if err := os.WriteFile(filepath.Join(dir, "tsig.secret"), []byte("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("check exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "ok:") {
		t.Errorf("stdout %q", stdout.String())
	}
}

// A secret in systemd's credentials directory cannot be read from a shell:
// check warns, names the field at its line, and still exits 0.
func TestCheckWarnsAboutCredentials(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "  eab: {key_id: kid, hmac_key_file: \"${CREDENTIALS_DIRECTORY}/eab-hmac\"}\n", "")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("check exit %d, want 0 (a warning): %s", code, stderr.String())
	}
	want := cfg + ":3:37: acme.eab.hmac_key_file: warning: not checked: ${CREDENTIALS_DIRECTORY}/eab-hmac: $CREDENTIALS_DIRECTORY is not set"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q\nwant %q", stderr.String(), want)
	}
}

// hmac_key_file is read and checked as run reads it; with
// CREDENTIALS_DIRECTORY set, as systemd does for LoadCredential=, the path
// under it is the file read.
func TestCheckReadsEABKeyFile(t *testing.T) {
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "  eab: {key_id: kid, hmac_key_file: \"${CREDENTIALS_DIRECTORY}/eab-hmac\"}\n", "")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), cfg+":3:37: acme.eab.hmac_key_file: open "+filepath.Join(creds, "eab-hmac")) {
		t.Fatalf("missing key file: exit %d, %s", code, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(creds, "eab-hmac"), []byte("not base64url!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "must hold the key in base64url") {
		t.Fatalf("bad key: exit %d, %s", code, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(creds, "eab-hmac"), []byte("c2VjcmV0LWhtYWMta2V5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("good key: exit %d, %s", code, stderr.String())
	}
	c := &configs.Config{ACME: configs.ACME{EAB: configs.EAB{KeyID: "kid", HMACKeyFile: filepath.Join(creds, "eab-hmac")}}}
	if err := loadEABKey(c); err != nil || c.ACME.EAB.HMACKey != "c2VjcmV0LWhtYWMta2V5" {
		t.Fatalf("loadEABKey: %v, key %q", err, c.ACME.EAB.HMACKey)
	}
}

// A certificate's key_file that cannot be read fails only that certificate's
// orders, so check warns and exits 0.
func TestCheckWarnsAboutKeyFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "")
	domains := "certificates:\n  - domains: [a.example.com]\n    key_file: a.key\n"
	if err := os.WriteFile(filepath.Join(dir, "domains.yaml"), []byte(domains), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"check", "--config", cfg}, &stdout, &stderr)
	want := filepath.Join(dir, "domains.yaml") + ":3:15: certificates[0].key_file: warning: open " + filepath.Join(dir, "a.key")
	if code != 0 || !strings.Contains(stderr.String(), want) {
		t.Fatalf("exit %d, stderr %q\nwant %q", code, stderr.String(), want)
	}
}

// Every example hotcert config passes `hotcert check` as shipped, with the
// domains file it names; no example file is left without a check.
func TestExamplesPassCheck(t *testing.T) {
	const examplesDir = "../../configs/examples" // what make install ships
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	ents, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".yaml") || !bytes.Contains(data, []byte("\nhaproxy:")) {
			continue
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check", "--config", filepath.Join(examplesDir, name)}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("hotcert check --config %s: exit %d\n%s", name, code, stderr.String())
		}
		checked[name] = true
		if cfg, err := configs.LoadConfig(filepath.Join(examplesDir, name)); err == nil {
			checked[filepath.Base(cfg.DomainsFile)] = true
		}
	}
	for _, e := range ents {
		switch name := e.Name(); {
		case checked[name]:
		case name == "alerts.yaml", name == "alerts_test.yaml": // Prometheus rules and their tests: admin's promtool test
		case strings.HasSuffix(name, ".cfg"): // HAProxy: packaging's test runs it
		default:
			t.Errorf("%s: an example that no test checks", name)
		}
	}
	if !checked["hotcert.yaml"] || !checked["domains.yaml"] {
		t.Errorf("checked %v, want hotcert.yaml and domains.yaml among them", checked)
	}
}

// A secret this user may not read (the operator's shell, not the hotcert
// user) is a warning at its field, and check still exits 0. Root reads
// everything, so as root the check runs again as nobody.
func TestCheckWarnsAboutUnreadableFile(t *testing.T) {
	if cfg := os.Getenv("HOTCERT_TEST_CHECK"); cfg != "" { // the re-run as nobody
		var stdout, stderr bytes.Buffer
		code := run([]string{"check", "--config", cfg}, &stdout, &stderr)
		os.Stdout.WriteString(stderr.String())
		os.Exit(code)
	}
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "  eab: {key_id: kid, hmac_key_file: eab.hmac}\n", "")
	secret := filepath.Join(dir, "eab.hmac")
	if err := os.WriteFile(secret, []byte("c2VjcmV0\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	out, code := checkAsOther(t, dir, cfg)
	want := cfg + ":3:37: acme.eab.hmac_key_file: warning: not checked: this user (uid "
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "cannot read "+secret) {
		t.Fatalf("exit %d, output %q\nwant %q", code, out, want)
	}
}

// checkAsOther runs check on cfg as this user, or, for root, as nobody
// (65534), from a copy of the test binary that nobody may run.
func checkAsOther(t *testing.T, dir, cfg string) (string, int) {
	if os.Getuid() != 0 {
		var stdout, stderr bytes.Buffer
		code := run([]string{"check", "--config", cfg}, &stdout, &stderr)
		return stderr.String(), code
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hotcert.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Dir(dir), dir, cfg, filepath.Join(dir, "domains.yaml")} {
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestCheckWarnsAboutUnreadableFile$")
	cmd.Env = append(os.Environ(), "HOTCERT_TEST_CHECK="+cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// check reads domains_dir as run does: every file, and a name defined in
// two files, at each file and line.
func TestCheckDomainsDir(t *testing.T) {
	dir := t.TempDir()
	ddir := filepath.Join(dir, "domains.d")
	if err := os.Mkdir(ddir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeCheckConfig(t, dir, "", "domains_dir: domains.d\n")
	files := map[string]string{
		"a.yaml": "certificates:\n  - name: shop\n    domains: [shop.example.com]\n",
		"b.yaml": "certificates:\n  - name: other\n    domains: [other.example.com]\n  - name: shop\n    domains: [shop2.example.com]\n",
		"c.yaml": "certificates:\n  - domains: [bad domain]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(ddir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1; stderr %q", code, stderr.String())
	}
	a, b, c := filepath.Join(ddir, "a.yaml"), filepath.Join(ddir, "b.yaml"), filepath.Join(ddir, "c.yaml")
	for _, want := range []string{
		b + ":4:11: certificates[1].name: \"shop\" is already the name of a certificate at " + a + ":2",
		c + ":2:15: certificates[0].domains[0]: ",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, stderr.String())
		}
	}
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), ddir) {
		t.Fatalf("check exit %d, stdout %q, stderr %q; want ok naming %s", code, stdout.String(), stderr.String(), ddir)
	}
}
