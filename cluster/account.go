package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hotcert/hotcert/store"
)

// accountJSON is the account key's value: the key travels with its URI so
// that no node can read one without the other.
type accountJSON struct {
	URI       string `json:"uri"`
	Directory string `json:"directory"`
	KeyPEM    string `json:"key_pem"`
}

// Account returns the cluster's ACME account, and keeps the local copy of
// it; the local copy while etcd is unreachable, or while a standalone
// state directory waits for its import.
func (c *Cluster) Account() (*store.Account, error) {
	if c.health.reachable() {
		a, at, err := c.readAccount()
		switch {
		case err == nil:
			c.mirrorAccount(a)
			return a, nil
		case errors.Is(err, store.ErrNotFound) && c.importedBy(at):
			return nil, err
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, ErrUnavailable):
			return nil, err
		}
	}
	return c.opt.Local.Account()
}

// readAccount returns etcd's account and the revision it read at.
func (c *Cluster) readAccount() (*store.Account, int64, error) {
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	resp, err := c.cli.Get(ctx, c.keys.account())
	if err != nil {
		return nil, 0, c.unavailable("load account", err)
	}
	c.health.answered()
	at := resp.Header.Revision
	if len(resp.Kvs) == 0 {
		return nil, at, fmt.Errorf("load account: %w", store.ErrNotFound)
	}
	var j accountJSON
	if err := json.Unmarshal(resp.Kvs[0].Value, &j); err != nil {
		return nil, at, fmt.Errorf("load account: etcd: %w", err)
	}
	return &store.Account{URI: j.URI, Directory: j.Directory, KeyPEM: []byte(j.KeyPEM)}, at, nil
}

// mirrorAccount writes a to the local copy unless it holds it already.
func (c *Cluster) mirrorAccount(a *store.Account) {
	l, err := c.opt.Local.Account()
	if err == nil && l.URI == a.URI && l.Directory == a.Directory && bytes.Equal(l.KeyPEM, a.KeyPEM) {
		return
	}
	if err := c.opt.Local.SaveAccount(a); err != nil {
		c.localFailed(err)
	}
}

func accountValue(a *store.Account) string {
	b, _ := json.Marshal(accountJSON{URI: a.URI, Directory: a.Directory, KeyPEM: string(a.KeyPEM)})
	return string(b)
}

// SaveAccount stores the account in etcd, then in the local copy.
func (c *Cluster) SaveAccount(a *store.Account) error {
	ctx, cancel := callCtx(context.Background())
	defer cancel()
	if _, err := c.cli.Put(ctx, c.keys.account(), accountValue(a)); err != nil {
		return c.unavailable("save account", err)
	}
	c.health.answered()
	return c.opt.Local.SaveAccount(a)
}
