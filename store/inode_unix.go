//go:build unix

package store

import (
	"os"
	"syscall"
)

// inodeOf tells a file replaced by a rename from the one it replaced, which
// its size and time need not: two writes in the same clock tick share a
// modification time.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // Ino is uint32 on some systems
	}
	return 0
}
