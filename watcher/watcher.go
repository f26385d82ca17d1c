// Package watcher tells when a file may have changed, however it was
// edited: in place, by rename (editors, sed -i), by delete and re-create, or
// by a Kubernetes ConfigMap swapping its "..data" symlink; and, for a
// directory of files (DirWatcher), which of its files changed.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// kubeData is the symlink a Kubernetes ConfigMap volume swaps atomically
// to publish a new version of all its files at once.
const kubeData = "..data"

// The event source failed: whatever changes from now on goes unseen.
var (
	errEventsClosed = errors.New("watch: event channel closed")
	errErrorsClosed = errors.New("watch: error channel closed")
)

// maxLinks bounds symlink chains, as the kernel does with ELOOP.
const maxLinks = 40

// Watcher reports that the file at path may have changed. It watches the
// file's directory rather than the file, because most ways of editing a
// file replace it, and a watch on the old inode would see nothing more.
type Watcher struct {
	path     string // absolute, as given: not resolved through symlinks
	dir      string
	realDir  string // dir with symlinks resolved
	debounce time.Duration
	log      *slog.Logger
	fs       *fsnotify.Watcher // the event source of Run; nil in tests that call handle
	dirs     dirWatches        // fs, or a test's fake
	changes  chan struct{}

	// Owned by handle (Run) after New returns.
	names  map[string]bool // event paths that concern the file
	target string          // extra directory watched: where the symlink chain ends, if elsewhere
}

// dirWatches adds and removes the directories whose events arrive: fsnotify
// for Run, a fake for tests that feed events to handle themselves.
type dirWatches interface {
	Add(dir string) error
	Remove(dir string) error
}

// New starts watching the directory of path. Events that happen between New
// and Run are kept and reported by Run. A nil logger discards.
func New(path string, debounce time.Duration, logger *slog.Logger) (*Watcher, error) {
	return withEvents(path, func(fs *fsnotify.Watcher) (*Watcher, error) {
		w, err := newWatcher(path, debounce, logger, fs)
		if err == nil {
			w.fs = fs
		}
		return w, err
	})
}

// withEvents makes the fsnotify watcher that build's watcher reads events
// from, and closes it when build fails.
func withEvents[W any](name string, build func(*fsnotify.Watcher) (W, error)) (W, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		var none W
		return none, fmt.Errorf("watch %s: %w", name, err)
	}
	w, err := build(fs)
	if err != nil {
		fs.Close()
	}
	return w, err
}

// newWatcher watches the directory of path through dirs.
func newWatcher(path string, debounce time.Duration, logger *slog.Logger, dirs dirWatches) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := dirs.Add(dir); err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &Watcher{
		path: abs, dir: dir, realDir: realDir, debounce: debounce,
		log: logger.With("file", abs), dirs: dirs, changes: make(chan struct{}, 1),
	}
	w.refresh()
	return w, nil
}

// Changes delivers one signal after each burst of changes has been quiet
// for the debounce interval. It is buffered, so signals that are not read
// in time coalesce into one.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Run handles events until ctx is done, then closes the underlying
// watcher and returns nil. It returns an error only if the event source
// fails.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.fs.Close()
	return w.handle(ctx, w.fs.Events, w.fs.Errors)
}

// handle debounces events until ctx is done: Run feeds it fsnotify's
// channels, tests their own.
func (w *Watcher) handle(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) error {
	quiet := time.NewTimer(w.debounce)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errEventsClosed
			}
			if w.relevant(ev) {
				quiet.Reset(w.debounce)
			}
		case err, ok := <-errs:
			if !ok {
				return errErrorsClosed
			}
			w.log.Warn("file watch error", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				quiet.Reset(w.debounce) // events were lost; one of them may have been ours
			}
		case <-quiet.C:
			w.signal()
		}
	}
}

func (w *Watcher) signal() {
	select {
	case w.changes <- struct{}{}:
		w.log.Debug("file changed")
	default: // a signal is already pending; the reader will see this change too
	}
}

// relevant decides whether ev may have changed what reading w.path returns.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false // touch, chmod: the content is the same
	}
	if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.log.Warn("watched directory was removed or renamed; changes are no longer seen", "dir", w.dir)
		return false
	}
	if !w.names[ev.Name] {
		return false
	}
	w.refresh() // a symlink may now point elsewhere
	return true
}

// refresh recomputes which paths concern the file: the file itself, the
// Kubernetes "..data" link, every hop of its symlink chain, and the final
// target, whose directory is watched too when it lies outside dir.
func (w *Watcher) refresh() {
	names := map[string]bool{w.path: true, filepath.Join(w.dir, kubeData): true}
	for _, hop := range linkChain(w.path) {
		names[hop] = true
	}
	target := ""
	if real, err := filepath.EvalSymlinks(w.path); err == nil {
		if filepath.Dir(real) == w.realDir {
			names[filepath.Join(w.dir, filepath.Base(real))] = true
		} else {
			names[real] = true
			target = filepath.Dir(real)
		}
	}
	w.names = names
	w.watchTarget(target)
}

// linkChain follows path one symlink at a time and returns each hop, so
// that re-pointing any link along the way is noticed.
func linkChain(path string) []string {
	var hops []string
	for range maxLinks {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		link, err := os.Readlink(path)
		if err != nil {
			break
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = filepath.Clean(link)
		hops = append(hops, path)
	}
	return hops
}

func (w *Watcher) watchTarget(dir string) {
	if dir == w.target {
		return
	}
	if w.target != "" {
		_ = w.dirs.Remove(w.target) // fails when the directory is already gone, which is fine
	}
	w.target = ""
	if dir == "" {
		return
	}
	if err := w.dirs.Add(dir); err != nil {
		w.log.Warn("cannot watch the symlink target's directory; edits made there in place are not seen", "dir", dir, "err", err)
		return
	}
	w.target = dir
}
