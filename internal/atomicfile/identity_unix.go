//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// Inode is fi's inode number. Every Write renames a new file over the old
// one, so a new inode tells a reader that the file was replaced even when
// its size and its coarse-grained time did not change.
func Inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // Ino is uint32 on some systems
	}
	return 0
}

// Group is fi's group, or -1 when it cannot be told.
func Group(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Gid)
	}
	return -1
}
