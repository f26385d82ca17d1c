package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, want := range []string{"acme.ca_roots: open " + filepath.Join(dir, "roots.pem"),
		"acme.account_key: open " + filepath.Join(dir, "account.key"),
		"dns: bad dns-01 configuration: tsig_secret_file: open " + filepath.Join(dir, "tsig.secret")} {
		if !strings.Contains(stderr.String(), cfg+": "+want) {
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
