// Package dns01 answers ACME dns-01 challenges with RFC 2136 dynamic updates signed with
// TSIG: it adds and deletes exactly one TXT record at _acme-challenge.<domain> (or at the
// target of a CNAME there), and waits until every authoritative nameserver answers it.
package dns01

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Options configures a Solver. Server and, for signed updates, KeyName and Secret are required.
type Options struct {
	Server             string   // primary that accepts updates, host:port
	Zone               string   // optional; found from the SOA when empty
	KeyName            string   // TSIG key name, with or without the trailing dot
	Algorithm          string   // hmac-sha256 (default), hmac-sha384, hmac-sha512, hmac-sha1
	Secret             string   // base64, as in BIND's key statement; never logged
	TTL                int      // default 60
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

// Solver presents dns-01 challenges. It is safe for concurrent use.
type Solver struct {
	opts      Options
	keyName   string
	algorithm string
	log       *slog.Logger

	mu      sync.Mutex
	targets map[string]target // domain+value → where the record went, so CleanUp needs no lookups
}

// target is where a challenge's TXT record lives.
type target struct {
	name string // fqdn, after following CNAMEs
	zone string // fqdn
}

// New checks opts and returns a Solver. It does no I/O.
func New(opts Options) (*Solver, error) {
	if opts.Server == "" {
		return nil, fmt.Errorf("%w: dns.server is required for dns-01", ErrBadConfig)
	}
	alg, err := tsigAlgorithm(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	if opts.KeyName != "" {
		if err := checkSecret(opts.Secret); err != nil {
			return nil, err
		}
	}
	setDefaults(&opts)
	if opts.Zone != "" {
		opts.Zone = dns.CanonicalName(opts.Zone)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Solver{
		opts: opts, keyName: dns.CanonicalName(opts.KeyName), algorithm: alg, log: log,
		targets: map[string]target{},
	}, nil
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

// Present adds the TXT record value for domain, next to any other values there: a
// wildcard and its base domain share one name and are validated at the same time.
func (s *Solver) Present(ctx context.Context, domain, value string) error {
	t, err := s.locate(ctx, domain)
	if err != nil {
		return err
	}
	s.remember(domain, value, t)
	if err := s.update(ctx, t, value, true); err != nil {
		return &Error{Op: "add TXT", Name: t.name, Zone: t.zone, Server: s.opts.Server, Err: err}
	}
	s.log.Debug("dns-01 record added", "name", t.name, "zone", t.zone, "server", s.opts.Server)
	return nil
}

// CleanUp deletes exactly the TXT record that Present added, leaving other values alone.
func (s *Solver) CleanUp(ctx context.Context, domain, value string) error {
	t, ok := s.forget(domain, value)
	if !ok {
		var err error
		if t, err = s.locate(ctx, domain); err != nil {
			return err
		}
	}
	if err := s.update(ctx, t, value, false); err != nil {
		return &Error{Op: "delete TXT", Name: t.name, Zone: t.zone, Server: s.opts.Server, Err: err}
	}
	s.log.Debug("dns-01 record deleted", "name", t.name, "zone", t.zone, "server", s.opts.Server)
	return nil
}

func (s *Solver) remember(domain, value string, t target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[domain+" "+value] = t
}

func (s *Solver) forget(domain, value string) (target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[domain+" "+value]
	delete(s.targets, domain+" "+value)
	return t, ok
}

func (s *Solver) lookup(domain, value string) (target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.targets[domain+" "+value]
	return t, ok
}

// update adds (or deletes) one TXT RR. Deleting uses class NONE (RFC 2136 section 2.5.4),
// which removes that exact record and never the whole set.
func (s *Solver) update(ctx context.Context, t target, value string, add bool) error {
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: t.name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(s.opts.TTL)},
		Txt: []string{value},
	}
	m := new(dns.Msg)
	m.SetUpdate(t.zone)
	if add {
		m.Insert([]dns.RR{rr})
	} else {
		m.Remove([]dns.RR{rr})
	}
	c := s.client("tcp")
	if s.keyName != "" {
		c.TsigSecret = map[string]string{s.keyName: s.opts.Secret}
		m.SetTsig(s.keyName, s.algorithm, fudge, time.Now().Unix())
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, s.opts.Server)
	return updateResult(r, err)
}

// updateResult turns the server's answer into an error. A server that rejects the key
// answers unsigned, so the rcode is read before the client's signature complaint.
func updateResult(r *dns.Msg, err error) error {
	if r != nil && r.Rcode != dns.RcodeSuccess {
		return rcodeErr(r)
	}
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("no answer")
	}
	return nil
}

func rcodeErr(r *dns.Msg) error {
	e := &rcodeError{rcode: dns.RcodeToString[r.Rcode]}
	if t := r.IsTsig(); t != nil && t.Error != 0 {
		e.tsigCode = dns.RcodeToString[int(t.Error)]
		if e.tsigCode == "" {
			e.tsigCode = fmt.Sprint(t.Error)
		}
	}
	switch {
	case e.tsigCode == "BADTIME":
		return fmt.Errorf("%s (TSIG BADTIME): the clocks of hotcert and the server differ by more than %d s", e.rcode, fudge)
	case e.tsigCode != "", r.Rcode == dns.RcodeRefused, r.Rcode == dns.RcodeNotAuth,
		r.Rcode == dns.RcodeNotZone, r.Rcode == dns.RcodeNotImplemented:
		return e
	}
	return fmt.Errorf("server answered %s", e.rcode)
}

func (s *Solver) client(network string) *dns.Client {
	return &dns.Client{Net: network, Timeout: s.opts.QueryTimeout}
}
