package main

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/issuer"
)

var _ admin.Catalog = (*catalog.Catalog)(nil)

// startAdmin serves the admin API on admin.listen, creating the token file
// when it is missing. stop shuts it down; a one-shot order still running is
// cut off after a short grace. cat answers PUT and DELETE; without
// domains_dir it refuses them (catalog.ErrNoDir).
func startAdmin(cfg *configs.Config, d *daemon.Daemon, cat *catalog.Catalog, m *admin.Metrics, view admin.ClusterView, newClient func(crypto.Signer) admin.OrderClient, log *slog.Logger) (stop func(), err error) {
	tok, err := admin.EnsureToken(cfg.Admin.TokenFile)
	if err != nil {
		return nil, err
	}
	s := admin.New(admin.Options{
		Daemon: d, Token: tok, Metrics: m, NewClient: newClient, Logger: log.With("component", "admin"), Cluster: view,
		CheckDomains: cfg.CheckDomains, Catalog: cat,
	})
	srv := s.HTTPServer(cfg.Admin.Listen)
	ln, err := listen(cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	go srv.Serve(ln)
	log.Info("admin API listening", "addr", ln.Addr().String(), "token_file", cfg.Admin.TokenFile)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}, nil
}

// oneShotClients makes, for POST /v1/orders, an ACME client of the uploaded
// account key that talks to the same CA, trusts the same roots and answers
// http-01 through the same responder as the daemon's own.
func oneShotClients(cfg *configs.Config, hc *http.Client, solver issuer.HTTPSolver, check issuer.SelfChecker, log *slog.Logger) func(crypto.Signer) admin.OrderClient {
	opts := issuer.Options{
		DirectoryURL: cfg.ACME.Directory, Email: cfg.ACME.Email, AcceptTerms: cfg.ACME.AcceptTerms,
		Profile: cfg.ACME.Profile, HTTPClient: hc, HTTPSolver: solver, SelfCheck: check, Logger: log.With("component", "oneshot"),
	}
	if cfg.ACME.EAB.KeyID != "" {
		opts.EAB = &issuer.EAB{KeyID: cfg.ACME.EAB.KeyID, HMACKey: cfg.ACME.EAB.HMACKey}
	}
	return func(key crypto.Signer) admin.OrderClient { return issuer.New(opts, key) }
}
