package runtime

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// listSeen remembers, per crt-list file, the lines hotcert has confirmed in
// it and the file's identity when it did. A renewal then finds its own line
// with one stat instead of reading a 10,000-line file on every push. Any
// change to the file by someone else (a new inode, size or mtime) drops what
// was remembered. Callers hold lockFile(list).
type listSeen struct {
	id    fileID
	paths map[string]bool
}

type fileID struct {
	ino  uint64
	size int64
	mod  time.Time
}

var listCache sync.Map // crt-list path -> *listSeen

func idOf(path string) (fileID, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, false
	}
	id := fileID{size: st.Size(), mod: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.ino = sys.Ino
	}
	return id, true
}

// listHas reports a line confirmed in the file as it is now.
func listHas(list, path string) bool {
	v, ok := listCache.Load(list)
	if !ok {
		return false
	}
	s := v.(*listSeen)
	id, ok := idOf(list)
	return ok && id == s.id && s.paths[path]
}

// listConfirm records that the file, whose content was read at readID,
// holds path now (after a write of ours, if any). What was remembered for
// readID stays; anything older is dropped.
func listConfirm(list string, readID fileID, path string) {
	now, ok := idOf(list)
	if !ok {
		listCache.Delete(list)
		return
	}
	s := &listSeen{id: now, paths: map[string]bool{}}
	if v, ok := listCache.Load(list); ok && v.(*listSeen).id == readID {
		s.paths = v.(*listSeen).paths
	}
	s.paths[path] = true
	listCache.Store(list, s)
}

func listForget(list string) { listCache.Delete(list) }
