package configs

import (
	"errors"
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
