package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/watcher"
)

// watchDebounce is how long edits must be quiet before they are read.
const watchDebounce = 200 * time.Millisecond

// domainsLoader hands the catalog's sets to the daemon and reports the
// catalog's problems, logged once per change.
type domainsLoader struct {
	cat *catalog.Catalog
	d   *daemon.Daemon
	log *slog.Logger

	mu   sync.Mutex
	last string // the problems last reported; "" when there were none
}

func newDomainsLoader(cfg *configs.Config, d *daemon.Daemon, log *slog.Logger) *domainsLoader {
	l := &domainsLoader{d: d, log: log}
	l.cat = catalog.New(catalog.Options{Config: cfg, Apply: l.apply, Logger: log.With("component", "catalog")})
	return l
}

// apply runs under the catalog's lock, for a load as for an admin API
// Put or Delete. SetDesired marks the domains valid, so the problems of
// files that stay rejected are reported again after it.
func (l *domainsLoader) apply(doms *configs.Domains) {
	l.d.SetDesired(doms)
	l.report(l.cat.Problems(), true)
}

// load re-reads the changed files (nil: every file) and applies the set.
func (l *domainsLoader) load(changed []string) {
	err := l.cat.Load(changed)
	l.report(err, false)
	if err == nil {
		l.log.Info("domains file loaded", "certificates", len(l.cat.Domains().Certificates))
	}
}

func (l *domainsLoader) report(err error, applied bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
		l.d.ConfigError(err)
	} else if l.last != "" && !applied {
		// Valid again without a new set (a bad file was deleted): only
		// SetDesired clears the daemon's error.
		l.d.SetDesired(l.cat.Domains())
	}
	if msg == l.last {
		return
	}
	l.last = msg
	if err != nil {
		l.log.Error("domains file rejected; keeping the last good version of each file", "err", err)
	} else {
		l.log.Info("domains files valid again")
	}
}

// fileWatch reports edits of the domains file; dirWatch, which files of
// domains_dir changed (nil: any).
type (
	fileWatch interface {
		Run(ctx context.Context) error
		Changes() <-chan struct{}
	}
	dirWatch interface {
		Run(ctx context.Context) error
		Changes() <-chan []string
	}
)

var (
	_ fileWatch = (*watcher.Watcher)(nil)
	_ dirWatch  = (*watcher.DirWatcher)(nil)
)

// domainsWatches watch the domains file and domains_dir, each when set.
type domainsWatches struct {
	file fileWatch
	dir  dirWatch
}

func watchDomains(cfg *configs.Config, log *slog.Logger) (domainsWatches, error) {
	var w domainsWatches
	if cfg.DomainsFile != "" {
		fw, err := watcher.New(cfg.DomainsFile, watchDebounce, log.With("component", "watcher"))
		if err != nil {
			return w, err
		}
		w.file = fw
	}
	if cfg.DomainsDir != "" {
		dw, err := watcher.NewDir(cfg.DomainsDir, watchDebounce, catalog.IsDomainsFile, log.With("component", "watcher"))
		if err != nil {
			return w, err
		}
		w.dir = dw
	}
	return w, nil
}

// run runs each watch; errc gets what each returns.
func (w domainsWatches) run(ctx context.Context, errc chan<- error) {
	if w.file != nil {
		go func() { errc <- w.file.Run(ctx) }()
	}
	if w.dir != nil {
		go func() { errc <- w.dir.Run(ctx) }()
	}
}

// changes are the watches' channels; nil for a watch that is not set,
// which a select never picks.
func (w domainsWatches) changes() (file <-chan struct{}, dir <-chan []string) {
	if w.file != nil {
		file = w.file.Changes()
	}
	if w.dir != nil {
		dir = w.dir.Changes()
	}
	return file, dir
}
