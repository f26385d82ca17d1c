package configs

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseHAProxy ends on line 6; the dns sections below start on line 7.

func TestDNSProvidersAreDecodedWithDefaults(t *testing.T) {
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(baseHAProxy+`dns:
  server: 10.0.0.53
  tsig_key: hotcert
  tsig_secret_file: tsig.secret
dns_providers:
  scripted:
    provider: exec
    exec: [./hooks/dns.sh, --verbose]
    env: {API_TOKEN_FILE: "${CREDENTIALS_DIRECTORY}/token", ZONE: example.com}
  cloud:
    provider: cloudflare
    env: {CLOUDFLARE_DNS_API_TOKEN_FILE: /etc/hotcert/cf.token}
    resolver: 1.1.1.1
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DNS.Provider != ProviderRFC2136 || c.DNS.Server != "10.0.0.53:53" || c.DNS.Lego() != "" {
		t.Errorf("dns = %+v", c.DNS)
	}
	s := c.DNSProviders["scripted"]
	if !slices.Equal(s.Exec, []string{"/etc/hotcert/hooks/dns.sh", "--verbose"}) || time.Duration(s.ExecTimeout) != time.Minute ||
		s.Lego() != "" || s.PropagationTimeout != DefaultPropagationTimeout {
		t.Errorf("scripted = %+v", s)
	}
	if got := s.EnvList(); !slices.Equal(got, []string{"API_TOKEN_FILE=${CREDENTIALS_DIRECTORY}/token", "ZONE=example.com"}) {
		t.Errorf("scripted env = %v", got)
	}
	if cl := c.DNSProviders["cloud"]; cl.Lego() != "cloudflare" || cl.Resolver != "1.1.1.1:53" || !cl.InUse() {
		t.Errorf("cloud = %+v", cl)
	}
}

func TestDNSProviderNamingRule(t *testing.T) {
	for provider, lego := range map[string]string{
		"rfc2136": "", "exec": "", "route53": "route53", "lego:rfc2136": "rfc2136", "lego:exec": "exec",
	} {
		d := DNS{Provider: provider}
		if got := d.Lego(); got != lego {
			t.Errorf("provider %q: lego provider %q, want %q", provider, got, lego)
		}
	}
}

func TestDNSProviderProblems(t *testing.T) {
	for body, want := range map[string]string{
		"dns:\n  provider: exec\n":                                                "8:3: dns.exec: required for provider exec",
		"dns:\n  provider: exec\n  exec: [hook]\n  server: 10.0.0.1\n":            "10:11: dns.server: only for provider rfc2136",
		"dns:\n  server: 10.0.0.1\n  env: {A: b}\n":                               "9:8: dns.env: only for provider exec and lego's providers",
		"dns:\n  provider: cloudflare\n  exec: [hook]\n":                          "9:9: dns.exec: only for provider exec, not cloudflare",
		"dns:\n  provider: cloudflare\n  env: {1A: b}\n":                          `9:13: dns.env.1A: "1A" is not an environment variable name`,
		"dns:\n  provider: \"lego:\"\n":                                           `8:13: dns.provider: "lego:": name one of lego's providers`,
		"dns:\n  provider: exec\n  exec: [hooks/dns.sh]\n  exec_timeout: -1s\n":   "10:17: dns.exec_timeout: must be positive",
		"dns_providers:\n  internal:\n    provider: rfc2136\n":                    "9:5: dns_providers.internal.server: required for provider rfc2136",
		"dns_providers:\n  Bad Name:\n    provider: cloudflare\n":                 `9:5: dns_providers.Bad Name: "Bad Name": a provider's name`,
		"dns_providers:\n  a: {provider: cloudflare}\n  a: {provider: route53}\n": "9:3: dns_providers.a: duplicate key",
		"dns_providers: [cloudflare]\n":                                           "7:16: dns_providers: must be a mapping of names to values",
		"dns:\n  provider: exec\n  exec: [hook]\n  env: {A: [1]}\n":               "10:12: dns.env.A: must be a string",
	} {
		oneProblem(t, baseHAProxy+body, want)
	}
}

func TestDNSProviderOfCertificate(t *testing.T) {
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(baseHAProxy+`dns_providers:
  scripted: {provider: exec, exec: [/usr/local/bin/dns-hook]}
  cloud: {provider: cloudflare}
`))
	if err != nil {
		t.Fatal(err)
	}
	for data, want := range map[string]string{
		"certificates:\n  - domains: [a.example.com]\n    challenge: dns-01\n    dns_provider: scripted\n": "",
		"certificates:\n  - domains: [a.example.com]\n    challenge: dns-01\n    dns_provider: nope\n":     `4:19: certificates[0].dns_provider: "nope" is not in dns_providers of /etc/hotcert/hotcert.yaml (it has: cloud, scripted)`,
		"certificates:\n  - domains: [a.example.com]\n    dns_provider: scripted\n":                        "3:19: certificates[0].dns_provider: only with challenge: dns-01",
		"certificates:\n  - domains: [a.example.com]\n    challenge: dns-01\n":                             "3:16: certificates[0].challenge: dns-01 needs dns.server",
	} {
		_, err := c.CheckDomains("/etc/hotcert/domains.yaml", []byte(data))
		var ps Problems
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", data, err)
		case want != "" && (!errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), want)):
			t.Errorf("%q: got %v\nwant one problem containing %q", data, err, want)
		}
	}
}

// What selects lego's own rfc2136 provider (the lego adapter's test writes
// this) is valid as it stands.
func TestLegoRFC2136Section(t *testing.T) {
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(baseHAProxy+`dns:
  provider: lego:rfc2136
  env:
    RFC2136_NAMESERVER: 127.0.0.1:5353
    RFC2136_TSIG_KEY: hotcert.
    RFC2136_TSIG_ALGORITHM: hmac-sha256.
    RFC2136_TSIG_SECRET_FILE: tsig.secret
  resolver: 127.0.0.1:5353
  nameservers: [127.0.0.1:5353]
  propagation_timeout: 60s
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DNS.Lego() != "rfc2136" || c.DNS.Env["RFC2136_TSIG_SECRET_FILE"] != "/etc/hotcert/tsig.secret" || !c.DNS.InUse() {
		t.Fatalf("dns = %+v", c.DNS)
	}
}
