package configs

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigDefaultsAndPaths(t *testing.T) {
	c, err := LoadConfig("testdata/config/good_minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/config")
	for _, check := range []struct{ name, got, want string }{
		{"File", c.File, filepath.Join(dir, "good_minimal.yaml")},
		{"directory", c.ACME.Directory, DefaultDirectory},
		{"state_dir", c.StateDir, filepath.Join(dir, "state")},
		{"domains_file", c.DomainsFile, filepath.Join(dir, "domains.yaml")},
		{"socket", c.HAProxy[0].Socket, filepath.Join(dir, "run/admin.sock")},
		{"http01_listen", c.Challenge.HTTP01Listen, "127.0.0.1:8402"},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:8403"},
		{"token_file", c.Admin.TokenFile, filepath.Join(dir, "state", "admin.token")},
		{"tsig_algorithm", c.DNS.TSIGAlgorithm, "hmac-sha256"},
		{"account_key", c.ACME.AccountKey, ""},
		{"haproxy_map", c.Challenge.HAProxyMap, ""},
	} {
		if check.got != check.want {
			t.Errorf("%s = %q, want %q", check.name, check.got, check.want)
		}
	}
	if c.ACME.Concurrency != 8 || c.DNS.TTL != 60 || time.Duration(c.DNS.PropagationTimeout) != 2*time.Minute {
		t.Errorf("defaults: concurrency %d, ttl %d, propagation %s", c.ACME.Concurrency, c.DNS.TTL, c.DNS.PropagationTimeout)
	}
	if got := c.Safety.RemovalLimitOrDefault(); got != DefaultRemovalLimit || *c.Safety.RemovalLimit != 10 {
		t.Errorf("safety.removal_limit defaults to %d, want 10", got)
	}
}

func TestLoadConfigFull(t *testing.T) {
	c, err := LoadConfig("testdata/config/good_full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/config")
	for _, check := range []struct{ name, got, want string }{
		{"absolute socket kept", c.HAProxy[0].Socket, "/run/haproxy/admin.sock"},
		{"cert_dir as written", c.HAProxy[0].CertDir, "/etc/haproxy/certs"},
		{"crt_list as written", c.HAProxy[0].CrtList, "/etc/haproxy/certs.list"},
		{"account_key resolved", c.ACME.AccountKey, filepath.Join(dir, "account.pem")},
		{"ca_roots absolute", c.ACME.CARoots, "/etc/hotcert/pebble.minica.pem"},
		{"haproxy_map as written", c.Challenge.HAProxyMap, "/etc/haproxy/acme.map"},
		{"tsig_secret_file resolved", c.DNS.TSIGSecretFile, filepath.Join(dir, "tsig.secret")},
		{"dns server gets port 53", c.DNS.Server, "127.0.0.1:53"},
		{"nameservers", strings.Join(c.DNS.Nameservers, ","), "192.0.2.1:53,192.0.2.2:5353"},
		{"eab", c.ACME.EAB.KeyID + " " + c.ACME.EAB.HMACKey, "kid-1 c2VjcmV0LWhtYWMta2V5"},
		{"token_file", c.Admin.TokenFile, "/run/hotcert/token"},
		{"profile", c.ACME.Profile, "shortlived"},
	} {
		if check.got != check.want {
			t.Errorf("%s: %q, want %q", check.name, check.got, check.want)
		}
	}
	if time.Duration(c.DNS.PropagationTimeout) != 90*time.Second || c.DNS.TTL != 30 || c.ACME.Concurrency != 2 {
		t.Errorf("propagation %s, ttl %d, concurrency %d", c.DNS.PropagationTimeout, c.DNS.TTL, c.ACME.Concurrency)
	}
	if got := c.Safety.RemovalLimitOrDefault(); got != 0 {
		t.Errorf("safety.removal_limit: 0 (no limit) read as %d", got)
	}
}

