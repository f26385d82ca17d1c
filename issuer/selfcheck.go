package issuer

import (
	"context"
	"crypto/rand"
	"errors"
	"time"
)

// SelfChecker fetches an http-01 answer through the operator's own HTTP
// frontend, as the CA will, and explains an answer that is not keyAuth in
// the operator's words.
type SelfChecker interface {
	Check(ctx context.Context, domain, token, keyAuth string) error
}

// probe checks the route of every name of an http-01 request with a token of
// its own, before the order is placed: a route that is missing for every
// certificate would otherwise cost an order each, and Let's Encrypt limits
// new orders per account too.
func (c *Client) probe(ctx context.Context, req Request) error {
	if c.opts.SelfCheck == nil || c.opts.HTTPSolver == nil || (req.Challenge != "" && req.Challenge != http01) {
		return nil
	}
	token := "hotcert-self-check-" + rand.Text()
	keyAuth := token + "." + c.thumbprint
	if err := c.opts.HTTPSolver.Present(ctx, token, keyAuth); err != nil {
		return solverErr("present the self-check's token", req, "", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := c.opts.HTTPSolver.CleanUp(cctx, token); err != nil {
			c.log.Warn("self-check cleanup failed", "cert", req.Name, "err", err)
		}
	}()
	pending := make([]pendingAuthz, len(req.Domains))
	for i, d := range req.Domains {
		pending[i] = pendingAuthz{domain: d, token: token, typ: http01, keyAuth: keyAuth}
	}
	return c.selfCheck(ctx, req, pending)
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
func (c *Client) diagnose(ctx context.Context, p pendingAuthz, err error) error {
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
