package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAgainstNeedsDNSForDNS01(t *testing.T) {
	d, err := ParseDomains("/etc/hotcert/domains.yaml", []byte(`certificates:
  - domains: [a.example.com]
  - domains: ["*.example.com"]
    challenge: dns-01
`))
	if err != nil {
		t.Fatal(err)
	}
	err = d.CheckAgainst(&Config{File: "/etc/hotcert/hotcert.yaml"})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("CheckAgainst = %v, want one problem", err)
	}
	if got := ps[0].String(); !strings.HasPrefix(got, "/etc/hotcert/domains.yaml:4:") || !strings.Contains(got, "certificates[1].challenge: dns-01 needs dns.server") {
		t.Fatalf("problem = %q", got)
	}
	if err := d.CheckAgainst(&Config{DNS: DNS{Server: "127.0.0.1:53"}}); err != nil {
		t.Fatalf("with a dns server: %v", err)
	}
}

func TestConfigLoadDomainsChecksAgainstTheConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "domains.yaml")
	c := &Config{File: filepath.Join(dir, "hotcert.yaml"), DomainsFile: path}
	if _, err := c.LoadDomains(); err == nil {
		t.Fatal("a missing domains file loaded")
	}
	if err := os.WriteFile(path, []byte("certificates:\n  - domains: [a.example.com]\n    challenge: dns-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ps Problems
	if _, err := c.LoadDomains(); !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), "dns-01 needs dns.server") {
		t.Fatalf("dns-01 without a dns section: %v", err)
	}
	c.DNS.Server = "127.0.0.1:53"
	if d, err := c.LoadDomains(); err != nil || len(d.Certificates) != 1 {
		t.Fatalf("with a dns server: %+v, %v", d, err)
	}
}

// A candidate for `hotcert plan` is checked like the file itself, resolves
// paths where it will go, and its problems name the file the operator edits.
func TestCheckDomainsCandidate(t *testing.T) {
	c := &Config{File: "/etc/hotcert/hotcert.yaml", DomainsFile: "/etc/hotcert/domains.yaml"}
	d, err := c.CheckDomains("/tmp/domains.new.yaml", []byte("certificates:\n  - domains: [a.example.com]\n    key_file: keys/a.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Certificates[0].KeyFile; got != "/etc/hotcert/keys/a.pem" {
		t.Errorf("key_file resolved to %q, want it beside the domains file in force", got)
	}
	for _, bad := range []string{
		"certificates:\n  - domains: [bad_name]\n",                             // the file's own rules
		"certificates:\n  - domains: [a.example.com]\n    challenge: dns-01\n", // and the config's
	} {
		_, err = c.CheckDomains("/tmp/domains.new.yaml", []byte(bad))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.HasPrefix(ps[0].String(), "/tmp/domains.new.yaml:") {
			t.Errorf("CheckDomains(%q) = %v, want one problem naming the candidate", bad, err)
		}
	}
}
