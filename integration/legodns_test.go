package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/dns01"
	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/legodns"
)

// legoRecord is the record hotcert's Solver hands a provider for domain,
// written at fqdn (after CNAMEs).
func legoRecord(domain, fqdn, keyAuth string) dns01.Record {
	sum := sha256.Sum256([]byte(keyAuth))
	return dns01.Record{Domain: domain, FQDN: fqdn, Token: "token", KeyAuth: keyAuth,
		Value: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// legoEnv is lego's rfc2136 settings for b, the secret read from a file.
func legoEnv(t *testing.T, b *bind, secret string) map[string]string {
	file := filepath.Join(t.TempDir(), "tsig.secret")
	writeFile(t, file, secret+"\n")
	return map[string]string{
		"RFC2136_NAMESERVER":       b.Addr,
		"RFC2136_TSIG_KEY":         b.KeyName,
		"RFC2136_TSIG_SECRET_FILE": file,
		"RFC2136_TSIG_ALGORITHM":   "hmac-sha256.",
	}
}

func hasValue(rrs []string, value string) bool {
	for _, rr := range rrs {
		if strings.Contains(rr, `"`+value+`"`) {
			return true
		}
	}
	return false
}

// TestLegoRFC2136AtBIND: lego's own rfc2136 provider, built by name through
// legodns with its settings in env, adds and deletes TXT records at a real
// BIND, at the name hotcert's Solver gives it, also behind a CNAME into
// another zone. A second provider of the same kind with a wrong secret is
// refused, so each provider keeps its own settings.
func TestLegoRFC2136AtBIND(t *testing.T) {
	b := startBIND(t, dnsZones...)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	good, err := legodns.New("rfc2136", legoEnv(t, b, b.Secret), log)
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret := randomSecret(t)
	bad, err := legodns.New("rfc2136", legoEnv(t, b, wrongSecret), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	apex := legoRecord("example.test", "_acme-challenge.example.test.", "apex.key")
	sub := legoRecord("sub.example.test", "_acme-challenge.delegated.test.", "sub.key")
	for _, r := range []dns01.Record{apex, sub} {
		if err := good.Present(ctx, r); err != nil {
			t.Fatalf("present %s: %v", r.FQDN, err)
		}
	}
	if got := b.challengeTXT(t, "example.test"); !hasValue(got, apex.Value) {
		t.Fatalf("example.test holds %v, want %s", got, apex.Value)
	}
	if got := b.challengeTXT(t, "delegated.test"); !hasValue(got, sub.Value) {
		t.Fatalf("delegated.test holds %v, want %s (the CNAME's target)", got, sub.Value)
	}

	other := legoRecord("example.test", "_acme-challenge.example.test.", "other.key")
	err = bad.Present(ctx, other)
	if err == nil {
		t.Fatal("BIND accepted an update signed with the wrong secret")
	}
	if strings.Contains(err.Error(), wrongSecret) || strings.Contains(err.Error(), b.Secret) {
		t.Fatalf("error shows a secret: %v", err)
	}

	for _, r := range []dns01.Record{apex, sub} {
		if err := good.CleanUp(ctx, r); err != nil {
			t.Fatalf("clean up %s: %v", r.FQDN, err)
		}
	}
	waitNoChallenges(t, b, "example.test")
	waitNoChallenges(t, b, "delegated.test")
	if strings.Contains(logs.String(), b.Secret) || strings.Contains(logs.String(), wrongSecret) {
		t.Fatal("a secret is in the log")
	}
}

// TestLegoProviderWildcardEndToEnd: the real binary issues a wildcard
// certificate through lego's rfc2136 provider, chosen with
// dns.provider: lego:rfc2136 and configured in dns.env, against a real
// BIND; HAProxy serves it. A second certificate's challenge is a CNAME
// into delegated.test. (lego's rfc2136 replaces the TXT set at a name, so
// the wildcard has no apex beside it here: see docs/reference.md.)
func TestLegoProviderWildcardEndToEnd(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	b := startBIND(t, dnsZones...)
	e := newEnv(t, envOptions{ca: testca.Options{DNSResolver: b.Addr}})
	writeFile(t, filepath.Join(e.dir, "tsig.secret"), b.Secret+"\n")
	e.extraConfig = fmt.Sprintf(`dns:
  provider: "lego:rfc2136"
  env:
    RFC2136_NAMESERVER: %[1]q
    RFC2136_TSIG_KEY: %[2]q
    RFC2136_TSIG_SECRET_FILE: %[3]q
    RFC2136_TSIG_ALGORITHM: hmac-sha256.
  resolver: %[1]s
  nameservers: [%[1]s]
  propagation_timeout: 60s
`, b.Addr, b.KeyName, filepath.Join(e.dir, "tsig.secret"))
	h := e.lbs[0]
	e.writeDomains(`certificates:
  - name: wild
    domains: ["*.example.test"]
    challenge: dns-01
  - name: sub
    domains: [sub.example.test]
    challenge: dns-01
`)
	p := e.start()
	h.waitServed("anything.example.test", e.bundle(0, "wild"), 120*time.Second)
	assertChainVerifies(t, e, e.bundle(0, "wild"), "anything.example.test")
	h.waitServed("sub.example.test", e.bundle(0, "sub"), 120*time.Second)
	waitNoChallenges(t, b, "example.test")
	waitNoChallenges(t, b, "delegated.test")
	if strings.Contains(p.Logs(), b.Secret) {
		t.Fatal("hotcert logged the TSIG secret")
	}
	p.stop(t)
}
