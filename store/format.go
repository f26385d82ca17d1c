package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

// The state directory's format file holds the highest record format
// written into it, so that a start-up checks for a downgrade by reading one
// small file rather than every record. A hotcert that raises Format writes
// the file (Put does) before any record of the new format.

func (f *File) formatPath() string { return filepath.Join(f.dir, "format") }

// CheckFormat refuses a state directory that a later hotcert wrote
// (ErrFormat). It reads the format file; a directory without one (written
// before it existed) has every record's format read once, and then gets
// the file.
func (f *File) CheckFormat() error {
	n, err := f.readFormat()
	switch {
	case err != nil:
		return err
	case n > 0:
		return nil
	}
	if err := f.eachState(func(path string, b []byte) error {
		var r struct {
			Format int `json:"format"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := (&Record{Format: r.Format}).CheckFormat(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("state format: %w", err)
	}
	return f.writeFormat()
}

// readFormat is the format file's number, 0 when there is none, and
// ErrFormat when it is later than Format.
func (f *File) readFormat() (int, error) {
	b, err := os.ReadFile(f.formatPath())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state format: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("state format: %s: %w", f.formatPath(), err)
	}
	if err := (&Record{Format: n}).CheckFormat(); err != nil {
		return 0, fmt.Errorf("state format: %s: %w", f.formatPath(), err)
	}
	f.formatOK.Store(n == Format)
	return n, nil
}

// writeFormat records, before the first record this File writes, that the
// directory holds records of this format. A later format already recorded
// is refused: writing would downgrade part of the state.
func (f *File) writeFormat() error {
	if f.formatOK.Load() {
		return nil
	}
	if n, err := f.readFormat(); err != nil || n == Format {
		return err
	}
	if err := atomicfile.Write(f.formatPath(), []byte(strconv.Itoa(Format)+"\n"), 0o600); err != nil {
		return fmt.Errorf("state format: %w", err)
	}
	f.formatOK.Store(true)
	return nil
}
