package runtime

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// readableGroup is a group this process may give its files: its own when
// that is not root's, else (as root) one that Debian always has.
func readableGroup(t *testing.T) int {
	t.Helper()
	if gid := os.Getgid(); gid != 0 {
		return gid
	}
	for _, n := range []string{"daemon", "nogroup", "users"} {
		if g, err := user.LookupGroup(n); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			return gid
		}
	}
	t.Skip("no group to test with")
	return 0
}

func fileModeGroup(t *testing.T, path string) (os.FileMode, int) {
	t.Helper()
	st, err := os.Stat(path)
	must(t, err)
	return st.Mode().Perm(), int(st.Sys().(*syscall.Stat_t).Gid)
}

// Bundles get Options.FileMode and FileGID, and the crt-list keeps its mode
// but gets the group, so that an HAProxy that is not root can read both when
// it starts again.
func TestPushFileModeAndGroup(t *testing.T) {
	gid := readableGroup(t)
	f := newFake(t, nil)
	dir := t.TempDir()
	list := filepath.Join(dir, "certs.list")
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"), 0o644))
	c := New(Options{Name: "fake1", Socket: f.sock, CertDir: filepath.Join(dir, "certs"), CrtList: list,
		Timeout: 300 * time.Millisecond, FileMode: 0o640, FileGID: gid})
	must(t, os.MkdirAll(c.opts.CertDir, 0o750))
	f.setReply(script(c, nil))
	must(t, c.Push(context.Background(), "shop", pushBundle(t)))
	if mode, g := fileModeGroup(t, c.Path("shop")); mode != 0o640 || g != gid {
		t.Errorf("bundle: mode %v group %d, want 0640 and %d", mode, g, gid)
	}
	if mode, g := fileModeGroup(t, list); mode != 0o644 || g != gid {
		t.Errorf("crt-list: mode %v group %d, want 0644 (kept) and %d", mode, g, gid)
	}
}

// Without them a bundle is 0600 in the group the process creates files with.
func TestPushFileModeDefault(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	f.setReply(script(c, nil))
	must(t, c.Push(context.Background(), "shop", pushBundle(t)))
	if mode, g := fileModeGroup(t, c.Path("shop")); mode != 0o600 || g != os.Getegid() {
		t.Errorf("bundle: mode %v group %d, want 0600 and %d", mode, g, os.Getegid())
	}
}
