package issuer

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/acme"
)

const http01 = "http-01"

// pendingAuthz is an authorization whose challenge was presented.
type pendingAuthz struct {
	url    string
	domain string
	token  string
	typ    string // http-01 or dns-01
	value  string // dns-01: the TXT record's value
	// keyAuth is the key authorization: http-01's answer, which a self-check
	// expects to read back, and what dns-01 providers that compute the value
	// themselves need.
	keyAuth string
	dns     DNSSolver // dns-01: the solver of the request's DNS provider
	chal    *acme.Challenge
	// presented: the solver was asked to publish the answer, so it must be withdrawn.
	presented bool
}

// authorize completes every authorization that is not valid yet. All challenges are presented
// (and dns-01 records seen on every nameserver) and accepted before any is polled, so the CA
// validates them in parallel. Every presented answer is cleaned up, whatever happens.
func (c *Client) authorize(ctx context.Context, req Request, urls []string) error {
	typ, err := c.challengeType(req)
	if err != nil {
		return err
	}
	var pending []pendingAuthz
	defer func() {
		// The order's context may be done; cleanup must still happen.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		for _, p := range pending {
			c.cleanup(cctx, req, p)
		}
	}()
	for _, url := range urls {
		p, err := c.startAuthz(ctx, req, typ, url)
		if p != nil { // even when presenting failed: the answer may be out there
			pending = append(pending, *p)
		}
		if err != nil {
			return err
		}
	}
	if err := c.propagate(ctx, req, pending); err != nil {
		return err
	}
	if err := c.selfCheck(ctx, req, pending); err != nil {
		return err
	}
	for _, p := range pending {
		if _, err := c.acme.Accept(ctx, p.chal); err != nil {
			return c.fail("accept challenge", req, p.domain, err)
		}
	}
	for _, p := range pending {
		if err := c.waitAuthz(ctx, req, p); err != nil {
			return c.diagnose(ctx, p, err)
		}
	}
	return nil
}

// startAuthz presents the challenge of type typ of a pending authorization. It returns nil
// for an authorization that is already valid (CAs reuse recent ones). Once the solver was
// asked to present, it returns the authorization even with an error, for cleanup: a lost
// answer from a DNS primary may hide a record that was added.
func (c *Client) startAuthz(ctx context.Context, req Request, typ, url string) (*pendingAuthz, error) {
	z, err := c.acme.GetAuthorization(ctx, url)
	if err != nil {
		return nil, c.fail("get authorization", req, "", err)
	}
	domain := z.Identifier.Value
	switch z.Status {
	case acme.StatusValid:
		return nil, nil
	case acme.StatusPending:
	default:
		return nil, authzFailed(req, z)
	}
	chal := findChallenge(z, typ)
	if chal == nil {
		return nil, &Error{Cert: req.Name, Domain: domain, op: "authorize", Permanent: true,
			Err: fmt.Errorf("the CA offers no %s challenge for %s", typ, domain)}
	}
	p := &pendingAuthz{url: url, domain: domain, token: chal.Token, typ: typ, chal: chal}
	if typ == dns01 {
		p.dns, _ = c.dnsSolver(req) // challengeType found it before the order
	}
	if err := c.present(ctx, req, p); err != nil {
		if !p.presented {
			return nil, err
		}
		return p, err
	}
	return p, nil
}

func findChallenge(z *acme.Authorization, typ string) *acme.Challenge {
	for _, ch := range z.Challenges {
		if ch.Type == typ {
			return ch
		}
	}
	return nil
}

// waitAuthz polls one authorization until the CA has decided.
func (c *Client) waitAuthz(ctx context.Context, req Request, p pendingAuthz) error {
	poll := c.newPoller(p.url)
	for {
		select {
		case <-ctx.Done():
			return c.fail("wait for validation", req, p.domain, ctx.Err())
		case <-poll.wait(ctx):
		}
		z, err := c.acme.GetAuthorization(ctx, p.url)
		if err != nil {
			return c.fail("poll authorization", req, p.domain, err)
		}
		switch z.Status {
		case acme.StatusValid:
			return nil
		case acme.StatusPending:
			continue
		}
		return authzFailed(req, z)
	}
}

// authzFailed names the domain, the challenge type and the CA's problem. Connection and
// content failures are transient: DNS or the proxy may be fixed, or the CA may have raced
// a deployment. Let's Encrypt reports a 404, a wrong key authorization and a TXT record it
// cannot see yet all as "unauthorized", so in a validation that problem is transient too.
func authzFailed(req Request, z *acme.Authorization) error {
	e := &Error{Cert: req.Name, Domain: z.Identifier.Value, op: "authorize"}
	typ := "authorization"
	for _, ch := range z.Challenges {
		var ae *acme.Error
		if errors.As(ch.Error, &ae) {
			typ = ch.Type
			fillProblem(e, ae)
			if ae.ProblemType == problemPrefix+"unauthorized" {
				e.Permanent = false
			}
			e.Err = ae
			break
		}
	}
	e.op = typ + " validation (" + z.Status + ")"
	if e.Err == nil {
		e.Err = fmt.Errorf("authorization is %s", z.Status)
	}
	return e
}
