package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dirHead = "acme: {accept_terms: true}\nhaproxy:\n  - {name: lb1, socket: /run/lb1.sock, cert_dir: /srv/certs, crt_list: /srv/certs.list}\n"

// domains_dir resolves against the config's directory; domains_file's
// default applies only without it, and both may be named.
func TestDomainsDirResolvesAndTakesTheDefault(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "hotcert.yaml")
	for _, tc := range []struct{ extra, file, ddir string }{
		{"", filepath.Join(dir, "domains.yaml"), ""},
		{"domains_dir: domains.d\n", "", filepath.Join(dir, "domains.d")},
		{"domains_dir: domains.d\ndomains_file: main.yaml\n", filepath.Join(dir, "main.yaml"), filepath.Join(dir, "domains.d")},
	} {
		c, err := ParseConfig(cfgPath, []byte(dirHead+tc.extra))
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if c.DomainsFile != tc.file || c.DomainsDir != tc.ddir {
			t.Errorf("%q: domains_file %q, domains_dir %q; want %q, %q", tc.extra, c.DomainsFile, c.DomainsDir, tc.file, tc.ddir)
		}
	}
}

func TestDomainsDirMustBeADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ value, want string }{
		{"missing", "no such file or directory"},
		{"plain", "is not a directory"},
	} {
		_, err := ParseConfig(filepath.Join(dir, "hotcert.yaml"), []byte(dirHead+"domains_dir: "+tc.value+"\n"))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), "hotcert.yaml:4:14: domains_dir: ") ||
			!strings.Contains(ps[0].Msg, tc.want) {
			t.Errorf("domains_dir: %s: %v; want one problem at hotcert.yaml:4:14 saying %q", tc.value, err, tc.want)
		}
	}
}

// Without a domains_file, LoadDomains is the empty set (the catalog reads
// the directory), and a plan's candidate resolves inside domains_dir.
func TestOnlyDomainsDir(t *testing.T) {
	dir := t.TempDir()
	c := &Config{File: filepath.Join(dir, "hotcert.yaml"), DomainsDir: dir}
	d, err := c.LoadDomains()
	if err != nil || len(d.Certificates) != 0 {
		t.Fatalf("LoadDomains = %v, %v; want an empty set", d, err)
	}
	d, err = c.CheckDomains("", []byte("certificates:\n  - domains: [a.example.com]\n    key_file: a.key\n"))
	if err != nil || d.Certificates[0].KeyFile != filepath.Join(dir, "a.key") {
		t.Fatalf("CheckDomains = %+v, %v; want key_file in %s", d, err, dir)
	}
}

func TestDomainsLine(t *testing.T) {
	d, err := ParseDomains("/etc/hotcert/domains.yaml", []byte("certificates:\n  - domains: [a.example.com]\n\n  - name: b\n    domains: [b.example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Line(0) != 2 || d.Line(1) != 4 || (&Domains{}).Line(0) != 0 {
		t.Fatalf("Line(0), Line(1) = %d, %d; want 2, 4", d.Line(0), d.Line(1))
	}
}
