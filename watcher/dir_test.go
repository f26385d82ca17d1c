package watcher

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

func yamlOnly(name string) bool {
	return strings.HasSuffix(name, ".yaml") && !strings.HasPrefix(name, ".")
}

// fedDir is a directory watcher fed by the test, in a synctest bubble.
type fedDir struct {
	w      *DirWatcher
	events chan fsnotify.Event
	errs   chan error
	dirs   *fakeDirs
}

func feedDir(t *testing.T, dir string) *fedDir {
	t.Helper()
	dirs := &fakeDirs{watched: map[string]bool{}}
	w, err := newDirWatcher(dir, debounce, yamlOnly, nil, dirs)
	if err != nil {
		t.Fatal(err)
	}
	f := &fedDir{w: w, events: make(chan fsnotify.Event), errs: make(chan error), dirs: dirs}
	go func() { _ = w.handle(t.Context(), f.events, f.errs) }()
	return f
}

func (f *fedDir) send(name string, op fsnotify.Op) { f.events <- fsnotify.Event{Name: name, Op: op} }

// take waits d on the fake clock and returns the batch delivered, if any.
func (f *fedDir) take(d time.Duration) (paths []string, got bool) {
	time.Sleep(d)
	synctest.Wait()
	select {
	case paths = <-f.w.Changes():
		return paths, true
	default:
		return nil, false
	}
}

func (f *fedDir) want(t *testing.T, d time.Duration, what string, want ...string) {
	t.Helper()
	paths, got := f.take(d)
	switch {
	case !got:
		t.Fatalf("%s: nothing delivered", what)
	case want == nil && paths != nil:
		t.Fatalf("%s: delivered %v, want nil (everything)", what, paths)
	case !slices.Equal(paths, want):
		t.Fatalf("%s: delivered %v, want %v", what, paths, want)
	}
}

func (f *fedDir) none(t *testing.T, d time.Duration, what string) {
	t.Helper()
	if paths, got := f.take(d); got {
		t.Fatalf("%s: delivered %v, want nothing", what, paths)
	}
}

func TestDirReportsWhichFilesChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := feedDir(t, dir)
		a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		f.send(b, fsnotify.Create)
		f.send(filepath.Join(dir, ".b.yaml.tmp123"), fsnotify.Create)
		f.send(filepath.Join(dir, "notes.txt"), fsnotify.Write)
		f.send(filepath.Join(dir, "sub", "c.yaml"), fsnotify.Write)
		f.send(filepath.Join(filepath.Dir(dir), "other.yaml"), fsnotify.Write) // the parent's
		f.send(a, fsnotify.Write)
		f.send(a, fsnotify.Chmod)
		f.none(t, debounce-time.Nanosecond, "before the burst was quiet")
		f.want(t, time.Nanosecond, "a quiet burst", a, b)
		f.none(t, 100*debounce, "the same events, later")
		f.send(filepath.Join(dir, "notes.txt"), fsnotify.Write)
		f.send(a, fsnotify.Chmod)
		f.none(t, 100*debounce, "only ignored events")
	})
}

// A batch not taken yet gathers what comes next.
func TestDirBatchesAccumulate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := feedDir(t, dir)
		a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
		f.send(a, fsnotify.Write)
		time.Sleep(3 * debounce) // ready, not taken
		f.send(b, fsnotify.Remove)
		f.want(t, debounce, "two bursts, one batch", a, b)
	})
}

// A burst that never goes quiet is delivered after maxDelay intervals.
func TestDirBurstIsNotHeldForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		f := feedDir(t, dir)
		a := filepath.Join(dir, "a.yaml")
		start := time.Now()
		for time.Since(start) <= maxDelay*debounce {
			f.send(a, fsnotify.Write)
			time.Sleep(debounce / 2)
		}
		f.want(t, 0, "a burst longer than the limit", a)
	})
}

func TestDirEverything(t *testing.T) {
	for _, tc := range []struct {
		what string
		feed func(f *fedDir, dir string)
	}{
		{"..data swapped", func(f *fedDir, dir string) { f.send(filepath.Join(dir, "..data"), fsnotify.Create) }},
		{"overflow", func(f *fedDir, dir string) { f.errs <- fsnotify.ErrEventOverflow }},
		{"directory removed", func(f *fedDir, dir string) { f.send(dir, fsnotify.Remove) }},
		{"directory replaced", func(f *fedDir, dir string) { f.send(dir, fsnotify.Create) }},
	} {
		synctest.Test(t, func(t *testing.T) {
			dir := t.TempDir()
			f := feedDir(t, dir)
			f.send(filepath.Join(dir, "a.yaml"), fsnotify.Write)
			tc.feed(f, dir)
			f.want(t, debounce, tc.what)
			if !f.dirs.has(dir) || !f.dirs.has(filepath.Dir(dir)) {
				t.Fatalf("%s: watching %v, want %s and its parent", tc.what, f.dirs, dir)
			}
		})
	}
}

// With the real fsnotify: an atomic write, a ConfigMap swap, a removal.
func TestDirWithFsnotify(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewDir(dir, debounce, yamlOnly, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	next := func(what string) []string {
		t.Helper()
		select {
		case p := <-w.Changes():
			return p
		case <-time.After(patience):
			t.Fatalf("nothing delivered within %s after %s", patience, what)
			return nil
		}
	}
	a := filepath.Join(dir, "a.yaml")
	replace(t, a, "one") // .tmp-a.yaml, then a rename over a.yaml
	if got := next("an atomic write"); !slices.Equal(got, []string{a}) {
		t.Fatalf("an atomic write: %v, want [%s]", got, a)
	}
	if err := os.Mkdir(filepath.Join(dir, "..2026_x"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlinkOver(t, "..2026_x", filepath.Join(dir, "..data"))
	if got := next("a ConfigMap swap"); got != nil {
		t.Fatalf("a ConfigMap swap: %v, want nil", got)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if got := next("a removal"); !slices.Equal(got, []string{a}) {
		t.Fatalf("a removal: %v, want [%s]", got, a)
	}
	// The directory replaced by another: everything, then the new one's
	// files are watched.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for got := next("the directory replaced"); got != nil; got = next("the directory replaced") {
		t.Logf("before the replacement was seen: %v", got)
	}
	write(t, a, "two")
	for got := next("a write in the new directory"); !slices.Equal(got, []string{a}); got = next("a write in the new directory") {
		if got != nil {
			t.Fatalf("a write in the new directory: %v, want [%s]", got, a)
		}
	}
}
