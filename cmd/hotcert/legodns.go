package main

import (
	"log/slog"
	"strings"

	"github.com/hotcert/hotcert/dns01"
	"github.com/hotcert/hotcert/legodns"
)

// newLegoProvider builds lego's DNS provider NAME. "lego:NAME" always
// means lego's provider, so that lego's rfc2136 stays reachable beside
// hotcert's own rfc2136 kind; a bare name other than hotcert's kinds means
// lego's too.
func newLegoProvider(name string, env map[string]string, log *slog.Logger) (dns01.Provider, error) {
	return legodns.New(strings.TrimPrefix(name, "lego:"), env, log)
}

// legoProviderNames lists the lego providers compiled into this binary.
func legoProviderNames() []string { return legodns.Names() }
