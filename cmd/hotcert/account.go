package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// newIssuer loads or creates the account key and registers the account,
// retrying while the CA is unreachable; a refusal that retrying cannot fix
// (terms not accepted, EAB missing, unknown profile) stops hotcert. A key
// rollover left unsettled is settled first.
func newIssuer(ctx context.Context, cfg *configs.Config, st *store.File, hc *http.Client, solver issuer.HTTPSolver, check issuer.SelfChecker, log *slog.Logger) (*issuer.Client, error) {
	opts := issuer.Options{
		DirectoryURL: cfg.ACME.Directory, Email: cfg.ACME.Email, AcceptTerms: cfg.ACME.AcceptTerms,
		Profile: cfg.ACME.Profile, HTTPClient: hc, HTTPSolver: solver, SelfCheck: check, Logger: log.With("component", "issuer"),
	}
	if cfg.ACME.EAB.KeyID != "" {
		opts.EAB = &issuer.EAB{KeyID: cfg.ACME.EAB.KeyID, HMACKey: cfg.ACME.EAB.HMACKey}
	}
	if cfg.ACME.AccountKey == "" {
		sctx, cancel := context.WithTimeout(ctx, registerWait)
		err := settleNextKey(sctx, st, opts)
		cancel()
		if errors.Is(err, errUnsettled) {
			// Starting matters more: HAProxy keeps getting what hotcert has. The next
			// start or rollover asks again.
			log.Warn("ACME account: starting with the key in use before the rollover", "err", err)
		} else if err != nil {
			return nil, fmt.Errorf("ACME account: %w", err)
		}
	}
	key, err := accountKey(cfg, st)
	if err != nil {
		return nil, err
	}
	if err := dnsSolvers(cfg, log, &opts); err != nil {
		return nil, err
	}
	iss := issuer.New(opts, key)
	return iss, register(ctx, iss, st, key, cfg, log)
}

// registerWait is how long start-up waits for an unreachable CA. After it,
// hotcert starts anyway, so that HAProxy keeps getting the certificates it
// has, and the account is registered by the first order. A variable for tests.
var registerWait = 10 * time.Second

// register checks the account at start-up. Only a refusal that retrying
// cannot fix (terms not accepted, EAB missing, unknown profile) stops
// hotcert.
func register(ctx context.Context, iss *issuer.Client, st *store.File, key crypto.Signer, cfg *configs.Config, log *slog.Logger) error {
	deadline := time.Now().Add(registerWait)
	for n := 1; ; n++ {
		// A CA that accepts and never answers would otherwise hold start-up
		// for the HTTP client's whole timeout.
		rctx, cancel := context.WithDeadline(ctx, deadline)
		uri, err := iss.Register(rctx)
		cancel()
		if err == nil {
			log.Info("ACME account ready", "account", uri, "directory", cfg.ACME.Directory)
			return saveAccountURI(st, key, uri, cfg)
		}
		if issuer.IsPermanent(err) || errors.Is(err, issuer.ErrTermsNotAccepted) {
			return fmt.Errorf("ACME account: %w", err)
		}
		wait := min(time.Duration(n)*2*time.Second, 10*time.Second)
		if time.Now().Add(wait).After(deadline) {
			log.Warn("ACME account: CA unreachable; starting anyway, the first order registers", "err", err)
			return nil
		}
		log.Warn("ACME account: CA unreachable, retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// accountKey: the operator's own key file wins; otherwise the stored one;
// otherwise a new ECDSA P-256 key, stored 0600 before it is ever used.
func accountKey(cfg *configs.Config, st *store.File) (crypto.Signer, error) {
	if cfg.ACME.AccountKey != "" {
		b, err := os.ReadFile(cfg.ACME.AccountKey)
		if err != nil {
			return nil, fmt.Errorf("acme.account_key: %w", err)
		}
		k, err := issuer.ParseKey(b)
		if err != nil {
			return nil, fmt.Errorf("acme.account_key %s: %w", cfg.ACME.AccountKey, err)
		}
		return k, nil
	}
	a, err := st.Account()
	if err == nil {
		return issuer.ParseKey(a.KeyPEM)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	k, err := issuer.GenerateKey("ecdsa-p256")
	if err != nil {
		return nil, err
	}
	pemKey, err := issuer.MarshalKey(k)
	if err != nil {
		return nil, err
	}
	if err := st.SaveAccount(&store.Account{KeyPEM: pemKey, Directory: cfg.ACME.Directory}); err != nil {
		return nil, err
	}
	return k, nil
}

func saveAccountURI(st *store.File, key crypto.Signer, uri string, cfg *configs.Config) error {
	if cfg.ACME.AccountKey != "" {
		return nil // the operator owns that key; keep no copy
	}
	pemKey, err := issuer.MarshalKey(key)
	if err != nil {
		return err
	}
	return st.SaveAccount(&store.Account{KeyPEM: pemKey, URI: uri, Directory: cfg.ACME.Directory})
}

func listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}
