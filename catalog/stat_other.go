//go:build !linux

package catalog

import "os"

// statKey is what tells that a file may have changed since it was read;
// outside Linux, its size and modification time.
type statKey struct {
	size, mtime int64
}

func keyOf(fi os.FileInfo) statKey {
	return statKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// readFile reads path and its stat.
func readFile(path string) (statKey, []byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return statKey{}, nil, err
	}
	if !fi.Mode().IsRegular() {
		return statKey{}, nil, &os.PathError{Op: "read", Path: path, Err: errNotRegular}
	}
	data, err := os.ReadFile(path)
	return keyOf(fi), data, err
}
