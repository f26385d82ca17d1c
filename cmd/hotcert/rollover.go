package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
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
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := configs.LoadConfig(*cfgPath)
	if err != nil {
		report(stderr, err)
		return errReported
	}
	if c, err := net.DialTimeout("tcp", cfg.Admin.Listen, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("hotcert is running (admin API answers on %s); stop it first", cfg.Admin.Listen)
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
	oldKey, err := accountKey(cfg, st)
	if err != nil {
		return err
	}
	hc, err := acmeHTTPClient(cfg.ACME.CARoots)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	iss := issuer.New(issuer.Options{DirectoryURL: cfg.ACME.Directory, Email: cfg.ACME.Email,
		AcceptTerms: cfg.ACME.AcceptTerms, HTTPClient: hc}, oldKey)
	if err := iss.RolloverKey(ctx, newKey); err != nil {
		return err
	}
	uri, _ := iss.Register(ctx)
	if cfg.ACME.AccountKey != "" {
		fmt.Fprintf(stdout, "account %s now uses %s; set acme.account_key to it before starting hotcert\n", uri, *newKeyPath)
		return nil
	}
	if err := saveAccountURI(st, newKey, uri, cfg); err != nil {
		return fmt.Errorf("the CA has the new key but saving it failed (keep this error): %w", err)
	}
	fmt.Fprintf(stdout, "account %s now uses a new key, stored in %s\n", uri, cfg.StateDir)
	return nil
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
