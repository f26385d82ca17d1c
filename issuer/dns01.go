package issuer

import (
	"context"
	"errors"
	"fmt"
)

const dns01 = "dns-01"

// DNSSolver publishes dns-01 TXT records. value is the record's content for domain, the
// identifier of the authorization (a wildcard's base domain). A wildcard and its base
// domain give two values for one name at the same time, so Present must add, not replace,
// and CleanUp must delete only value.
type DNSSolver interface {
	Present(ctx context.Context, domain, value string) error
	// Wait returns once the CA can see value: it is called after every record of an order
	// was presented, and before the CA is asked to validate.
	Wait(ctx context.Context, domain, value string) error
	CleanUp(ctx context.Context, domain, value string) error
}

// challengeType is the challenge req asks for, checked against the configured solvers.
func (c *Client) challengeType(req Request) (string, error) {
	typ := req.Challenge
	if typ == "" {
		typ = http01
	}
	var missing bool
	switch typ {
	case http01:
		missing = c.opts.HTTPSolver == nil
	case dns01:
		missing = c.opts.DNSSolver == nil
	default:
		return "", &Error{Cert: req.Name, op: "authorize", Permanent: true,
			Err: fmt.Errorf("%w: unknown challenge type %q", errBadRequest, typ)}
	}
	if missing {
		err := fmt.Errorf("no %s solver configured", typ)
		if typ == dns01 {
			err = errors.New("no dns-01 solver configured (set the dns section of the config)")
		}
		return "", &Error{Cert: req.Name, op: "authorize", Err: err, Permanent: true}
	}
	return typ, nil
}

// present publishes the answer to p's challenge.
func (c *Client) present(ctx context.Context, req Request, p *pendingAuthz) error {
	var err error
	switch p.typ {
	case dns01:
		if p.value, err = c.acme.DNS01ChallengeRecord(p.token); err != nil {
			return &Error{Cert: req.Name, Domain: p.domain, op: "authorize", Err: err}
		}
		p.presented = true
		err = c.opts.DNSSolver.Present(ctx, p.domain, p.value)
	default:
		keyAuth, kerr := c.acme.HTTP01ChallengeResponse(p.token)
		if kerr != nil {
			return &Error{Cert: req.Name, Domain: p.domain, op: "authorize", Err: kerr}
		}
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
		if err := c.opts.DNSSolver.Wait(ctx, p.domain, p.value); err != nil {
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
		err = c.opts.DNSSolver.CleanUp(ctx, p.domain, p.value)
	default:
		err = c.opts.HTTPSolver.CleanUp(ctx, p.token)
	}
	if err != nil {
		c.log.Warn(p.typ+" cleanup failed", "cert", req.Name, "domain", p.domain, "err", err)
	}
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
