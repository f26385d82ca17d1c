package issuer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"

	"golang.org/x/crypto/acme"
)

// Request asks for one certificate.
type Request struct {
	Name    string         // certificate name, for errors and logs
	Domains []string       // the first one becomes the subject CN when it fits
	KeyType bundle.KeyType // ecdsa-p256 when empty
	Key     crypto.Signer  // optional: the user's own key; nil → a fresh key of KeyType
	// Challenge is "http-01" (the default when empty) or "dns-01".
	Challenge string
	// DNSProvider names one of Options.DNSProviders for dns-01; "" → Options.DNSSolver.
	DNSProvider string
	// Replaces is the certificate this order renews, if any. Where the CA offers ARI, the
	// order names it in "replaces" (RFC 9773 section 5), so that the CA links the two and
	// Let's Encrypt exempts the renewal from some rate limits. It needs the certificate's
	// authority key identifier; without one, or at a CA without ARI, it is ignored. When
	// the CA refuses the link (already replaced, another account's certificate), the order
	// is placed again without it rather than failing the renewal.
	Replaces *x509.Certificate
}

// Bundle is an issued certificate with its key.
type Bundle struct {
	Key     crypto.Signer
	KeyPEM  []byte // PKCS#8 "PRIVATE KEY"
	CertPEM []byte // leaf first, then the chain
	Leaf    *x509.Certificate
}

// Issue runs one ACME order for req, bounded by Options.OrderTimeout: order, http-01 for the
// authorizations that need it, finalize, download, and a check of what came back.
func (c *Client) Issue(ctx context.Context, req Request) (*Bundle, error) {
	key, err := requestKey(req)
	if err != nil {
		return nil, &Error{Cert: req.Name, op: "prepare order", Err: err, Permanent: true}
	}
	if _, err := c.challengeType(req); err != nil { // before an order that could not be solved
		return nil, err
	}
	if _, err := c.Register(ctx); err != nil {
		return nil, withCert(err, req.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.OrderTimeout)
	defer cancel()
	if err := c.probe(ctx, req); err != nil {
		return nil, err
	}
	start := c.opts.Now()
	log := c.log.With("cert", req.Name)

	order, err := c.newOrder(ctx, req)
	if err != nil {
		return nil, c.fail("order", req, "", err)
	}
	log.Debug("order created", "order", order.URI, "status", order.Status)
	if err := c.authorize(ctx, req, order.AuthzURLs); err != nil {
		return nil, err
	}
	der, err := c.finalize(ctx, req, order, key)
	if err != nil {
		return nil, err
	}
	b, err := makeBundle(req, key, der)
	if err != nil {
		return nil, &Error{Cert: req.Name, op: "check certificate", Err: err}
	}
	log.Debug("certificate issued", "serial", fmt.Sprintf("%x", b.Leaf.SerialNumber),
		"not_after", b.Leaf.NotAfter, "took", c.opts.Now().Sub(start))
	return b, nil
}

func (c *Client) orderOptions() []acme.OrderOption {
	if c.opts.Profile == "" {
		return nil
	}
	return []acme.OrderOption{acme.WithOrderIssuanceProfile(acme.ProfileName(c.opts.Profile))}
}

func requestKey(req Request) (crypto.Signer, error) {
	if len(req.Domains) == 0 {
		return nil, fmt.Errorf("%w: no domains", errBadRequest)
	}
	if req.Key == nil {
		return GenerateKey(req.KeyType)
	}
	return req.Key, checkKey(req.Key)
}

// fail classifies err for req, naming the domain the CA blamed when it said which.
func (c *Client) fail(op string, req Request, domain string, err error) error {
	out := classify(op, req.Name, domain, err)
	var e *Error
	if errors.As(out, &e) && e.Domain == "" {
		e.Domain = blamedDomain(e.Detail, req.Domains)
	}
	return out
}

func blamedDomain(detail string, domains []string) string {
	for _, d := range domains {
		if strings.Contains(detail, `"`+d+`"`) {
			return d
		}
	}
	return ""
}

func withCert(err error, cert string) error {
	var e *Error
	if errors.As(err, &e) && e.Cert == "" {
		cp := *e
		cp.Cert = cert
		return &cp
	}
	return err
}

// finalize submits the CSR and returns the chain. x/crypto's CreateCertFromOrder waits at least
// a second when the order is still processing, so it runs in the background while this loop
// polls the order at PollInterval and fetches the certificate as soon as it is valid.
func (c *Client) finalize(ctx context.Context, req Request, order *acme.Order, key crypto.Signer) ([][]byte, error) {
	ready, err := c.waitOrder(ctx, req, order.URI)
	if err != nil {
		return nil, err
	}
	csr, err := makeCSR(req.Domains, key)
	if err != nil {
		return nil, &Error{Cert: req.Name, op: "make CSR", Err: err, Permanent: true}
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		der [][]byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		der, _, err := c.acme.CreateCertFromOrder(fctx, ready, csr, true)
		done <- result{der, err}
	}()
	p := c.newPoller(order.URI)
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, c.fail("finalize", req, "", r.err)
			}
			return r.der, nil
		case <-p.wait(ctx):
		}
		if ctx.Err() != nil {
			return nil, c.fail("finalize", req, "", ctx.Err())
		}
		o, err := c.acme.GetOrder(ctx, order.URI)
		if err != nil || o.Status != acme.StatusValid || o.CertURL == "" {
			continue // the finalize call reports real failures
		}
		cancel()
		der, err := c.acme.FetchCert(ctx, o.CertURL, true)
		if err != nil {
			return nil, c.fail("download certificate", req, "", err)
		}
		return der, nil
	}
}

