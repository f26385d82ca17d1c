// Package issuer obtains certificates over ACME: the account, orders, http-01 challenges,
// finalization, revocation, renewal information (ARI) and the renewal timing policy.
package issuer

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// HTTPSolver makes http://<domain>/.well-known/acme-challenge/<token> answer keyAuth until CleanUp.
type HTTPSolver interface {
	Present(ctx context.Context, token, keyAuth string) error
	CleanUp(ctx context.Context, token string) error
}

// EAB is an external account binding; HMACKey is base64url, as CAs hand it out.
type EAB struct{ KeyID, HMACKey string }

// Options configures a Client. Zero values are usable defaults except DirectoryURL and HTTPSolver.
type Options struct {
	DirectoryURL string
	Email        string
	AcceptTerms  bool
	EAB          *EAB
	Profile      string       // "" → send none and let the CA choose
	HTTPClient   *http.Client // nil → default; carries the ca_roots trust
	HTTPSolver   HTTPSolver   // http-01
	DNSSolver    DNSSolver    // dns-01; nil → dns-01 requests fail permanently
	SelfCheck    SelfChecker  // nil → http-01 answers go to the CA unchecked
	// DNSProviders are more dns-01 solvers by name, for requests that name one in
	// Request.DNSProvider.
	DNSProviders map[string]DNSSolver
	Logger       *slog.Logger // nil → discard
	Now          func() time.Time
	PollInterval time.Duration // default 100ms
	OrderTimeout time.Duration // default 5m: each order is bounded
}

// Client talks to one ACME CA with one account key. It is safe for concurrent use.
type Client struct {
	opts       Options
	acme       *acme.Client
	http       *http.Client
	hints      *retryHints
	log        *slog.Logger
	thumbprint string

	mu         sync.Mutex
	accountURI string
	ariURL     *string // nil until the raw directory was read
}

const (
	defaultPoll         = 100 * time.Millisecond
	defaultOrderTimeout = 5 * time.Minute
	requestTimeout      = 30 * time.Second
	// Longest Retry-After honoured inside a call; beyond it the error goes back to the caller,
	// whose persisted backoff survives restarts.
	maxInlineWait = 10 * time.Second
)

// New returns a Client for accountKey. It does no I/O.
func New(opts Options, accountKey crypto.Signer) *Client {
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPoll
	}
	if opts.OrderTimeout <= 0 {
		opts.OrderTimeout = defaultOrderTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hc, hints := instrument(opts.HTTPClient, opts.Now)
	tp, _ := acme.JWKThumbprint(accountKey.Public())
	return &Client{
		opts:  opts,
		http:  hc,
		hints: hints,
		log:   logger,
		acme: &acme.Client{
			Key:          accountKey,
			HTTPClient:   hc,
			DirectoryURL: opts.DirectoryURL,
			RetryBackoff: retryBackoff,
			UserAgent:    "hotcert",
		},
		thumbprint: tp,
	}
}

// Ping fetches the CA's directory and reports whether the CA answers. It
// is how a daemon that saw the CA fail learns it is back, for the price of
// one unauthenticated GET and no order.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.DirectoryURL, nil)
	if err != nil {
		return fmt.Errorf("ping the CA: %w", err)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return classify("ping the CA", "", "", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return &Error{Unavailable: res.StatusCode >= 500, op: "ping the CA",
			Err: fmt.Errorf("directory %s answered %s", c.opts.DirectoryURL, res.Status)}
	}
	return nil
}

// retryBackoff replaces x/crypto's default, which retries badNonce and 429 forever with waits
// of 1s, 2s, 4s... A badNonce is retried almost at once (the next request fetches a fresh
// nonce); 429 honours a short Retry-After a few times; 5xx gets three quick retries.
func retryBackoff(n int, _ *http.Request, res *http.Response) time.Duration {
	if res == nil {
		return 0
	}
	switch code := res.StatusCode; {
	case code == http.StatusBadRequest: // only badNonce is retried with 400
		if n > 20 {
			return 0
		}
		return time.Millisecond
	case code == http.StatusTooManyRequests:
		d := parseRetryAfter(res.Header.Get("Retry-After"))
		if n > 3 || d > maxInlineWait {
			return 0
		}
		return max(d, time.Second)
	case code >= 500:
		if n > 3 {
			return 0
		}
		return 100 * time.Millisecond << n
	}
	return 0
}

// Thumbprint is the JWK thumbprint of the account key, the suffix of key authorizations.
func (c *Client) Thumbprint() string { return c.thumbprint }

