package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hotcert/hotcert/internal/bundle"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"golang.org/x/crypto/acme"
)

// newOrder places the order for req. A renewal at a CA that offers ARI names the
// certificate it replaces (RFC 9773 section 5), which lets the CA link the two and, at
// Let's Encrypt, exempt the renewal from some rate limits. x/crypto's order options are
// sealed and have no "replaces", so that one request is signed and sent here; everything
// after it (authorizations, polling, finalize) stays with x/crypto.
func (c *Client) newOrder(ctx context.Context, req Request) (*acme.Order, error) {
	replaces := c.replacesID(ctx, req)
	if replaces == "" {
		return c.acme.AuthorizeOrder(ctx, acme.DomainIDs(req.Domains...), c.orderOptions()...)
	}
	o, err := c.orderReplacing(ctx, req.Domains, replaces)
	var ae *acme.Error
	if !errors.As(err, &ae) {
		return o, err // placed, or no answer from the CA: nothing says the link is at fault
	}
	if _, limited := acme.RateLimit(ae); limited {
		return nil, err // an order without the link would count against the same limit
	}
	// The CA refused the link: the certificate was already replaced (a renewal that was
	// placed and then lost here), belongs to another account, or is unknown to it. The
	// renewal itself must not fail for that.
	c.log.Info("the CA refused the ARI replaces field; ordering without it", "cert", req.Name,
		"replaces", replaces, "problem", ae.ProblemType, "detail", ae.Detail)
	return c.acme.AuthorizeOrder(ctx, acme.DomainIDs(req.Domains...), c.orderOptions()...)
}

// replacesID is the ARI certificate ID of req.Replaces, or "" when there is nothing to name:
// no certificate, a CA without ARI (or whose directory cannot be read, when the order will
// fail on its own), or a certificate without an authority key identifier.
func (c *Client) replacesID(ctx context.Context, req Request) string {
	if req.Replaces == nil {
		return ""
	}
	if _, err := c.renewalInfoURL(ctx); err != nil {
		return ""
	}
	id, err := certID(req.Replaces)
	if err != nil {
		return ""
	}
	return id
}

// maxBadNonce bounds the immediate retries of a newOrder the CA answered with badNonce.
const maxBadNonce = 20

// orderReplacing sends newOrder with a replaces field, signed by the account key. A badNonce
// is retried at once with the fresh nonce the refusal carries.
func (c *Client) orderReplacing(ctx context.Context, domains []string, replaces string) (*acme.Order, error) {
	dir, err := c.acme.Discover(ctx)
	if err != nil {
		return nil, err
	}
	req := orderRequest{Profile: c.opts.Profile, Replaces: replaces}
	for _, d := range domains {
		req.Identifiers = append(req.Identifiers, identifier{Type: "dns", Value: d})
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	key, kid := c.acme.Key, c.accountURI
	c.mu.Unlock()
	nonce, err := c.fetchNonce(ctx, dir.NonceURL)
	if err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		res, err := c.postSigned(ctx, key, kid, nonce, dir.OrderURL, payload)
		if err != nil {
			return nil, err
		}
		o, err := readOrder(res)
		if nonce = res.Header.Get("Replay-Nonce"); !isBadNonce(err) || nonce == "" || n >= maxBadNonce {
			return o, err
		}
	}
}

// orderRequest is the newOrder payload.
type orderRequest struct {
	Identifiers []identifier `json:"identifiers"`
	Profile     string       `json:"profile,omitempty"`
	Replaces    string       `json:"replaces,omitempty"`
}

// identifier is acme.AuthzID with the wire's lower-case names.
type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (c *Client) fetchNonce(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return "", err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	if n := res.Header.Get("Replay-Nonce"); n != "" {
		return n, nil
	}
	return "", fmt.Errorf("newNonce answered %s without a Replay-Nonce", res.Status)
}

// postSigned POSTs payload as a flattened JWS with the account's kid (RFC 8555 section 6.2).
func (c *Client) postSigned(ctx context.Context, key crypto.Signer, kid, nonce, url string, payload []byte) (*http.Response, error) {
	alg := jose.ES256
	switch bundle.KeyTypeOf(key) {
	case bundle.ECDSAP384:
		alg = jose.ES384
	case bundle.ECDSAP256:
	default:
		if _, ok := key.Public().(*rsa.PublicKey); !ok {
			return nil, ErrUnsupportedKey
		}
		alg = jose.RS256
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid).WithHeader("nonce", nonce).WithHeader("url", url)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(key)}, opts)
	if err != nil {
		return nil, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(jws.FullSerialize())))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jose+json")
	req.Header.Set("User-Agent", "hotcert")
	return c.http.Do(req)
}

// readOrder reads a newOrder answer: the order on 201 Created, an *acme.Error otherwise, so
// that classify and acme.RateLimit see it as they see x/crypto's. It decodes the fields Issue
// uses; the order is polled through x/crypto afterwards.
func readOrder(res *http.Response) (*acme.Order, error) {
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusCreated {
		var p struct {
			Type, Detail, Instance string
			Subproblems            []acme.Subproblem
		}
		if json.Unmarshal(body, &p) != nil || p.Type == "" {
			p.Detail = res.Status + ": " + string(bytes.TrimSpace(body))
		}
		return nil, &acme.Error{StatusCode: res.StatusCode, ProblemType: p.Type, Detail: p.Detail,
			Instance: p.Instance, Header: res.Header, Subproblems: p.Subproblems}
	}
	var v struct {
		Status         string         `json:"status"`
		Identifiers    []acme.AuthzID `json:"identifiers"`
		Authorizations []string       `json:"authorizations"`
		Finalize       string         `json:"finalize"`
		Certificate    string         `json:"certificate"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	return &acme.Order{URI: res.Header.Get("Location"), Status: v.Status, Identifiers: v.Identifiers,
		AuthzURLs: v.Authorizations, FinalizeURL: v.Finalize, CertURL: v.Certificate}, nil
}

func isBadNonce(err error) bool {
	var ae *acme.Error
	return errors.As(err, &ae) && ae.ProblemType == problemPrefix+"badNonce"
}
