//go:build !unix

package atomicfile

import "os"

// Inode is 0 where files have no inode: size and time alone then tell
// whether a file changed.
func Inode(os.FileInfo) uint64 { return 0 }

// Group is -1 where files have no group.
func Group(os.FileInfo) int { return -1 }
