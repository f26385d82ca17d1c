package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

// crtList is one crt-list file on disk, the one HAProxy loads when it
// starts. Every push writes its line there before touching the socket, and
// every removal takes it out first, so that a restart loads what HAProxy
// serves now.
type crtList struct {
	file string
	gid  int // the group rewrites give the file, when positive
	// mu serialises edits of the file, a read and a rewrite each, and
	// guards seen. Several instances on a host may share the file.
	mu sync.Mutex
	// seen is the lines hotcert confirmed in the file and the file's
	// identity when it did; nil when nothing is remembered. A renewal then
	// finds its own line with one stat instead of reading a 10,000-line file
	// on every push. Any change to the file by someone else (a new inode,
	// size or mtime) drops what was remembered.
	seen *listSeen
}

type listSeen struct {
	id    fileID
	paths map[string]bool
	data  []byte // the file's content at id
	mode  os.FileMode
}

type fileID struct {
	ino  uint64
	size int64
	mod  time.Time
}

// crtLists holds the one crtList of each file path, so that instances
// sharing a file share its lock and what it remembers. A registry here
// rather than a value passed in Options: the caller builds each Client from
// its own config entry and would have to find the shared files itself, and
// a Client given none would need this registry anyway. Keys are the paths
// as configured, so one file named two ways gets two locks.
var crtLists sync.Map // file path -> *crtList

// crtListAt is the crtList of file; New is its one caller outside tests.
// Instances that share a file share its group too (the first one's; the
// configs require the same cert_dir, and so the same HAProxy, for them).
func crtListAt(file string, gid int) *crtList {
	l, _ := crtLists.LoadOrStore(file, &crtList{file: file, gid: gid})
	return l.(*crtList)
}

// add appends "<path>" to the file unless a line for path is already there
// (with or without options), so a restart loads the certificate.
//
// The file must exist with at least one line: HAProxy refuses to start with
// an empty crt-list, and the first line is the default certificate, which
// HAProxy never lets go of. A certificate of hotcert's in that place could
// never be removed again, so a missing or empty list is refused.
func (l *crtList) add(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.has(path) {
		return nil
	}
	readID, _ := idOf(l.file)
	data, mode, err := l.content(readID)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("crt-list %s: %w", l.file, ErrNoCrtList)
	}
	if !hasLine(data, path) {
		if data, err = l.appendLine(data, path, mode); err != nil {
			return err
		}
	}
	l.confirm(readID, path, data, mode)
	return nil
}

// content is the file's content and mode: what was remembered when the
// file is still as hotcert left it, so that a new certificate's push does
// not read 4.5 MB at 100,000 certificates; read from disk otherwise. The
// caller holds mu.
func (l *crtList) content(id fileID) ([]byte, os.FileMode, error) {
	if l.seen != nil && l.seen.id == id && l.seen.data != nil {
		return l.seen.data, l.seen.mode, nil
	}
	return l.read()
}

// appendLine writes path's line at the end of the file, whose content is
// data, in place. A rewrite copies the whole file and fsyncs it: 4.5 MB at
// 100,000 certificates, which was most of what hotcert added to a new
// certificate's time to be served. One short write at the end is safe to
// lose power in: ext4 (data=ordered, its default) and XFS grow a file's
// size on disk only once the data is there, so the file has the line whole
// or not at all. Where the file's group must change, the rewrite does it.
// It returns the file's new content.
func (l *crtList) appendLine(data []byte, path string, mode os.FileMode) ([]byte, error) {
	line := path + "\n"
	if !bytes.HasSuffix(data, []byte("\n")) {
		line = "\n" + line
	}
	// In place: data is what l.seen holds, and only the holder of mu uses it.
	out := append(data, line...)
	if l.gid > 0 && groupOf(l.file) != l.gid {
		return out, atomicfile.WriteGroup(l.file, out, mode, l.gid)
	}
	f, err := os.OpenFile(l.file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("crt-list: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		// A part of a line (a full disk) would stop HAProxy's next start.
		_ = f.Truncate(int64(len(data)))
		f.Close()
		return nil, fmt.Errorf("crt-list %s: %w", l.file, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("crt-list %s: %w", l.file, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("crt-list %s: %w", l.file, err)
	}
	return out, nil
}

// groupOf is the file's group, or -1 when it cannot be told.
func groupOf(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return atomicfile.Group(st)
}

// remove takes every line for path out of the file.
func (l *crtList) remove(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.forget()
	data, mode, err := l.read()
	if err != nil {
		return err
	}
	kept, found := withoutLines(data, path)
	if !found {
		// Nothing to take out; a rewrite would turn a missing or empty
		// list into a lone newline, which HAProxy refuses to start with.
		return nil
	}
	return atomicfile.WriteGroup(l.file, kept, mode, l.gid)
}

// withoutLines is data without its lines for path (see lineFor), ending in
// a newline, and whether there were any. It copies bytes rather than split
// the file into lines: at 100,000 lines that cost an allocation a line on
// every removal.
func withoutLines(data []byte, path string) ([]byte, bool) {
	if !bytes.Contains(data, []byte(path)) {
		return nil, false
	}
	out := make([]byte, 0, len(data)+1)
	found := false
	for rest := data; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte(path)) && lineFor(string(line), path) {
			found = true
			continue
		}
		out = append(out, line...)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out, found
}

// read returns the file's content and mode; a missing file reads as empty.
func (l *crtList) read() ([]byte, os.FileMode, error) {
	data, err := os.ReadFile(l.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0o644, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("crt-list: %w", err)
	}
	st, err := os.Stat(l.file)
	if err != nil {
		return nil, 0, fmt.Errorf("crt-list: %w", err)
	}
	return data, st.Mode().Perm(), nil
}

// has reports a line confirmed in the file as it is now. The caller holds mu.
func (l *crtList) has(path string) bool {
	if l.seen == nil {
		return false
	}
	id, ok := idOf(l.file)
	return ok && id == l.seen.id && l.seen.paths[path]
}

// confirm records that the file, whose content was read at readID, holds
// path now, and data as its content (after a write of ours, if any). What
// was remembered for readID stays; anything older is dropped. The caller
// holds mu.
func (l *crtList) confirm(readID fileID, path string, data []byte, mode os.FileMode) {
	now, ok := idOf(l.file)
	if !ok {
		l.seen = nil
		return
	}
	s := &listSeen{id: now, paths: map[string]bool{}, data: data, mode: mode}
	if l.seen != nil && l.seen.id == readID {
		s.paths = l.seen.paths
	}
	s.paths[path] = true
	l.seen = s
}

// forget drops what was remembered; the caller holds mu.
func (l *crtList) forget() { l.seen = nil }

func idOf(path string) (fileID, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, false
	}
	return fileID{ino: atomicfile.Inode(st), size: st.Size(), mod: st.ModTime()}, true
}

// hasLine is lineFor over the whole file without splitting it: with
// 10,000 lines, splitting cost milliseconds on every renewal.
func hasLine(data []byte, path string) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(path))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		if (start == 0 || data[start-1] == '\n') && (end == len(data) || strings.IndexByte(" \t\n", data[end]) >= 0) {
			return true
		}
		i = end
	}
}

func lineFor(line, path string) bool {
	f := strings.Fields(line)
	return len(f) > 0 && f[0] == path
}
