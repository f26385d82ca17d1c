package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/dns01"
	"github.com/hotcert/hotcert/issuer"
)

// dnsSolvers sets the dns-01 solvers of opts: one for the dns section when
// it is in use (without it, certificates that ask for dns-01 fail with an
// error saying so), and one for each of dns_providers.
func dnsSolvers(cfg *configs.Config, log *slog.Logger, opts *issuer.Options) error {
	for _, sec := range dnsConfigs(cfg) {
		s, err := dnsSolver(sec, log)
		if err != nil {
			return err
		}
		if sec.name == "" {
			opts.DNSSolver = s
			continue
		}
		if opts.DNSProviders == nil {
			opts.DNSProviders = map[string]issuer.DNSSolver{}
		}
		opts.DNSProviders[sec.name] = s
	}
	return nil
}

// dnsConfig is one provider of the config: the dns section (name "") or
// one of dns_providers.
type dnsConfig struct {
	field, name string
	dns         configs.DNS
}

func dnsConfigs(cfg *configs.Config) []dnsConfig {
	var out []dnsConfig
	if cfg.DNS.InUse() {
		out = append(out, dnsConfig{"dns", "", cfg.DNS})
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.DNSProviders)) {
		out = append(out, dnsConfig{"dns_providers." + name, name, cfg.DNSProviders[name]})
	}
	return out
}

// dnsFieldError is a dns section that cannot work, located at its field
// for `hotcert check`.
type dnsFieldError struct {
	Field string // "dns" or "dns_providers.NAME", with the key when known
	Err   error
}

func (e *dnsFieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *dnsFieldError) Unwrap() error { return e.Err }

// dnsSolver builds the solver of one dns section. Its log lines and its
// commands' output name the provider ("dns" for the dns section).
func dnsSolver(sec dnsConfig, log *slog.Logger) (issuer.DNSSolver, error) {
	field, d := sec.field, sec.dns
	log = log.With("component", "dns01", "dns_provider", cmp.Or(sec.name, "dns"))
	prov, err := dnsProvider(d, log)
	var fe *dnsFieldError
	if errors.As(err, &fe) {
		return nil, &dnsFieldError{field + "." + fe.Field, fe.Err}
	}
	if err != nil {
		return nil, &dnsFieldError{field + ".provider", err}
	}
	var secret string
	if d.TSIGSecretFile != "" {
		if secret, err = dns01.ReadSecret(d.TSIGSecretFile); err != nil {
			return nil, &dnsFieldError{field, err}
		}
	}
	s, err := dns01.New(dns01.Options{
		Provider: prov, Server: d.Server, Zone: d.Zone, KeyName: d.TSIGKey, Algorithm: d.TSIGAlgorithm, Secret: secret,
		TTL: d.TTL, Resolver: d.Resolver, Nameservers: d.Nameservers, PropagationTimeout: time.Duration(d.PropagationTimeout),
		Logger: log,
	})
	if err != nil {
		return nil, &dnsFieldError{field, err}
	}
	return dnsAdapter{s}, nil
}

// dnsProvider is the Provider of d's kind; nil for rfc2136, which the
// Solver builds from the section's server and key.
func dnsProvider(d configs.DNS, log *slog.Logger) (dns01.Provider, error) {
	if lego := d.Lego(); lego != "" {
		if !slices.Contains(legoProviderNames(), lego) {
			return nil, fmt.Errorf("%q is not a provider compiled into this hotcert; it has: %s", d.Provider,
				strings.Join(dnsProviderKinds(), ", "))
		}
		return newLegoProvider(lego, d.Env, log)
	}
	if d.Provider == configs.ProviderExec {
		// A command that is missing fails here, at start-up and in check,
		// rather than at the first order.
		if _, err := exec.LookPath(d.Exec[0]); err != nil {
			return nil, &dnsFieldError{"exec", err}
		}
		return dns01.Exec{Command: d.Exec, Env: d.EnvList(), Timeout: time.Duration(d.ExecTimeout), Logger: log}, nil
	}
	return nil, nil
}

// dnsProviderKinds are the provider names this hotcert knows: its own, then
// lego's compiled in.
func dnsProviderKinds() []string {
	return append([]string{configs.ProviderRFC2136, configs.ProviderExec}, legoProviderNames()...)
}

// dnsAdapter is a dns01.Solver as the issuer sees it; the two packages'
// challenge types are the same struct, so that neither imports the other.
type dnsAdapter struct{ s *dns01.Solver }

var _ issuer.DNSSolver = dnsAdapter{}

func (a dnsAdapter) Present(ctx context.Context, c issuer.DNSChallenge) error {
	return a.s.Present(ctx, dns01.Challenge(c))
}

func (a dnsAdapter) Wait(ctx context.Context, c issuer.DNSChallenge) error {
	return a.s.Wait(ctx, dns01.Challenge(c))
}

func (a dnsAdapter) CleanUp(ctx context.Context, c issuer.DNSChallenge) error {
	return a.s.CleanUp(ctx, dns01.Challenge(c))
}
