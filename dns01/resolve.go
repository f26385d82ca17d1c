package dns01

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// locate finds where the challenge record of domain goes: the name after following
// CNAMEs at _acme-challenge.<domain>, and the zone that holds it.
func (s *Solver) locate(ctx context.Context, domain string) (target, error) {
	name, err := s.followCNAMEs(ctx, ChallengeName(domain))
	if err != nil {
		return target{}, &Error{Op: "follow CNAME", Name: ChallengeName(domain), Server: s.server, Err: err}
	}
	zone, err := s.findZone(ctx, name)
	if err != nil {
		return target{}, &Error{Op: "find zone", Name: name, Server: s.server, Err: err}
	}
	return target{name: name, zone: zone}, nil
}

// followCNAMEs asks the primary, and where it is not authoritative the resolver,
// whether name is an alias: with the acme-dns pattern, the record lives in another zone,
// often one that exists only for challenges.
func (s *Solver) followCNAMEs(ctx context.Context, name string) (string, error) {
	seen := []string{name}
	for range maxCNAMEs {
		next, err := s.cname(ctx, name)
		if err != nil || next == "" {
			return name, err
		}
		if slices.Contains(seen, next) {
			return "", fmt.Errorf("CNAME loop: %s", strings.Join(append(seen, next), " -> "))
		}
		s.log.Debug("dns-01 following CNAME", "from", name, "to", next)
		seen, name = append(seen, next), next
	}
	return "", fmt.Errorf("more than %d CNAMEs: %s", maxCNAMEs, strings.Join(seen, " -> "))
}

func (s *Solver) cname(ctx context.Context, name string) (string, error) {
	r, err := s.query(ctx, s.server, name, dns.TypeCNAME, s.recursive)
	if err != nil {
		return "", err
	}
	if !s.recursive && (!r.Authoritative || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError)) {
		if s.resolver == "" {
			return "", nil
		}
		if r, err = s.query(ctx, s.resolver, name, dns.TypeCNAME, true); err != nil {
			return "", nil // the name may simply not exist publicly; the primary decides below
		}
	}
	for _, rr := range r.Answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			return dns.CanonicalName(c.Target), nil
		}
	}
	return "", nil
}

func systemResolver() string {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		return ""
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port)
}

// findZone walks up from name asking the primary (or the resolver) for the SOA. An authoritative answer
// names the zone either in its answer or, for a name without an SOA, in its authority
// section. A SERVFAIL on the way is not a "no": the zone may be loading, so the walk then
// ends in a transient error rather than ErrNoZone.
func (s *Solver) findZone(ctx context.Context, name string) (string, error) {
	if s.opts.Zone != "" && dns.IsSubDomain(s.opts.Zone, name) {
		return s.opts.Zone, nil
	}
	servfail := ""
	for n := name; ; {
		r, err := s.query(ctx, s.server, n, dns.TypeSOA, s.recursive)
		if err != nil {
			return "", err
		}
		if zone := soaOwner(r, name, s.recursive); zone != "" {
			return zone, nil
		}
		if r.Rcode == dns.RcodeServerFailure && servfail == "" {
			servfail = n
		}
		i, end := dns.NextLabel(n, 0)
		if end && servfail != "" {
			return "", fmt.Errorf("the server answered SERVFAIL for the SOA of %s, and no zone above %s", servfail, name)
		}
		if end {
			return "", fmt.Errorf("%w: the server is authoritative for no zone above %s", ErrNoZone, name)
		}
		n = n[i:]
	}
}

// soaOwner reads the zone of name from an SOA answer: an authoritative one
// from the primary, or any from a recursive resolver, which never sets AA.
func soaOwner(r *dns.Msg, name string, recursive bool) string {
	if (!r.Authoritative && !recursive) || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) {
		return ""
	}
	for _, rr := range append(slices.Clone(r.Answer), r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) {
			return dns.CanonicalName(soa.Hdr.Name)
		}
	}
	return ""
}

// nameserver is one authoritative server as propagation sees it: a name and
// the addresses it answers at. It is up to date when any one address answers
// the value: a host with no IPv6 route never reaches a nameserver's AAAA,
// and that must not hold up a certificate the IPv4 address already serves.
type nameserver struct {
	name  string   // the NS host, or the configured host:port
	addrs []string // host:port each
}

func (ns nameserver) String() string {
	if len(ns.addrs) == 1 && ns.addrs[0] == ns.name {
		return ns.name
	}
	return ns.name + " (" + strings.Join(ns.addrs, " ") + ")"
}

