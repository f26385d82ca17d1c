// Package atomicfile writes files so that a reader, or a process that
// restarts after a crash, sees either the old content or the new one, never
// a mix. HAProxy reads cert_dir and the crt-list at start-up, and hotcert reads
// its state directory after a crash, so neither may ever see half a file.
//
// A write killed before its rename leaves a temporary file beside the one
// it was to replace. RemoveLeftovers tidies those; it and Write share one
// naming rule, in leftovers.go.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// Write replaces path with data: it writes a temporary file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory so the
// rename itself survives a power loss.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteGroup(path, data, perm, 0)
}

// WriteGroup is Write with the file given group gid first, when gid is
// positive, so that the file never appears with a group that cannot read
// it. The writer must be root or a member of the group.
func WriteGroup(path string, data []byte, perm os.FileMode, gid int) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if gid > 0 {
		if err = tmp.Chown(-1, gid); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// Remove deletes path and makes the deletion durable. A missing file is not
// an error: removal is idempotent so that a retried reconcile pass succeeds.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// MkdirAll creates dir and any missing parents, like os.MkdirAll, and
// fsyncs the parent of each directory it creates. A new directory is an
// entry in its parent, and until the parent is synced a crash can lose it
// together with every file later written into it, synced or not.
func MkdirAll(dir string, perm os.FileMode) error {
	missing, err := missingDirs(filepath.Clean(dir))
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	for _, d := range missing {
		if err := os.Mkdir(d, perm); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	return nil
}

// missingDirs lists dir and those of its parents that do not exist, the
// outermost first.
func missingDirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case err == nil && !st.IsDir():
			return nil, fmt.Errorf("%s: %w", d, syscall.ENOTDIR)
		case err == nil:
			slices.Reverse(missing)
			return missing, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		case filepath.Dir(d) == d:
			return nil, err
		}
		missing = append(missing, d)
	}
}

// syncDir is a variable so that tests can see which directories are synced.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
