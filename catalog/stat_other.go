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
