package dns01

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// rfc2136 is the Provider that sends dynamic updates (RFC 2136), signed
// with TSIG when a key is set, to the zone's primary.
type rfc2136 struct {
	server    string
	keyName   string // fqdn, or "" for unsigned updates
	algorithm string
	secret    string
	ttl       int
	timeout   time.Duration
}

func newRFC2136(o Options) (*rfc2136, error) {
	if o.Server == "" {
		return nil, fmt.Errorf("%w: dns.server is required for dns-01", ErrBadConfig)
	}
	alg, err := tsigAlgorithm(o.Algorithm)
	if err != nil {
		return nil, err
	}
	if o.KeyName != "" {
		if err := checkSecret(o.Secret); err != nil {
			return nil, err
		}
	}
	return &rfc2136{server: o.Server, keyName: dns.CanonicalName(o.KeyName), algorithm: alg,
		secret: o.Secret, ttl: o.TTL, timeout: o.QueryTimeout}, nil
}

func (p *rfc2136) Present(ctx context.Context, r Record) error {
	if err := p.update(ctx, r, true); err != nil {
		return &Error{Op: "add TXT", Name: r.FQDN, Zone: r.Zone, Server: p.server, Err: err}
	}
	return nil
}

func (p *rfc2136) CleanUp(ctx context.Context, r Record) error {
	if err := p.update(ctx, r, false); err != nil {
		return &Error{Op: "delete TXT", Name: r.FQDN, Zone: r.Zone, Server: p.server, Err: err}
	}
	return nil
}

// update adds (or deletes) one TXT RR. Deleting uses class NONE (RFC 2136 section 2.5.4),
// which removes that exact record and never the whole set.
func (p *rfc2136) update(ctx context.Context, r Record, add bool) error {
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: r.FQDN, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(p.ttl)},
		Txt: []string{r.Value},
	}
	m := new(dns.Msg)
	m.SetUpdate(r.Zone)
	if add {
		m.Insert([]dns.RR{rr})
	} else {
		m.Remove([]dns.RR{rr})
	}
	c := &dns.Client{Net: "tcp", Timeout: p.timeout}
	if p.keyName != "" {
		c.TsigSecret = map[string]string{p.keyName: p.secret}
		m.SetTsig(p.keyName, p.algorithm, fudge, time.Now().Unix())
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, m, p.server)
	return updateResult(resp, err)
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