func TestLoadDomainsGood(t *testing.T) {
	d, err := LoadDomains("testdata/domains/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/domains")
	want := []Certificate{
		{Name: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"}, KeyTypes: []KeyType{ECDSAP256},
			KeyFile: filepath.Join(dir, "keys/shop.key"), Challenge: HTTP01},
		{Name: "_.example.net", Domains: []string{"*.example.net", "example.net"}, KeyTypes: []KeyType{RSA2048, ECDSAP384},
			Challenge: DNS01},
		{Name: "xn--bcher-kva.example", Domains: []string{"xn--bcher-kva.example"}, KeyTypes: []KeyType{ECDSAP256},
			Challenge: HTTP01},
		{Name: "_.wild.example", Domains: []string{"*.wild.example"}, KeyTypes: []KeyType{RSA4096}, Challenge: DNS01},
	}
	if got, w := fmt.Sprintf("%+v", d.Certificates), fmt.Sprintf("%+v", want); got != w {
		t.Errorf("certificates\n got %s\nwant %s", got, w)
	}
	if !d.Certificates[1].KeyTypes[0].IsRSA() || d.Certificates[1].KeyTypes[1].IsRSA() {
		t.Errorf("IsRSA wrong for %v", d.Certificates[1].KeyTypes)
	}
}

func TestEmptyCertificateListIsValid(t *testing.T) {
	d, err := LoadDomains("testdata/domains/good_empty_list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d.Certificates == nil || len(d.Certificates) != 0 {
		t.Errorf("certificates = %#v, want an empty, non-nil list", d.Certificates)
	}
}

func TestExamplesAreValid(t *testing.T) {
	c, err := LoadConfig("examples/hotcert.yaml")
	if err != nil {
		t.Fatalf("examples/hotcert.yaml: %v", err)
	}
	if c.HAProxy[0].CrtList != "/etc/haproxy/hotcert/certs.list" || !c.ACME.AcceptTerms {
		t.Errorf("example config read wrongly: %+v", c)
	}
	// The example starts on staging, and checks HAProxy's route before the CA does.
	if c.ACME.Directory != "https://acme-staging-v02.api.letsencrypt.org/directory" || c.Challenge.SelfCheck != "http://127.0.0.1:80" {
		t.Errorf("example directory %q, self_check %q", c.ACME.Directory, c.Challenge.SelfCheck)
	}
	d, err := LoadDomains("examples/domains.yaml")
	if err != nil {
		t.Fatalf("examples/domains.yaml: %v", err)
	}
	var names []string
	for _, c := range d.Certificates {
		names = append(names, c.Name)
	}
	if want := []string{"shop", "api.example.com", "buecher"}; !slices.Equal(names, want) {
		t.Errorf("example certificate names %v, want %v", names, want)
	}
}

