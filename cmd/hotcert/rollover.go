package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// cmdRollover replaces the ACME account key at the CA, keeping the account.
// It runs while the daemon is stopped: the daemon holds the key in memory.
func cmdRollover(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("rollover", stderr)
	newKeyPath := fs.String("new-key", "", "PEM `file` with the new account key (default: generate ECDSA P-256)")
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	cfg, err := configs.LoadConfig(*cfgPath)
	if err != nil {
		report(stderr, err)
		return errReported
	}
	if err := refuseRunning(cfg); err != nil {
		return err
	}
	if cfg.ACME.AccountKey != "" && *newKeyPath == "" {
		return errors.New("acme.account_key is your own file: pass --new-key, then point acme.account_key at it")
	}
	newKey, err := loadOrGenerate(*newKeyPath)
	if err != nil {
		return err
	}
	st, err := store.NewFile(cfg.StateDir)
	if err != nil {
		return err
	}
	hc, err := acmeHTTPClient(cfg.ACME.CARoots)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := issuer.Options{DirectoryURL: cfg.ACME.Directory, Email: cfg.ACME.Email,
		AcceptTerms: cfg.ACME.AcceptTerms, HTTPClient: hc}
	if cfg.ACME.AccountKey != "" {
		uri, err := rolloverOwnKey(ctx, cfg, st, opts, newKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s now uses %s; set acme.account_key to it before starting hotcert\n", uri, *newKeyPath)
		return nil
	}
	uri, err := rolloverStoredKey(ctx, cfg, st, opts, newKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "account %s now uses a new key, stored in %s\n", uri, cfg.StateDir)
	return nil
}

// rolloverStoredKey rolls the key kept in state_dir over to newKey. newKey is on disk
// before the CA is asked, and an answer that does not come is settled by asking the CA
// which key it holds, so that no outcome loses the account.
func rolloverStoredKey(ctx context.Context, cfg *configs.Config, st *store.File, opts issuer.Options, newKey crypto.Signer) (string, error) {
	if err := settleNextKey(ctx, st, opts); err != nil {
		return "", fmt.Errorf("an earlier rollover: %w", err)
	}
	oldKey, err := accountKey(cfg, st)
	if err != nil {
		return "", err
	}
	newPEM, err := issuer.MarshalKey(newKey)
	if err != nil {
		return "", err
	}
	// An account URL names an account at one CA only.
	if a, err := st.Account(); err == nil && a.URI != "" && a.Directory == cfg.ACME.Directory && bytes.Equal(a.KeyPEM, newPEM) {
		return a.URI, nil // an earlier rollover to this key, settled above
	}
	if err := st.SaveNextAccountKey(newPEM); err != nil {
		return "", err
	}
	iss := issuer.New(opts, oldKey)
	if err := iss.RolloverKey(ctx, newKey); err != nil {
		return settleFailedRollover(ctx, st, opts, newPEM, err)
	}
	uri, _ := iss.Register(ctx) // known since the rollover
	if err := st.SaveAccount(&store.Account{KeyPEM: newPEM, URI: uri, Directory: cfg.ACME.Directory}); err != nil {
		return "", fmt.Errorf("the CA has the new key but saving it failed; it is kept in %s and hotcert takes it at the next start: %w",
			st.NextAccountKeyPath(), err)
	}
	return uri, st.DropNextAccountKey()
}

// settleFailedRollover decides a rollover that returned rollErr: a lost answer may hide a
// key change the CA made.
func settleFailedRollover(ctx context.Context, st *store.File, opts issuer.Options, newPEM []byte, rollErr error) (string, error) {
	if err := settleNextKey(context.WithoutCancel(ctx), st, opts); err != nil {
		return "", fmt.Errorf("%w; %w; hotcert settles it when it next starts or rolls over", rollErr, err)
	}
	a, err := st.Account()
	if err != nil {
		return "", err
	}
	if !bytes.Equal(a.KeyPEM, newPEM) {
		return "", rollErr // the CA did not apply it
	}
	return a.URI, nil
}

// rolloverOwnKey rolls acme.account_key, the operator's file, over to newKey, which the
// operator holds too. When the answer does not come, the CA is asked whether it holds
// newKey.
func rolloverOwnKey(ctx context.Context, cfg *configs.Config, st *store.File, opts issuer.Options, newKey crypto.Signer) (string, error) {
	oldKey, err := accountKey(cfg, st)
	if err != nil {
		return "", err
	}
	iss := issuer.New(opts, oldKey)
	if err := iss.RolloverKey(ctx, newKey); err != nil {
		uri, lerr := issuer.New(opts, newKey).Lookup(context.WithoutCancel(ctx))
		if errors.Is(lerr, issuer.ErrNoAccount) {
			return "", err // the CA did not apply it
		}
		if lerr != nil {
			return "", fmt.Errorf("%w (whether the CA holds the new key is unknown: %w)", err, lerr)
		}
		return uri, nil
	}
	return iss.Register(ctx)
}

func loadOrGenerate(path string) (crypto.Signer, error) {
	if path == "" {
		return issuer.GenerateKey("ecdsa-p256")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return issuer.ParseKey(b)
}
