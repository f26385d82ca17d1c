package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// tempPattern is the os.CreateTemp pattern of Write's temporary file for
// path: "." + its name + ".tmp" + random digits, in the same directory. The
// leading dot keeps it out of globs and out of a directory HAProxy loads.
func tempPattern(path string) string {
	return "." + filepath.Base(path) + ".tmp*"
}

// tempName matches what tempPattern makes; os.CreateTemp puts digits for
// the star. The group is the name of the file being written.
var tempName = regexp.MustCompile(`^\.(.+)\.tmp[0-9]+$`)

// tempTarget reports whether name is one of Write's temporary files, and
// the name of the file it was to replace.
func tempTarget(name string) (target string, ok bool) {
	m := tempName.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// RemoveLeftovers deletes from dir the temporary files of Writes that a
// kill cut short, for the files whose names ours accepts (nil: every
// file). The files they were to replace are intact, since the rename never
// happened, so this is tidying, not repair. It cannot tell a leftover from
// a write in progress: run it before anything writes to dir.
//
// It returns the paths it removed. A missing dir holds no leftovers; any
// other failure is in err, each one naming its file.
func RemoveLeftovers(dir string, ours func(target string) bool) (removed []string, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range ents {
		target, ok := tempTarget(e.Name())
		if !ok || !e.Type().IsRegular() || (ours != nil && !ours(target)) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
