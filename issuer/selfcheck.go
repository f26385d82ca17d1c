package issuer

import (
	"context"
	"errors"
)

// SelfChecker fetches an http-01 answer through the operator's own HTTP
// frontend, as the CA will, and explains an answer that is not keyAuth in
// the operator's words.
type SelfChecker interface {
	Check(ctx context.Context, domain, token, keyAuth string) error
}

// selfCheck reads every http-01 answer back before any challenge is
// accepted. A wrong answer fails the attempt as a local fault: no challenge
// was accepted, so the CA validated nothing and counted no failure.
func (c *Client) selfCheck(ctx context.Context, req Request, pending []pendingAuthz) error {
	if c.opts.SelfCheck == nil {
		return nil
	}
	for _, p := range pending {
		if p.typ != http01 {
			continue
		}
		if err := c.opts.SelfCheck.Check(ctx, p.domain, p.token, p.keyAuth); err != nil {
			if ctx.Err() != nil {
				return c.fail("self-check", req, p.domain, ctx.Err())
			}
			return &Error{Cert: req.Name, Domain: p.domain, op: "self-check", Err: err, Local: true}
		}
	}
	return nil
}

// diagnosedProblems are the CA's refusals of an http-01 validation that a
// look through the local frontend can explain.
var diagnosedProblems = map[string]bool{
	problemPrefix + "unauthorized":      true,
	problemPrefix + "connection":        true,
	problemPrefix + "incorrectResponse": true,
}

// diagnose adds to a failed http-01 validation what the self-check sees now,
// while the answer is still presented: the route the CA found broken may have
// broken since the check before it, or the CA reached another host.
func (c *Client) diagnose(ctx context.Context, req Request, p pendingAuthz, err error) error {
	var e *Error
	if c.opts.SelfCheck == nil || p.typ != http01 || !errors.As(err, &e) || !diagnosedProblems[e.Problem] || ctx.Err() != nil {
		return err
	}
	cerr := c.opts.SelfCheck.Check(ctx, p.domain, p.token, p.keyAuth)
	if ctx.Err() != nil {
		return err
	}
	out := *e
	if cerr != nil {
		// The local route is at fault, so a fix is likely under way, and the
		// next attempt checks it again before the CA validates anything.
		out.Diagnosis, out.Local = cerr.Error(), true
	} else {
		out.Diagnosis = "HAProxy answers correctly here: the CA reached another host or address for " + p.domain +
			" (check its DNS records, AAAA included, and the firewall on port 80)"
	}
	return &out
}
