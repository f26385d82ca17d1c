package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// errUnsettled: a key rollover's outcome is unknown and the CA could not tell which key it
// holds. Both keys stay on disk until it can.
var errUnsettled = errors.New("the outcome of an account key rollover is unknown")

// settleNextKey finishes a rollover of the stored account key whose outcome is not known.
// The rollover writes the new key to account/key.next.pem before it asks the CA and removes
// it once the new key is the stored account key, so finding one means that a rollover
// timed out, crashed or failed to save. The CA is asked whether it has an account for that
// key: if so, it becomes the account key; if not, the CA never applied it and it is dropped.
// opts says how to reach the CA.
func settleNextKey(ctx context.Context, st *store.File, opts issuer.Options) error {
	next, err := st.NextAccountKey()
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur, err := st.Account(); err == nil && bytes.Equal(cur.KeyPEM, next) {
		return st.DropNextAccountKey() // promoted, then interrupted
	}
	key, err := issuer.ParseKey(next)
	if err != nil {
		return fmt.Errorf("pending account key %s: %w", st.NextAccountKeyPath(), err)
	}
	uri, err := issuer.New(opts, key).Lookup(ctx)
	switch {
	case errors.Is(err, issuer.ErrNoAccount):
		return st.DropNextAccountKey()
	case err != nil:
		return fmt.Errorf("%w (new key kept in %s): the CA did not say which key it holds: %w",
			errUnsettled, st.NextAccountKeyPath(), err)
	}
	if err := st.SaveAccount(&store.Account{KeyPEM: next, URI: uri, Directory: opts.DirectoryURL}); err != nil {
		return err
	}
	return st.DropNextAccountKey()
}
