package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxDelay bounds, in debounce intervals, how long a burst that never
// goes quiet (a platform adding certificates all the time) holds back the
// changes seen so far.
const maxDelay = 10

// DirWatcher reports which files of a directory changed. It watches the
// directory's parent too, to see the directory itself replaced.
type DirWatcher struct {
	dir      string
	match    func(name string) bool
	debounce time.Duration
	log      *slog.Logger
	fs       *fsnotify.Watcher // nil in tests that call handle
	dirs     dirWatches
	changes  chan []string
}

// NewDir starts watching dir for changes of the files whose names match
// accepts. Events between NewDir and Run are kept and reported by Run. A
// nil logger discards.
func NewDir(dir string, debounce time.Duration, match func(name string) bool, logger *slog.Logger) (*DirWatcher, error) {
	return withEvents(dir, func(fs *fsnotify.Watcher) (*DirWatcher, error) {
		w, err := newDirWatcher(dir, debounce, match, logger, fs)
		if err == nil {
			w.fs = fs
		}
		return w, err
	})
}

func newDirWatcher(dir string, debounce time.Duration, match func(string) bool, logger *slog.Logger, dirs dirWatches) (*DirWatcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	if err := dirs.Add(abs); err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	w := &DirWatcher{
		dir: abs, match: match, debounce: debounce, log: logger.With("dir", abs),
		dirs: dirs, changes: make(chan []string),
	}
	if parent := filepath.Dir(abs); parent != abs {
		if err := dirs.Add(parent); err != nil {
			w.log.Warn("cannot watch the directory's parent; a replaced directory is not followed", "parent", parent, "err", err)
		}
	}
	return w, nil
}

// Changes delivers, once a burst of events has been quiet for the
// debounce interval, the paths of the files that changed, sorted; nil means
// that anything may have changed (events were lost, a ConfigMap's "..data"
// was swapped, the directory was replaced). Changes that come before the
// reader takes a batch join it.
func (w *DirWatcher) Changes() <-chan []string { return w.changes }

// Run handles events until ctx is done, then closes the underlying watcher
// and returns nil. It returns an error only if the event source fails.
func (w *DirWatcher) Run(ctx context.Context) error {
	defer w.fs.Close()
	return w.handle(ctx, w.fs.Events, w.fs.Errors)
}

// batch is the changes seen and not yet delivered.
type batch struct {
	paths map[string]bool
	all   bool
	open  bool // something was seen
	ready bool // quiet for the debounce interval, or held back long enough
	late  bool // the burst went on past maxDelay: deliver without waiting for quiet

	list  []string // paths, sorted, once built for delivery
	built bool
}

// value is what Changes delivers for b, built once per change of b.
func (b *batch) value() []string {
	if !b.built && !b.all {
		b.list, b.built = slices.Sorted(maps.Keys(b.paths)), true
	}
	if b.all {
		return nil
	}
	return b.list
}

func (w *DirWatcher) handle(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) error {
	quiet, late := stoppedTimer(), stoppedTimer()
	defer quiet.Stop()
	defer late.Stop()
	b := batch{paths: map[string]bool{}}
	seen := func(all bool, path string) {
		if !b.open {
			late.Reset(maxDelay * w.debounce)
		}
		b.open, b.all = true, b.all || all
		if path != "" && !b.paths[path] {
			b.paths[path], b.built = true, false
		}
		if !b.late {
			b.ready = false
			quiet.Reset(w.debounce)
		}
	}
	for {
		var out chan<- []string
		var v []string
		if b.ready {
			out, v = w.changes, b.value()
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errEventsClosed
			}
			if all, path, ok := w.relevant(ev); ok {
				seen(all, path)
			}
		case err, ok := <-errs:
			if !ok {
				return errErrorsClosed
			}
			w.log.Warn("directory watch error", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				seen(true, "") // events were lost: look at every file
			}
		case <-quiet.C:
			b.ready = b.open
		case <-late.C:
			b.late, b.ready = true, b.open
		case out <- v:
			quiet.Stop()
			late.Stop()
			b = batch{paths: map[string]bool{}}
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// relevant decides what ev may have changed: one file (path), or anything
// (all).
func (w *DirWatcher) relevant(ev fsnotify.Event) (all bool, path string, ok bool) {
	if ev.Op == fsnotify.Chmod {
		return false, "", false // touch, chmod: the content is the same
	}
	switch {
	case ev.Name == w.dir:
		w.replaced(ev)
		return true, "", true
	case filepath.Dir(ev.Name) != w.dir:
		return false, "", false // the parent's other entries
	case filepath.Base(ev.Name) == kubeData:
		return true, "", true // every file of the ConfigMap may have changed
	case w.match(filepath.Base(ev.Name)):
		return false, ev.Name, true
	}
	return false, "", false
}

// replaced follows the directory when a new one takes its name; the watch
// on the old one would see nothing more.
func (w *DirWatcher) replaced(ev fsnotify.Event) {
	if !ev.Has(fsnotify.Create) {
		w.log.Warn("watched directory was removed or renamed; its files are kept until it comes back")
		return
	}
	_ = w.dirs.Remove(w.dir) // the old watch may be gone with the old directory
	if err := w.dirs.Add(w.dir); err != nil {
		w.log.Error("cannot watch the new directory; its edits are not seen until SIGHUP", "err", err)
		return
	}
	w.log.Info("watched directory was replaced; reading every file")
}
