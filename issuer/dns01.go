package issuer

import (
	"context"
	"errors"
	"fmt"
)

const dns01 = "dns-01"

// DNSChallenge is one dns-01 challenge. Value is the TXT record's content for Domain, the
// identifier of the authorization (a wildcard's base domain); Token and KeyAuth are there
// for DNS providers that compute the value themselves.
type DNSChallenge struct {
	Domain  string
	Token   string
	KeyAuth string
	Value   string
}

// DNSSolver publishes dns-01 TXT records. A wildcard and its base domain give two values
// for one name at the same time, so Present must add, not replace, and CleanUp must delete
// only its own value.
type DNSSolver interface {
	Present(ctx context.Context, c DNSChallenge) error
	// Wait returns once the CA can see the value: it is called after every record of an
	// order was presented, and before the CA is asked to validate.
	Wait(ctx context.Context, c DNSChallenge) error
	CleanUp(ctx context.Context, c DNSChallenge) error
}

// dnsSolver is the solver of req's DNS provider: Options.DNSSolver, or the one
// Options.DNSProviders names.
func (c *Client) dnsSolver(req Request) (DNSSolver, error) {
	if req.DNSProvider == "" {
		if c.opts.DNSSolver == nil {
			return nil, errors.New("no dns-01 solver configured (set the dns section of the config)")
		}
		return c.opts.DNSSolver, nil
	}
	s, ok := c.opts.DNSProviders[req.DNSProvider]
	if !ok {
		return nil, fmt.Errorf("no dns provider %q configured (see dns_providers in the config)", req.DNSProvider)
	}
	return s, nil
}

// challengeType is the challenge req asks for, checked against the configured solvers.
func (c *Client) challengeType(req Request) (string, error) {
	typ := req.Challenge
	if typ == "" {
		typ = http01
	}
	var err error
	switch typ {
	case http01:
		if c.opts.HTTPSolver == nil {
			err = fmt.Errorf("no %s solver configured", typ)
		}
	case dns01:
		_, err = c.dnsSolver(req)
	default:
		return "", &Error{Cert: req.Name, op: "authorize", Permanent: true,
			Err: fmt.Errorf("%w: unknown challenge type %q", errBadRequest, typ)}
	}
	if err != nil {
		return "", &Error{Cert: req.Name, op: "authorize", Err: err, Permanent: true}
	}
	return typ, nil
}

// present publishes the answer to p's challenge.
func (c *Client) present(ctx context.Context, req Request, p *pendingAuthz) error {
	keyAuth, err := c.acme.HTTP01ChallengeResponse(p.token) // the same for every type
	if err != nil {
		return &Error{Cert: req.Name, Domain: p.domain, op: "authorize", Err: err}
	}
	switch p.typ {
	case dns01:
		if p.value, err = c.acme.DNS01ChallengeRecord(p.token); err != nil {
			return &Error{Cert: req.Name, Domain: p.domain, op: "authorize", Err: err}
		}
		p.keyAuth, p.presented = keyAuth, true
		err = p.dns.Present(ctx, p.dnsChallenge())
	default:
		p.presented, p.keyAuth = true, keyAuth
		err = c.opts.HTTPSolver.Present(ctx, p.token, keyAuth)
	}
	return solverErr("present "+p.typ, req, p.domain, err)
}

// propagate waits until the CA can see every dns-01 record; http-01 answers are local.
func (c *Client) propagate(ctx context.Context, req Request, pending []pendingAuthz) error {
	for _, p := range pending {
		if p.typ != dns01 {
			continue
		}
		if err := p.dns.Wait(ctx, p.dnsChallenge()); err != nil {
			return solverErr("wait for dns-01 propagation", req, p.domain, err)
		}
	}
	return nil
}

// cleanup withdraws p's answer. Failures are logged: the order's outcome is already known.
func (c *Client) cleanup(ctx context.Context, req Request, p pendingAuthz) {
	var err error
	switch p.typ {
	case dns01:
		err = p.dns.CleanUp(ctx, p.dnsChallenge())
	default:
		err = c.opts.HTTPSolver.CleanUp(ctx, p.token)
	}
	if err != nil {
		c.log.Warn(p.typ+" cleanup failed", "cert", req.Name, "domain", p.domain, "err", err)
	}
}

func (p *pendingAuthz) dnsChallenge() DNSChallenge {
	return DNSChallenge{Domain: p.domain, Token: p.token, KeyAuth: p.keyAuth, Value: p.value}
}

// solverErr wraps a solver's error for req. A solver marks errors that retrying cannot fix
// (a rejected TSIG key, a refused update) with a Permanent method, so that the issuer
// needs no knowledge of DNS.
func solverErr(op string, req Request, domain string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Cert: req.Name, Domain: domain, op: op, Err: err}
	var p interface{ Permanent() bool }
	if errors.As(err, &p) {
		e.Permanent = p.Permanent()
	}
	return e
}