// waitOrder polls until the order is ready (or already valid).
func (c *Client) waitOrder(ctx context.Context, req Request, url string) (*acme.Order, error) {
	p := c.newPoller(url)
	for {
		o, err := c.acme.GetOrder(ctx, url)
		if err != nil {
			return nil, c.fail("poll order", req, "", err)
		}
		switch o.Status {
		case acme.StatusReady, acme.StatusValid, acme.StatusProcessing:
			return o, nil
		case acme.StatusInvalid:
			return nil, c.fail("order", req, "", &acme.OrderError{OrderURL: url, Status: o.Status, Problem: o.Error})
		}
		select {
		case <-ctx.Done():
			return nil, c.fail("poll order", req, "", ctx.Err())
		case <-p.wait(ctx):
		}
	}
}

func makeCSR(domains []string, key crypto.Signer) ([]byte, error) {
	tmpl := &x509.CertificateRequest{DNSNames: domains}
	if len(domains[0]) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: domains[0]}
	}
	return x509.CreateCertificateRequest(rand.Reader, tmpl, key)
}

// makeBundle checks that the CA certified what was asked, with the key that was asked.
func makeBundle(req Request, key crypto.Signer, der [][]byte) (*Bundle, error) {
	if len(der) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("parse leaf: %w", err)
	}
	if err := covers(leaf, req.Domains); err != nil {
		return nil, err
	}
	if !certifies(leaf, key) {
		return nil, errors.New("the leaf's public key is not the request key")
	}
	keyPEM, err := MarshalKey(key)
	if err != nil {
		return nil, err
	}
	var certPEM []byte
	for _, d := range der {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return &Bundle{Key: key, KeyPEM: keyPEM, CertPEM: certPEM, Leaf: leaf}, nil
}

func covers(leaf *x509.Certificate, domains []string) error {
	for _, d := range domains {
		found := false
		for _, san := range leaf.DNSNames {
			if strings.EqualFold(san, d) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("the leaf does not cover %s (it names %v)", d, leaf.DNSNames)
		}
	}
	return nil
}

// poller paces a poll loop: PollInterval at first, growing by a quarter per round up to 2s so
// a slow validation does not hammer the CA, and never sooner than the CA's Retry-After.
type poller struct {
	c        *Client
	url      string
	interval time.Duration
}

const maxPoll = 2 * time.Second

func (c *Client) newPoller(url string) *poller {
	return &poller{c: c, url: url, interval: c.opts.PollInterval}
}

func (p *poller) wait(ctx context.Context) <-chan time.Time {
	d := p.interval
	if ra := p.c.hints.take(p.url); ra > d {
		d = min(ra, maxInlineWait)
	}
	p.interval = min(p.interval+p.interval/4, maxPoll)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = max(time.Until(dl), 0)
	}
	return time.After(d)
}
