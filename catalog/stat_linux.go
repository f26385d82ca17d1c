package catalog

import (
	"os"
	"syscall"
)

// statKey is what tells that a file may have changed since it was read:
// a rename over it changes the inode, a write in place the size or the
// times.
type statKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds
}

func keyOf(fi os.FileInfo) statKey {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return statKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	return statKey{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}
