package watcher

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The tests in this file feed events to the watcher's loop themselves, in a
// synctest bubble: the kernel's events would come from outside the bubble,
// whose fake clock then could not advance. The clock makes "no signal"
// a fact rather than a guess about how long a signal would take.

// fed is a watcher whose events, errors and directory watches are the test's.
type fed struct {
	w      *Watcher
	events chan fsnotify.Event
	errs   chan error
	dirs   *fakeDirs
	done   chan error // what handle returned; it returns when the test ends
}

// feed starts handling events for path. Call it inside a synctest bubble.
func feed(t *testing.T, path string) *fed {
	t.Helper()
	dirs := &fakeDirs{watched: map[string]bool{}}
	w, err := newWatcher(path, debounce, nil, dirs)
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{w: w, events: make(chan fsnotify.Event), errs: make(chan error), dirs: dirs, done: make(chan error, 1)}
	go func() { f.done <- w.handle(t.Context(), f.events, f.errs) }()
	return f
}

// send hands one event to the loop; it returns once the loop has taken it.
func (f *fed) send(name string, op fsnotify.Op) {
	f.events <- fsnotify.Event{Name: name, Op: op}
}

// writes sends n writes of the watched file, gap apart on the fake clock.
func (f *fed) writes(n int, gap time.Duration) {
	for range n {
		f.send(f.w.path, fsnotify.Write)
		time.Sleep(gap)
	}
}

// signalled reports, and takes, the pending change signal once the loop
// has done all it can at the current fake time.
func (f *fed) signalled() bool {
	synctest.Wait()
	select {
	case <-f.w.Changes():
		return true
	default:
		return false
	}
}

// after lets d pass on the fake clock, then checks whether a change signal
// came, and takes it.
func (f *fed) after(t *testing.T, d time.Duration, want bool, what string) {
	t.Helper()
	time.Sleep(d)
	if got := f.signalled(); got != want {
		t.Fatalf("%s: signalled %v, want %v", what, got, want)
	}
}

// fakeDirs records the directories the watcher asks to watch.
type fakeDirs struct {
	mu      sync.Mutex
	watched map[string]bool
}

func (d *fakeDirs) Add(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watched[dir] = true
	return nil
}

func (d *fakeDirs) Remove(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.watched, dir)
	return nil
}

func (d *fakeDirs) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(slices.Sorted(maps.Keys(d.watched)))
}

func (d *fakeDirs) has(dir string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.watched[dir]
}

func TestSignalWaitsForTheDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "domains.yaml")
		f := feed(t, path)
		f.send(path, fsnotify.Write)
		f.after(t, debounce-time.Nanosecond, false, "just before the debounce interval passed")
		f.send(path, fsnotify.Write) // a second event starts the interval again
		f.after(t, debounce-time.Nanosecond, false, "just before the interval after a second event")
		f.after(t, time.Nanosecond, true, "the interval after the last event")
		f.after(t, 100*debounce, false, "long after, for the same events")
	})
}

func TestBurstCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := feed(t, filepath.Join(t.TempDir(), "domains.yaml"))
		f.writes(20, debounce/2)
		n := 0
		for range 100 {
			if f.signalled() {
				n++
			}
			time.Sleep(debounce / 10)
		}
		if n != 1 {
			t.Errorf("a burst of 20 writes gave %d signals, want 1", n)
		}
	})
}

func TestSignalsDoNotPileUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := feed(t, filepath.Join(t.TempDir(), "domains.yaml"))
		f.writes(3, 2*debounce) // three separate bursts, none read yet
		f.after(t, 0, true, "three unread bursts")
		f.after(t, 100*debounce, false, "the one signal of three unread bursts read")
	})
}

func TestIrrelevantEventsAreIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "domains.yaml")
		write(t, path, "a")
		f := feed(t, path)
		for _, ev := range []fsnotify.Event{
			{Name: filepath.Join(dir, "hotcert.yaml"), Op: fsnotify.Write},
			{Name: filepath.Join(dir, ".tmp-other.yaml"), Op: fsnotify.Create},
			{Name: filepath.Join(dir, "other.yaml"), Op: fsnotify.Rename},
			{Name: path, Op: fsnotify.Chmod},
			{Name: dir, Op: fsnotify.Remove}, // logged: nothing more will be seen
		} {
			f.send(ev.Name, ev.Op)
			f.after(t, 100*debounce, false, ev.String())
		}
		f.send(path, fsnotify.Write)
		f.after(t, debounce, true, "a write after the ignored events")
	})
}

// TestSymlinkTargetMoves: a symlinked file is watched where it really is;
// re-pointing the link moves that watch, and only the file the link points
// at counts.
func TestSymlinkTargetMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, elsewhere, third := realTempDir(t), realTempDir(t), realTempDir(t)
		first, second, last := filepath.Join(elsewhere, "one.yaml"), filepath.Join(elsewhere, "two.yaml"), filepath.Join(third, "three.yaml")
		for _, p := range []string{first, second, last} {
			write(t, p, p)
		}
		path := filepath.Join(dir, "domains.yaml")
		symlinkOver(t, first, path)
		f := feed(t, path)
		if !f.dirs.has(dir) || !f.dirs.has(elsewhere) {
			t.Fatalf("watching %v, want %s and the target's directory %s", f.dirs, dir, elsewhere)
		}

		steps := []struct {
			what    string
			name    string
			op      fsnotify.Op
			repoint string
			signal  bool
		}{
			{what: "write to a file the link does not point at", name: second, op: fsnotify.Write},
			{what: "write to the target", name: first, op: fsnotify.Write, signal: true},
			{what: "re-pointing the link", name: path, op: fsnotify.Create, repoint: second, signal: true},
			{what: "write to the new target", name: second, op: fsnotify.Write, signal: true},
			{what: "write to the old target", name: first, op: fsnotify.Write},
			{what: "re-pointing the link to another directory", name: path, op: fsnotify.Create, repoint: last, signal: true},
		}
		for _, s := range steps {
			if s.repoint != "" {
				symlinkOver(t, s.repoint, path)
			}
			f.send(s.name, s.op)
			f.after(t, debounce, s.signal, s.what)
		}
		if f.dirs.has(elsewhere) || !f.dirs.has(third) || !f.dirs.has(dir) {
			t.Fatalf("after the link moved to %s, watching %v", third, f.dirs)
		}
	})
}

// realTempDir is t.TempDir with symlinks resolved, as the watcher names
// the directory it watches for a symlink's target.
func realTempDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOverflowAsksForALook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := feed(t, filepath.Join(t.TempDir(), "domains.yaml"))
		f.errs <- errors.New("inotify: something else")
		f.after(t, 100*debounce, false, "an error that lost no event")
		f.errs <- fsnotify.ErrEventOverflow
		f.after(t, debounce, true, "events were lost")
	})
}

func TestClosedSourceIsAnError(t *testing.T) {
	for _, which := range []string{"events", "errors"} {
		synctest.Test(t, func(t *testing.T) {
			f := feed(t, filepath.Join(t.TempDir(), "domains.yaml"))
			if which == "events" {
				close(f.events)
			} else {
				close(f.errs)
			}
			synctest.Wait()
			select {
			case err := <-f.done:
				if err == nil {
					t.Fatalf("closed %s channel: handle returned nil, want an error", which)
				}
			default:
				t.Fatalf("closed %s channel: handle kept running", which)
			}
		})
	}
}
