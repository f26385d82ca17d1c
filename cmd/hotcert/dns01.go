package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/dns01"
	"github.com/hotcert/hotcert/issuer"
)

// dnsSolver builds the dns-01 solver from the dns section, or nil when there is none:
// certificates that ask for dns-01 then fail with an error saying so.
func dnsSolver(cfg *configs.Config, log *slog.Logger) (issuer.DNSSolver, error) {
	d := cfg.DNS
	if d.Server == "" {
		return nil, nil
	}
	var secret string
	if d.TSIGSecretFile != "" {
		var err error
		if secret, err = dns01.ReadSecret(d.TSIGSecretFile); err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
	}
	s, err := dns01.New(dns01.Options{
		Server: d.Server, Zone: d.Zone, KeyName: d.TSIGKey, Algorithm: d.TSIGAlgorithm, Secret: secret,
		TTL: d.TTL, Nameservers: d.Nameservers, PropagationTimeout: time.Duration(d.PropagationTimeout),
		Logger: log.With("component", "dns01"),
	})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return s, nil
}
