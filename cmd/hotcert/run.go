package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/cluster"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/issuer/http01"
	"github.com/hotcert/hotcert/runtime"
	"github.com/hotcert/hotcert/store"
)

// shutdownGrace bounds how long in-flight pushes may take after SIGTERM.
const shutdownGrace = 12 * time.Second

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("run", stderr)
	logFormat := fs.String("log-format", "text", "log format: text or json (durations as \"1.5s\")")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn (or warning), error")
	if _, err := parseArgs(fs, args, stdout, 0, 0); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := configs.LoadConfig(*cfgPath)
	if err != nil {
		report(stderr, err)
		return errReported
	}
	warnConfig(log, cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log)
}

// warnConfig logs what check warns about.
func warnConfig(log *slog.Logger, cfg *configs.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn(strings.TrimPrefix(w.Msg, "warning: "), "file", w.File, "line", w.Line, "field", w.Field)
	}
}

// serve runs the daemon until ctx ends.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger) error {
	if err := loadEABKey(cfg); err != nil {
		return err
	}
	st, err := store.NewFile(cfg.StateDir)
	if err != nil {
		return err
	}
	// State from a later hotcert (a downgrade) stops the start, before
	// anything is pushed or ordered, rather than failing every pass. The
	// state directory's format file answers it without reading every record.
	if err := st.CheckFormat(); errors.Is(err, store.ErrFormat) {
		return err
	}
	removeLeftovers(cfg, log)
	hc, err := acmeHTTPClient(cfg.ACME.CARoots)
	if err != nil {
		return err
	}
	lbs := loaders(cfg, log)
	responder := http01.New(log.With("component", "http01"))
	metrics := admin.NewMetrics(version)
	responder.OnRequest(metrics.Challenge)
	var solver issuer.HTTPSolver = responder
	if cfg.Challenge.HAProxyMap != "" {
		solver = issuer.HTTPSolvers{responder, runtime.MapSolver{Fleet: lbs, Map: cfg.Challenge.HAProxyMap}}
	}
	srv := responder.Server(cfg.Challenge.HTTP01Listen)
	ln, err := listen(srv.Addr)
	if err != nil {
		return fmt.Errorf("challenge listener: %w", err)
	}
	defer ln.Close()
	defer srv.Close()

	// Hooks stop with serve, whichever way it returns; deferred calls run
	// last first, so the wait comes after the cancel.
	hctx, stopHooks := context.WithCancel(ctx)
	hooks, waitHooks := startHooks(hctx, cfg, lbs, metrics, log)
	defer waitHooks()
	defer stopHooks()
	opts := daemon.Options{
		Store: st, HAProxies: asHAProxies(lbs), Logger: log, Hooks: hooks,
		Workers: cfg.ACME.Concurrency, Metrics: metrics, RemovalLimit: cfg.Safety.RemovalLimitOrDefault(),
	}
	var view admin.ClusterView
	if cfg.Cluster != nil {
		cl, err := openCluster(ctx, cfg, st, log)
		if err != nil {
			return err
		}
		defer cl.Close()
		node := clusterNode{cl, cfg.Cluster.Node}
		opts.Store, opts.Cluster, view = cl, node, node
		metrics.WatchCluster(node)
		// Any node answers any pending token of the cluster.
		responder.SetFallback(cl.KeyAuth)
		solver = issuer.HTTPSolvers{solver, cl}
		if cfg.Challenge.HAProxyMap != "" {
			mirror := runtime.NewMapMirror(lbs, cfg.Challenge.HAProxyMap, log.With("component", "map"))
			go mirror.Run(ctx)
			go mirrorTokens(ctx, cl, mirror)
		}
	}
	// Serving starts once the cluster's tokens can be answered: a CA that
	// reaches this node while it starts waits in the listen backlog,
	// rather than get a 404 for another node's token and fail an order.
	go srv.Serve(ln)
	if opts.Cluster != nil {
		// The cluster's account, when it has one, is this node's too
		// (Account keeps the local copy that newIssuer reads).
		_, _ = opts.Store.(*cluster.Cluster).Account()
	}
	checker, err := selfCheck(cfg)
	if err != nil {
		return err
	}
	iss, err := newIssuer(ctx, cfg, st, hc, solver, checker, log)
	if err != nil && ctx.Err() != nil {
		return nil // SIGTERM while waiting for the CA is an ordinary stop
	}
	if err != nil {
		return err
	}
	if opts.Cluster != nil {
		shareAccount(opts.Store.(*cluster.Cluster), st, log)
	}
	opts.Issuer, opts.Directory = iss, cfg.ACME.Directory
	d := daemon.New(opts)
	// At 100,000 certificates the store and the domains files each take
	// seconds to read; on separate cores they overlap.
	go d.Warm()
	// Watching starts before the first read, so that no edit falls between
	// the two; the set is read before the admin API starts, since a PUT
	// checks its certificate against every file.
	w, err := watchDomains(cfg, log)
	if err != nil {
		return err
	}
	domains := newDomainsLoader(cfg, d, log)
	domains.load(nil)
	stopAdmin, err := startAdmin(cfg, d, domains.cat, metrics, view, oneShotClients(cfg, hc, solver, checker, log), log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	return runLoops(ctx, cfg, d, domains, w, log)
}

