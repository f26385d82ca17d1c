package main

import (
	"fmt"
	"log/slog"

	"github.com/hotcert/hotcert/dns01"
)

// newLegoProvider builds a provider of lego's DNS library by name (see legodns).
func newLegoProvider(name string, env map[string]string, log *slog.Logger) (dns01.Provider, error) {
	return nil, fmt.Errorf("dns provider %q: lego's providers are not compiled in", name)
}

// legoProviderNames are the lego providers compiled in, for check's messages.
func legoProviderNames() []string { return nil }
