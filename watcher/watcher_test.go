package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The tests in this file run the real fsnotify watch. They only wait for a
// signal that must come, with a limit generous enough for a loaded machine;
// what must not signal, and how long the debounce waits, is checked against
// a fake clock in debounce_test.go.
const (
	debounce = 50 * time.Millisecond
	patience = 30 * time.Second // fail rather than hang when a signal never comes
)

// start watches path and stops the watcher when the test ends, checking
// that Run returns promptly and without error.
func start(t *testing.T, path string) *Watcher {
	t.Helper()
	w, err := New(path, debounce, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(patience):
			t.Errorf("Run did not return after cancel")
		}
	})
	return w
}

func waitSignal(t *testing.T, w *Watcher, what string) {
	t.Helper()
	select {
	case <-w.Changes():
	case <-time.After(patience):
		t.Fatalf("no change signal within %s after %s", patience, what)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace swaps in new content by rename, as editors and sed -i do.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// symlinkOver points link at target atomically, as Kubernetes does.
func symlinkOver(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + "_tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

func TestRenameOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "domains.yaml")
	write(t, path, "a")
	w := start(t, path)
	replace(t, path, "b")
	waitSignal(t, w, "rename over the file")
}

func TestInPlaceWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "domains.yaml")
	write(t, path, "a")
	w := start(t, path)
	write(t, path, "b") // truncate and write, as a shell's > does
	waitSignal(t, w, "in-place write")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "c")
	f.Close()
	waitSignal(t, w, "append")
}

func TestDeleteAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "domains.yaml")
	write(t, path, "a")
	w := start(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, w, "delete")
	write(t, path, "b")
	waitSignal(t, w, "re-create")
}

func TestFileCreatedAfterStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "domains.yaml")
	w := start(t, path)
	write(t, path, "a")
	waitSignal(t, w, "first creation")
}

func TestKubernetesConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	if err := os.Mkdir(v1, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(v1, "domains.yaml"), "v1")
	if err := os.Symlink(filepath.Base(v1), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "domains.yaml")
	if err := os.Symlink("..data/domains.yaml", path); err != nil {
		t.Fatal(err)
	}
	w := start(t, path)

	for i, version := range []string{"..2026_01_01_00_01_00.2", "..2026_01_01_00_02_00.3"} {
		next := filepath.Join(dir, version)
		if err := os.Mkdir(next, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(next, "domains.yaml"), version)
		symlinkOver(t, version, filepath.Join(dir, "..data"))
		waitSignal(t, w, fmt.Sprintf("swap %d of ..data", i+1))
		got, err := os.ReadFile(path)
		if err != nil || string(got) != version {
			t.Fatalf("after swap read %q, %v; want %q", got, err, version)
		}
	}
}

func TestSymlinkToAnotherDirectory(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	first, second := filepath.Join(elsewhere, "one.yaml"), filepath.Join(elsewhere, "two.yaml")
	write(t, first, "1")
	write(t, second, "2")
	path := filepath.Join(dir, "domains.yaml")
	if err := os.Symlink(first, path); err != nil {
		t.Fatal(err)
	}
	w := start(t, path)

	write(t, first, "1b")
	waitSignal(t, w, "in-place write to the symlink's target")
	symlinkOver(t, second, path)
	waitSignal(t, w, "re-pointing the symlink")
	write(t, second, "2c")
	waitSignal(t, w, "in-place write to the new target")
}

func TestNewFailsForMissingDirectory(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "nope", "domains.yaml"), debounce, nil); err == nil {
		t.Fatal("New succeeded for a file in a directory that does not exist")
	}
}
