package main

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/hotcert/hotcert/legodns"
)

// "lego:rfc2136" and "rfc2136" both reach lego's provider through this
// function: the caller keeps hotcert's own kinds away from it.
func TestNewLegoProviderAcceptsPrefix(t *testing.T) {
	if !slices.Contains(legoProviderNames(), "rfc2136") {
		t.Skip("lego's rfc2136 not compiled in")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := map[string]string{"RFC2136_NAMESERVER": "127.0.0.1:53"}
	for _, name := range []string{"lego:rfc2136", "rfc2136", "lego:dnsupdate"} {
		if _, err := newLegoProvider(name, env, log); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := newLegoProvider("lego:nosuch", env, log); !errors.Is(err, legodns.ErrUnknown) {
		t.Errorf("lego:nosuch: error %v, want legodns.ErrUnknown", err)
	}
}