func runLoops(ctx context.Context, cfg *configs.Config, d *daemon.Daemon, domains *domainsLoader, w domainsWatches, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	watchErr := make(chan error, 2)
	w.run(runCtx, watchErr)
	fileChanges, dirChanges := w.changes()
	log.Info("hotcert running", "domains_file", cfg.DomainsFile, "domains_dir", cfg.DomainsDir, "haproxy", len(cfg.HAProxy))
	for {
		select {
		case err := <-watchErr:
			if err == nil {
				continue // stopped with runCtx, which only shutdown cancels
			}
			// Edits would go unnoticed from now on. Stop as on SIGTERM and
			// exit non-zero, so that the service manager starts hotcert
			// again with a new watch; nothing is lost, the state is on disk.
			log.Error("watching the domains files failed; stopping so that hotcert is restarted", "err", err)
			cancelRun()
			return errors.Join(fmt.Errorf("watch %s: %w", domainsLabel(cfg), err), waitDone(done))
		case <-fileChanges:
			domains.load([]string{cfg.DomainsFile})
		case paths := <-dirChanges:
			domains.load(paths)
		case <-hup:
			log.Info("SIGHUP: re-reading the domains file and renewal information")
			domains.load(nil)
			if err := d.RefreshAll(); err != nil {
				log.Error("refresh renewal information", "err", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			cancelRun()
			return waitDone(done)
		}
	}
}

// domainsLabel names what the operator declares certificates in.
func domainsLabel(cfg *configs.Config) string {
	switch {
	case cfg.DomainsDir == "":
		return cfg.DomainsFile
	case cfg.DomainsFile == "":
		return cfg.DomainsDir
	}
	return cfg.DomainsFile + " and " + cfg.DomainsDir
}

// waitDone waits for the daemon to finish the actions that were running.
func waitDone(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownGrace):
		return errors.New("shutdown: actions did not finish in time")
	}
}

func loaders(cfg *configs.Config, log *slog.Logger) runtime.Fleet {
	var f runtime.Fleet
	for _, h := range cfg.HAProxy {
		f = append(f, runtime.New(runtime.Options{
			Name: h.Name, Socket: h.Socket, CertDir: h.CertDir, CrtList: h.CrtList, BufSize: h.BufSize,
			FileMode: h.FilePerm(), FileGID: h.FileGID,
			Logger: log, // runtime.New adds the haproxy attribute
		}))
	}
	return f
}

// The concrete types daemon's interfaces stand for; asserted here, where
// they are wired, so that daemon imports none of them.
var (
	_ daemon.HAProxy = (*runtime.Client)(nil)
	_ daemon.Issuer  = (*issuer.Client)(nil)
	_ daemon.Store   = (*store.File)(nil)
)

func asHAProxies(f runtime.Fleet) []daemon.HAProxy {
	out := make([]daemon.HAProxy, len(f))
	for i, c := range f {
		out[i] = c
	}
	return out
}

// selfCheck is the check of http-01 answers through HAProxy's frontend
// (challenge.self_check), or nil when none is configured.
func selfCheck(cfg *configs.Config) (issuer.SelfChecker, error) {
	if cfg.Challenge.SelfCheck == "" {
		return nil, nil // not a nil *http01.SelfCheck: the issuer tests for nil
	}
	s, err := http01.NewSelfCheck(cfg.Challenge.SelfCheck)
	if err != nil {
		return nil, fmt.Errorf("challenge.self_check: %w", err)
	}
	return s, nil
}

var _ issuer.SelfChecker = (*http01.SelfCheck)(nil)

// acmeHTTPClient is the CA's HTTP client, trusting the system roots plus
// the PEM file caRoots when there is one.
func acmeHTTPClient(caRoots string) (*http.Client, error) {
	if caRoots == "" {
		return issuer.NewHTTPClient(nil)
	}
	pemBytes, err := os.ReadFile(caRoots)
	if err != nil {
		return nil, fmt.Errorf("acme.ca_roots: %w", err)
	}
	hc, err := issuer.NewHTTPClient(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("acme.ca_roots %s: %w", caRoots, err)
	}
	return hc, nil
}
