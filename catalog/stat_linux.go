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

// readFile reads path with its stat taken on the open file: four system
// calls (open, fstat, read, close), which is most of what a start-up of
// 100,000 small files costs.
func readFile(path string) (statKey, []byte, error) {
	fd, err := openRetry(path)
	if err != nil {
		return statKey{}, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return statKey{}, nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return statKey{}, nil, &os.PathError{Op: "read", Path: path, Err: errNotRegular}
	}
	key := statKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
	buf := make([]byte, 0, st.Size+1)
	for {
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return statKey{}, nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		buf = buf[:len(buf)+n]
		if n == 0 || len(buf) < cap(buf) {
			return key, buf, nil // a short read of a regular file is its end
		}
		buf = append(buf, 0)[:len(buf)] // grown since the fstat: read on
	}
}

func openRetry(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
