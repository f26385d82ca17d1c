package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/store"
)

// brokenWatch is a watch whose event source failed.
type brokenWatch struct{ err error }

func (b brokenWatch) Run(context.Context) error { return b.err }
func (brokenWatch) Changes() <-chan struct{}    { return nil }

// TestWatchFailureStopsHotcert: a domains-file watch that ends with an error
// (fsnotify closed its channels) must not leave hotcert running blind to
// edits; it stops with an error that names the file, so that the service
// manager restarts it.
func TestWatchFailureStopsHotcert(t *testing.T) {
	dir := t.TempDir()
	domains := filepath.Join(dir, "domains.yaml")
	if err := os.WriteFile(domains, []byte("certificates: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.NewFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(daemon.Options{Store: st})
	cfg := &configs.Config{DomainsFile: domains}
	loader := newDomainsLoader(cfg, d, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- runLoops(ctx, cfg, d, loader, domainsWatches{file: brokenWatch{errors.New("watch: event channel closed")}}, slog.New(slog.DiscardHandler))
	}()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), domains) {
			t.Fatalf("runLoops = %v; want an error naming %s", err, domains)
		}
	case <-ctx.Done():
		t.Fatal("hotcert kept running after its domains-file watch failed")
	}
}

// A downgraded hotcert that finds a record of a later format does not start.
func TestRunRefusesStateOfALaterFormat(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "state_dir: state\n")
	rec := filepath.Join(dir, "state", "certs", "shop")
	if err := os.MkdirAll(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rec, "state.json"), []byte(`{"format":99,"name":"shop"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", "--config", cfg}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "state written by a newer hotcert: format 99, this hotcert reads up to 1") {
		t.Fatalf("run: exit %d, stderr %q", code, stderr.String())
	}
}