// Register creates the account, or finds the one that exists for the key, and checks the
// configured profile against the CA's directory.
func (c *Client) Register(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accountURI != "" {
		return c.accountURI, nil
	}
	uri, err := c.register(ctx)
	if err != nil {
		return "", classify("register account at "+c.opts.DirectoryURL, "", "", err)
	}
	c.accountURI = uri
	c.log.Debug("acme account ready", "account", uri)
	return uri, nil
}

func (c *Client) register(ctx context.Context) (string, error) {
	if !c.opts.AcceptTerms {
		return "", ErrTermsNotAccepted
	}
	dir, err := c.acme.Discover(ctx)
	if err != nil {
		return "", err
	}
	if err := checkProfile(c.opts.Profile, dir.Profiles); err != nil {
		return "", err
	}
	acct, err := c.acme.GetReg(ctx, "")
	if errors.Is(err, acme.ErrNoAccount) {
		acct, err = c.newAccount(ctx, dir)
	}
	if err != nil {
		return "", deactivated(err)
	}
	if acct.Status == acme.StatusDeactivated || acct.Status == acme.StatusRevoked {
		return "", ErrAccountDeactivated
	}
	return acct.URI, nil
}

func (c *Client) newAccount(ctx context.Context, dir acme.Directory) (*acme.Account, error) {
	acct := &acme.Account{}
	if c.opts.Email != "" {
		acct.Contact = []string{"mailto:" + c.opts.Email}
	}
	switch {
	case c.opts.EAB != nil:
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.opts.EAB.HMACKey, "="))
		if err != nil {
			return nil, fmt.Errorf("eab hmac_key is not base64url: %w", err)
		}
		acct.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: c.opts.EAB.KeyID, Key: key}
	case dir.ExternalAccountRequired:
		return nil, ErrEABRequired
	}
	a, err := c.acme.Register(ctx, acct, acme.AcceptTOS)
	if errors.Is(err, acme.ErrAccountAlreadyExists) {
		return c.acme.GetReg(ctx, "")
	}
	return a, err
}

// deactivated maps the CA's refusal of a deactivated account to ErrAccountDeactivated.
func deactivated(err error) error {
	var ae *acme.Error
	if errors.As(err, &ae) && strings.HasSuffix(ae.ProblemType, ":unauthorized") &&
		strings.Contains(strings.ToLower(ae.Detail), "deactivated") {
		return fmt.Errorf("%w: %s", ErrAccountDeactivated, ae.Detail)
	}
	return err
}

func checkProfile(want string, offered map[acme.ProfileName]string) error {
	if want == "" {
		return nil
	}
	if _, ok := offered[acme.ProfileName(want)]; ok {
		return nil
	}
	names := make([]string, 0, len(offered))
	for n := range offered {
		names = append(names, string(n))
	}
	slices.Sort(names)
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	return fmt.Errorf("%w: %q (offered: %s)", ErrUnknownProfile, want, list)
}

// Revoke revokes leafDER at the CA; reason is an RFC 5280 CRL reason code. RFC 8555
// section 7.6 lets either the account key or the certificate's own key sign the request,
// but Let's Encrypt accepts keyCompromise only with proof of the compromised key. So for
// that reason the request is signed with certKey (which must be the leaf's key); for any
// other, with the account key, and certKey may be nil.
func (c *Client) Revoke(ctx context.Context, leafDER []byte, certKey crypto.Signer, reason int) error {
	var signer crypto.Signer // nil: the account key
	if reason == reasonKeyCompromise {
		if err := holdsKey(leafDER, certKey); err != nil {
			return &Error{op: "revoke (keyCompromise)", Err: err, Permanent: true}
		}
		signer = certKey
	} else if _, err := c.Register(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := c.acme.RevokeCert(ctx, signer, leafDER, acme.CRLReasonCode(reason)); err != nil {
		return classify("revoke", "", "", err)
	}
	return nil
}

// reasonKeyCompromise is the RFC 5280 CRL reason code keyCompromise.
const reasonKeyCompromise = int(acme.CRLReasonKeyCompromise)

// holdsKey checks that key is the private key of the certificate leafDER.
func holdsKey(leafDER []byte, key crypto.Signer) error {
	if key == nil {
		return errors.New("the certificate's private key is needed to sign the request")
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return fmt.Errorf("parse certificate: %w", err)
	}
	if !certifies(leaf, key) {
		return fmt.Errorf("the key given is not the key of certificate %x", leaf.SerialNumber)
	}
	return nil
}

// certifies reports whether leaf certifies key's public key.
func certifies(leaf *x509.Certificate, key crypto.Signer) bool {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
