package issuer

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"golang.org/x/crypto/acme"
)

// RolloverKey replaces the account's key at the CA with newKey (RFC 8555
// section 7.3.5); the account, its URI and its history stay. The client
// then signs with newKey. x/crypto swaps the key without a lock, so this
// must not run while the client places orders: hotcert does it from a
// command run while the daemon is stopped.
func (c *Client) RolloverKey(ctx context.Context, newKey crypto.Signer) error {
	if err := checkKey(newKey); err != nil {
		return fmt.Errorf("account key rollover: new key: %w", err)
	}
	uri, err := c.Register(ctx)
	if err != nil {
		return fmt.Errorf("account key rollover: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.acme.AccountKeyRollover(ctx, newKey); err != nil {
		return classify("account key rollover for "+uri, "", "", err)
	}
	c.thumbprint, _ = acme.JWKThumbprint(newKey.Public())
	return nil
}

// ErrNoAccount: the CA holds no account for the key.
var ErrNoAccount = errors.New("the CA has no account for this key")

// Lookup asks the CA for the account of the client's key without creating one (newAccount
// with onlyReturnExisting), and returns ErrNoAccount when there is none. After a rollover
// whose answer was lost, looking up the new key tells whether the CA applied it.
func (c *Client) Lookup(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	acct, err := c.acme.GetReg(ctx, "")
	switch {
	case errors.Is(err, acme.ErrNoAccount):
		return "", ErrNoAccount
	case err != nil:
		return "", classify("look up account at "+c.opts.DirectoryURL, "", "", deactivated(err))
	case acct.Status == acme.StatusDeactivated || acct.Status == acme.StatusRevoked:
		return "", ErrAccountDeactivated
	}
	return acct.URI, nil
}
