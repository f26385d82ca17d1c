package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
)

// check names a provider this hotcert does not have, at its line, with the
// ones it has.
func TestCheckNamesAnUnknownDNSProvider(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "dns_providers:\n  public:\n    provider: no-such-dns\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1; stdout %q", code, stdout.String())
	}
	want := cfg + `:10:15: dns_providers.public.provider: "no-such-dns" is not a provider compiled into this hotcert; it has: ` +
		strings.Join(dnsProviderKinds(), ", ")
	if !strings.Contains(stderr.String(), want) {
		t.Fatalf("check said:\n%s\nwant %s", stderr.String(), want)
	}
}

// Each configured provider gets a solver of its own, under its name.
func TestDNSSolversOnePerProvider(t *testing.T) {
	cfg := &configs.Config{
		DNS: configs.DNS{Provider: configs.ProviderExec, Exec: []string{"/bin/true"}, Resolver: "127.0.0.1:53"},
		DNSProviders: map[string]configs.DNS{
			"internal": {Provider: configs.ProviderRFC2136, Server: "127.0.0.1:53"},
			"scripted": {Provider: configs.ProviderExec, Exec: []string{"/bin/true"}, Resolver: "127.0.0.1:53"},
		},
	}
	var opts issuer.Options
	if err := dnsSolvers(cfg, slog.New(slog.DiscardHandler), &opts); err != nil {
		t.Fatal(err)
	}
	if opts.DNSSolver == nil || len(opts.DNSProviders) != 2 || opts.DNSProviders["internal"] == nil || opts.DNSProviders["scripted"] == nil {
		t.Fatalf("solvers: default %v, named %v", opts.DNSSolver, opts.DNSProviders)
	}
	var none issuer.Options
	if err := dnsSolvers(&configs.Config{}, slog.New(slog.DiscardHandler), &none); err != nil || none.DNSSolver != nil || none.DNSProviders != nil {
		t.Fatalf("without a dns section: %v, %+v", err, none)
	}
}

// A command that is not there fails check at its field, not the first order.
func TestCheckNamesAMissingExecCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "dns:\n  provider: exec\n  exec: [./no-such-hook]\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check exit %d, want 1; stdout %q", code, stdout.String())
	}
	if want := cfg + ":10:9: dns.exec: exec: \"" + dir + "/no-such-hook\""; !strings.Contains(stderr.String(), want) {
		t.Fatalf("check said:\n%s\nwant %s", stderr.String(), want)
	}
}
