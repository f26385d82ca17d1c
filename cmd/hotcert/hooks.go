package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/hook"
	"github.com/hotcert/hotcert/runtime"
)

// hookRunner is the daemon's Hooks: hook.Runner, with each bundle's path
// in the first HAProxy's cert_dir.
type hookRunner struct {
	*hook.Runner
	first *runtime.Client
}

var _ daemon.Hooks = hookRunner{}

func (h hookRunner) Run(e daemon.HookEvent) bool {
	ev := hook.Event{Name: e.Name, Cert: e.Cert, Domains: e.Domains, KeyType: e.KeyType,
		Serial: e.Serial, NotAfter: e.NotAfter, Error: e.Error}
	if e.Store != "" {
		ev.Bundle = h.first.Path(e.Store)
	}
	return h.Runner.Run(ev)
}

// startHooks runs the configured hooks until ctx ends, and returns the
// daemon's view of them (nil when none is configured) and a wait for the
// hooks still running at shutdown.
func startHooks(ctx context.Context, cfg *configs.Config, lbs runtime.Fleet, metrics *admin.Metrics, log *slog.Logger) (daemon.Hooks, func()) {
	if !cfg.Hooks.Any() || len(lbs) == 0 {
		return nil, func() {}
	}
	r := hook.New(hook.Options{
		Commands: map[string][]string{hook.Deployed: cfg.Hooks.Deployed, hook.Failed: cfg.Hooks.Failed},
		Timeout:  time.Duration(cfg.Hooks.Timeout),
		Logger:   log.With("component", "hook"),
		Count:    metrics.Hook,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Serve(ctx)
	}()
	return hookRunner{Runner: r, first: lbs[0]}, func() { <-done }
}