func TestValidDomain(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"example.com", "example.com", ""},
		{"WWW.Example.COM.", "www.example.com", ""},
		{"*.example.com", "*.example.com", ""},
		{"bücher.example", "xn--bcher-kva.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"a-b.example.com", "a-b.example.com", ""},
		{"", "", "empty"},
		{"a.example.com\nshow info", "", "must not contain '\\n'"},
		{"a.example.com;x", "", "must not contain ';'"},
		{"a.example.com\x00", "", "must not contain"},
		{"a/b.example.com", "", "must not contain '/'"},
		{"*.*.example.com", "", "leftmost label"},
		{"a*.example.com", "", "leftmost label"},
		{"*", "", "leftmost label"},
		{"127.0.0.1", "", "IP addresses"},
		{"::1", "", "IP addresses"},
		{"[::1]", "", "IP addresses"},
		{"1.2.3", "", "all digits"},
		{"under_score.example.com", "", "idna"},
		{"trailing-.example.com", "", "idna"},
		{"com", "", "two labels"},
		{strings.Repeat("a", 64) + ".com", "", "longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "", "longer than 253"},
	} {
		got, err := ValidDomain(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ValidDomain(%q) = %q, %v; want %q, error containing %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCertificateName(t *testing.T) {
	for in, want := range map[string]string{"*.example.com": "_.example.com", "shop.example.com": "shop.example.com"} {
		if got := CertificateName(in); got != want {
			t.Errorf("CertificateName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDomainsLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("certificates:\n  - domains:\n")
	for i := range 101 {
		fmt.Fprintf(&b, "      - d%d.example.com\n", i)
	}
	long := strings.Repeat("a", 60) + ".example.com"
	fmt.Fprintf(&b, "  - domains: [%s]\n", long)
	_, err := ParseDomains("/etc/hotcert/domains.yaml", []byte(b.String()))
	want := []string{
		"/etc/hotcert/domains.yaml:3:7: certificates[0].domains: 101 domains; at most 100 fit in one certificate",
		"/etc/hotcert/domains.yaml:104:5: certificates[1].name: \"" + long + "\" is longer than 64 characters; set a shorter name",
	}
	assertProblems(t, problemStrings(t, err, "/"), want)
}

func TestValidateWithoutPositions(t *testing.T) {
	c := Config{File: "/etc/hotcert/hotcert.yaml", ACME: ACME{Directory: DefaultDirectory, AcceptTerms: true, Concurrency: 1},
		Challenge: Challenge{HTTP01Listen: "127.0.0.1:1"}, Admin: Admin{Listen: "127.0.0.1:2"}}
	err := c.Validate()
	if got, want := fmt.Sprint(err), "/etc/hotcert/hotcert.yaml: haproxy: at least one HAProxy instance is required"; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	d := Domains{File: "d.yaml", Certificates: []Certificate{{Name: "a", Domains: []string{"a.example.com"}, KeyTypes: []KeyType{ECDSAP256}}}}
	if err := d.Validate(); err != nil {
		t.Errorf("hand-built domains: %v", err)
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{File: "f.yaml", Line: 3, Col: 5, Field: "haproxy[0].socket", Msg: "required"},
		{File: "f.yaml", Msg: "invalid YAML: control characters are not allowed"},
	}
	want := "f.yaml:3:5: haproxy[0].socket: required\nf.yaml: invalid YAML: control characters are not allowed"
	if got := ps.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var target Problems
	if !errors.As(error(ps), &target) || len(target) != 2 {
		t.Errorf("errors.As failed on Problems")
	}
}

func TestParseConfigErrorsAreAllReported(t *testing.T) {
	// A field of the wrong type is reported once, not again as missing.
	c, err := ParseConfig("/x/hotcert.yaml", []byte("acme: {accept_terms: 1}\nhaproxy: nope\n"))
	if c == nil || c.DomainsFile != "/x/domains.yaml" {
		t.Errorf("a config with problems should still name its domains file for `hotcert check`: %+v", c)
	}
	want := []string{
		"/x/hotcert.yaml:1:22: acme.accept_terms: must be true or false, not 1",
		"/x/hotcert.yaml:2:10: haproxy: must be a list, not \"nope\"",
	}
	assertProblems(t, problemStrings(t, err, "/"), want)
}

func TestAliasesCannotLoopOrExplode(t *testing.T) {
	// A merge key that refers to its own mapping must not recurse forever.
	d, err := ParseDomains("/d.yaml", []byte("certificates:\n  - &m {domains: [a.example.com], <<: *m}\n"))
	if err != nil || len(d.Certificates) != 1 || d.Certificates[0].Name != "a.example.com" {
		t.Fatalf("self-merge: %v, %+v", err, d)
	}

	var b strings.Builder
	b.WriteString("x-d: &d [")
	for i := range 1000 {
		fmt.Fprintf(&b, "d%d.example.com, ", i)
	}
	b.WriteString("]\nx-c: &c {domains: *d}\ncertificates: [")
	b.WriteString(strings.Repeat("*c, ", 1000))
	b.WriteString("]\n")
	_, err = ParseDomains("/d.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "values; is an alias repeated too often?") {
		t.Fatalf("alias bomb: %.300v", err)
	}
}

// The alias bound must not refuse a large file that spells every value out:
// 30,000 certificates are 120,000 values.
func TestLargeDomainsFileWithoutAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("certificates:\n")
	const n = 30_000
	for i := range n {
		fmt.Fprintf(&b, "  - name: c%d\n    domains: [c%d.example.com]\n", i, i)
	}
	d, err := ParseDomains("/d.yaml", []byte(b.String()))
	if err != nil || len(d.Certificates) != n {
		t.Fatalf("%d certificates: %.300v", n, err)
	}
}