// nameservers are where propagation is checked: the configured list, or the
// zone's NS hosts with their addresses.
func (s *Solver) nameservers(ctx context.Context, zone string) ([]nameserver, error) {
	if len(s.opts.Nameservers) > 0 {
		out := make([]nameserver, len(s.opts.Nameservers))
		for i, a := range s.opts.Nameservers {
			out[i] = nameserver{name: a, addrs: []string{a}}
		}
		return out, nil
	}
	r, err := s.query(ctx, s.server, zone, dns.TypeNS, s.recursive)
	if err != nil {
		return nil, err
	}
	var out []nameserver
	for _, rr := range r.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		addrs, err := s.hostAddrs(ctx, r, ns.Ns)
		if err != nil {
			return nil, fmt.Errorf("address of nameserver %s: %w", ns.Ns, err)
		}
		host := nameserver{name: ns.Ns}
		for _, a := range addrs {
			host.addrs = append(host.addrs, net.JoinHostPort(a, s.opts.NameserverPort))
		}
		out = append(out, host)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("zone %s has no NS records at %s; set dns.nameservers", zone, s.server)
	}
	return out, nil
}

// hostAddrs prefers the glue in the NS answer, then the primary (or the resolver), then
// the system's resolver.
func (s *Solver) hostAddrs(ctx context.Context, r *dns.Msg, host string) ([]string, error) {
	addrs := glue(r.Extra, host)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if len(addrs) > 0 {
			break
		}
		if a, err := s.query(ctx, s.server, host, qt, s.recursive); err == nil && (a.Authoritative || s.recursive) {
			addrs = glue(a.Answer, host)
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	return net.DefaultResolver.LookupHost(ctx, strings.TrimSuffix(host, "."))
}

func glue(rrs []dns.RR, host string) []string {
	var out []string
	for _, rr := range rrs {
		if !strings.EqualFold(rr.Header().Name, host) {
			continue
		}
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.A.String())
		case *dns.AAAA:
			out = append(out, a.AAAA.String())
		}
	}
	return out
}

// Wait returns once every authoritative nameserver answers c's value at the challenge name of
// its domain (at one of its addresses at least), or fails with ErrNotPropagated after the
// propagation timeout.
func (s *Solver) Wait(ctx context.Context, c Challenge) error {
	t, ok := s.lookup(c)
	if !ok {
		var err error
		if t, err = s.locate(ctx, c.Domain); err != nil {
			return err
		}
	}
	servers, err := s.nameservers(ctx, t.zone)
	if err != nil {
		return &Error{Op: "find nameservers", Zone: t.zone, Server: s.server, Err: err}
	}
	missing, err := s.poll(ctx, t.name, c.Value, servers)
	if err != nil {
		return &Error{Op: "wait for propagation of", Name: t.name, Zone: t.zone, Err: err}
	}
	if len(missing) > 0 {
		names := make([]string, len(missing))
		for i, ns := range missing {
			names[i] = ns.String()
		}
		return &Error{Op: "wait for propagation of", Name: t.name, Zone: t.zone,
			Err: fmt.Errorf("%w within %s: missing on %s", ErrNotPropagated, s.opts.PropagationTimeout, strings.Join(names, ", "))}
	}
	s.log.Debug("dns-01 record propagated", "name", t.name, "nameservers", len(servers))
	return nil
}

// poll asks each nameserver until it answers value; it returns those that never did.
func (s *Solver) poll(ctx context.Context, name, value string, servers []nameserver) ([]nameserver, error) {
	deadline := time.NewTimer(s.opts.PropagationTimeout)
	defer deadline.Stop()
	missing := slices.Clone(servers)
	for {
		missing = slices.DeleteFunc(missing, func(ns nameserver) bool { return s.upToDate(ctx, ns, name, value) })
		if len(missing) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return missing, ctx.Err()
		case <-deadline.C:
			return missing, nil
		case <-time.After(s.opts.PollInterval):
		}
	}
}

// upToDate asks every address of ns at once and reports whether any answers
// value. At once, because an address that swallows queries would otherwise
// cost a whole query timeout before the next one is asked.
func (s *Solver) upToDate(ctx context.Context, ns nameserver, name, value string) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the others need not finish once one has answered
	answered := make(chan bool, len(ns.addrs))
	for _, addr := range ns.addrs {
		go func() { answered <- s.answers(ctx, addr, name, value) }()
	}
	for range ns.addrs {
		if <-answered {
			return true
		}
	}
	return false
}

func (s *Solver) answers(ctx context.Context, server, name, value string) bool {
	r, err := s.query(ctx, server, name, dns.TypeTXT, false)
	if err != nil {
		return false
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, name) && strings.Join(t.Txt, "") == value {
			return true
		}
	}
	return false
}

// query sends one question over UDP, and again over TCP when the answer was truncated.
func (s *Solver) query(ctx context.Context, server, name string, qtype uint16, recursive bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = recursive
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	r, _, err := s.client("udp").ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		r, _, err = s.client("tcp").ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", dns.TypeToString[qtype], name, server, err)
	}
	return r, nil
}
