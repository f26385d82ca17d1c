// Package legodns adapts the DNS providers of lego's library to dns01.Provider.
// It is the only package that imports lego.
package legodns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/go-acme/lego/v5/challenge"
	legodns01 "github.com/go-acme/lego/v5/challenge/dns01"
	legolog "github.com/go-acme/lego/v5/log"

	"github.com/hotcert/hotcert/dns01"
)

// ErrUnknown is returned by New for a name that is not compiled in.
var ErrUnknown = errors.New("unknown lego DNS provider")

// ErrOutsideChallengeName is returned when the record's FQDN does not start
// with _acme-challenge: lego's providers derive the name they write from a
// domain, so they cannot write anywhere else.
var ErrOutsideChallengeName = errors.New("lego providers write only at _acme-challenge.<name>")

const challengeLabel = "_acme-challenge."

// builders maps each compiled-in name (lego's code and its aliases) to
// lego's constructor, which reads its settings from the environment. The
// build-tagged providers_*.go files fill it.
var builders = map[string]func() (challenge.Provider, error){}

// Names lists the compiled-in provider names, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(builders))
}

// Provider is one lego provider, built with its own settings.
type Provider struct {
	name string
	p    challenge.Provider
	log  *slog.Logger
}

var cnameOnce sync.Once

// New builds lego's provider NAME with the variables of env set in the
// process environment for the duration of its construction only (lego's
// constructors read nothing else), so two providers of one kind may have
// different settings and no secret stays in the environment. A NAME_FILE
// variable in env is read by hotcert too, for the variables that a
// provider's SDK reads itself without lego's _FILE support.
func New(name string, env map[string]string, log *slog.Logger) (dns01.Provider, error) {
	build, ok := builders[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (compiled in: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	legolog.SetDefault(log.WithGroup("lego")) // lego logs through one global logger
	log.Debug("building lego DNS provider", "provider", name, "variables", slices.Sorted(maps.Keys(env)))
	var p challenge.Provider
	err := withEnv(env, func() (err error) { p, err = build(); return err })
	if err != nil {
		return nil, fmt.Errorf("lego DNS provider %s: %w", name, err)
	}
	return wrap(name, p, log), nil
}

func wrap(name string, p challenge.Provider, log *slog.Logger) *Provider {
	// hotcert's Solver has followed the CNAMEs already and hands over the
	// name to write. lego reads this variable on every Present, so it must
	// stay set; it names no secret.
	cnameOnce.Do(func() { os.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") })
	return &Provider{name: name, p: p, log: log.With("provider", name)}
}

var _ dns01.Provider = (*Provider)(nil)

// Present adds r's TXT value through lego.
func (p *Provider) Present(ctx context.Context, r dns01.Record) error {
	return p.call(ctx, "present", r, p.p.Present)
}

// CleanUp deletes r's TXT value through lego.
func (p *Provider) CleanUp(ctx context.Context, r dns01.Record) error {
	return p.call(ctx, "clean up", r, p.p.CleanUp)
}

// call runs lego's Present or CleanUp in a goroutine: lego passes ctx on
// to the provider, but not every provider's HTTP client honours it, and
// lego's call cannot be cancelled otherwise. When ctx ends first, call
// returns at once and the abandoned call finishes, or fails, on its own.
func (p *Provider) call(ctx context.Context, op string, r dns01.Record, fn func(ctx context.Context, domain, token, keyAuth string) error) error {
	domain, err := legoDomain(ctx, r)
	if err != nil {
		return fmt.Errorf("lego DNS provider %s: %s %s: %w", p.name, op, r.FQDN, err)
	}
	done := make(chan error, 1)
	go func() { done <- fn(ctx, domain, r.Token, r.KeyAuth) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
		go func() { // the abandoned call's outcome, which nobody waits for any more
			p.log.Debug("lego call ended after its deadline", "op", op, "name", r.FQDN, "error", <-done)
		}()
	}
	if err != nil {
		return fmt.Errorf("lego DNS provider %s: %s %s: %w", p.name, op, r.FQDN, err)
	}
	return nil
}

// legoDomain is the domain to hand lego so that it writes r.Value at
// exactly r.FQDN: with lego's own CNAME following off, lego writes at
// _acme-challenge.<domain>. For a record without a CNAME that is
// r.Domain; behind a CNAME it is the target's name without the label.
// The check uses lego's own helper, because propagation checks look at
// r.FQDN and a record written elsewhere would never be seen.
func legoDomain(ctx context.Context, r dns01.Record) (string, error) {
	domain, ok := strings.CutPrefix(strings.ToLower(r.FQDN), challengeLabel)
	if !ok {
		return "", fmt.Errorf("%w: the CNAME at _acme-challenge.%s points to %s; use provider exec or rfc2136 for it",
			ErrOutsideChallengeName, r.Domain, r.FQDN)
	}
	info := legodns01.GetChallengeInfo(ctx, domain, r.KeyAuth)
	if !strings.EqualFold(info.EffectiveFQDN, r.FQDN) || info.Value != r.Value {
		return "", fmt.Errorf("lego would write %s at %s, not %s at %s", info.Value, info.EffectiveFQDN, r.Value, r.FQDN)
	}
	return domain, nil
}
