// Package dns01 answers ACME dns-01 challenges: it adds and deletes exactly one TXT record at
// _acme-challenge.<domain> (or at the target of a CNAME there) through a Provider (RFC 2136
// dynamic updates signed with TSIG, an operator's command, or one from outside), and waits
// until every authoritative nameserver answers it.
package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Options configures a Solver. Provider, or for the built-in rfc2136 provider Server
// and, for signed updates, KeyName and Secret, are required.
type Options struct {
	// Provider writes and deletes the TXT records; nil → RFC 2136 updates to Server.
	Provider           Provider
	Server             string   // rfc2136: primary that accepts updates, host:port
	Zone               string   // optional; found from the SOA when empty
	KeyName            string   // rfc2136: TSIG key name, with or without the trailing dot
	Algorithm          string   // rfc2136: hmac-sha256 (default), hmac-sha384, hmac-sha512, hmac-sha1
	Secret             string   // rfc2136: base64, as in BIND's key statement; never logged
	TTL                int      // rfc2136: default 60
	Resolver           string   // recursive resolver, host:port; default: the first of /etc/resolv.conf
	Nameservers        []string // host:port each; empty → the zone's NS hosts
	NameserverPort     string   // port for NS hosts found in the zone; default "53"
	PropagationTimeout time.Duration
	PollInterval       time.Duration // between propagation checks; default 1s
	QueryTimeout       time.Duration // per DNS exchange; default 5s
	Logger             *slog.Logger  // nil → discard
}

const (
	defaultTTL         = 60
	defaultPropagation = 2 * time.Minute
	defaultPoll        = time.Second
	defaultQuery       = 5 * time.Second
	fudge              = 300 // seconds of clock skew TSIG tolerates, as BIND's nsupdate
	maxCNAMEs          = 8
)

// Challenge is one dns-01 challenge as the issuer hands it over.
type Challenge struct {
	Domain  string // the authorization's identifier: example.com for *.example.com
	Token   string
	KeyAuth string
	Value   string // the TXT record's content
}

// Solver presents dns-01 challenges through its Provider, and does what
// every provider needs the same way: it finds the zone, follows a CNAME at
// the challenge name, and waits for propagation. It is safe for concurrent use.
type Solver struct {
	opts     Options
	provider Provider
	// server answers the lookups (SOA, CNAME, NS): the rfc2136 primary,
	// asked without recursion, or else a recursive resolver.
	server    string
	recursive bool
	resolver  string // for names the primary is not authoritative for; "" → none
	log       *slog.Logger

	mu      sync.Mutex
	targets map[string]target // domain+value → where the record went, so CleanUp needs no lookups
}

// target is where a challenge's TXT record lives.
type target struct {
	name string // fqdn, after following CNAMEs
	zone string // fqdn
}

// New checks opts and returns a Solver. It does no I/O besides reading
// /etc/resolv.conf when a resolver is needed and none is given.
func New(opts Options) (*Solver, error) {
	setDefaults(&opts)
	prov := opts.Provider
	if prov == nil {
		p, err := newRFC2136(opts)
		if err != nil {
			return nil, err
		}
		prov = p
	}
	if opts.Zone != "" {
		opts.Zone = dns.CanonicalName(opts.Zone)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Solver{opts: opts, provider: prov, server: opts.Server, resolver: opts.Resolver, log: log,
		targets: map[string]target{}}
	if s.resolver == "" {
		s.resolver = systemResolver()
	}
	if s.server == "" {
		if s.resolver == "" {
			return nil, fmt.Errorf("%w: no resolver in /etc/resolv.conf; set dns.resolver", ErrBadConfig)
		}
		s.server, s.recursive = s.resolver, true
	}
	return s, nil
}

func setDefaults(o *Options) {
	if o.TTL <= 0 {
		o.TTL = defaultTTL
	}
	if o.PropagationTimeout <= 0 {
		o.PropagationTimeout = defaultPropagation
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPoll
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = defaultQuery
	}
	if o.NameserverPort == "" {
		o.NameserverPort = "53"
	}
}

// ChallengeName is where the CA looks for the TXT record of domain (RFC 8555 section 8.4).
// A wildcard's authorization is for its base domain, so "*." is dropped.
func ChallengeName(domain string) string {
	return dns.Fqdn("_acme-challenge." + strings.TrimPrefix(strings.ToLower(domain), "*."))
}

// Present adds the TXT record of c, next to any other values there: a
// wildcard and its base domain share one name and are validated at the same time.
func (s *Solver) Present(ctx context.Context, c Challenge) error {
	t, err := s.locate(ctx, c.Domain)
	if err != nil {
		return err
	}
	s.remember(c, t)
	if err := s.provider.Present(ctx, record(c, t)); err != nil {
		return s.providerErr("add TXT", t, err)
	}
	s.log.Debug("dns-01 record added", "name", t.name, "zone", t.zone)
	return nil
}

// CleanUp deletes exactly the TXT record that Present added, leaving other values alone.
func (s *Solver) CleanUp(ctx context.Context, c Challenge) error {
	t, ok := s.forget(c)
	if !ok {
		var err error
		if t, err = s.locate(ctx, c.Domain); err != nil {
			return err
		}
	}
	if err := s.provider.CleanUp(ctx, record(c, t)); err != nil {
		return s.providerErr("delete TXT", t, err)
	}
	s.log.Debug("dns-01 record deleted", "name", t.name, "zone", t.zone)
	return nil
}

func record(c Challenge, t target) Record {
	return Record{Domain: c.Domain, FQDN: t.name, Zone: t.zone, Value: c.Value, Token: c.Token, KeyAuth: c.KeyAuth}
}

// providerErr names the record for a provider whose error does not.
func (s *Solver) providerErr(op string, t target, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Name: t.name, Zone: t.zone, Err: err}
}

func key(c Challenge) string { return c.Domain + " " + c.Value }

func (s *Solver) remember(c Challenge, t target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[key(c)] = t
}

func (s *Solver) forget(c Challenge) (target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[key(c)]
	delete(s.targets, key(c))
	return t, ok
}

func (s *Solver) lookup(c Challenge) (target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[key(c)]
	return t, ok
}

func (s *Solver) client(network string) *dns.Client {
	return &dns.Client{Net: network, Timeout: s.opts.QueryTimeout}
}
