package integration

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestFileModeAndGroup: with haproxy[].file_mode and file_group, the real
// binary writes the bundle HAProxy serves in that mode and group, and gives
// the crt-list the group, so that an HAProxy that is not root reads both when
// it starts again.
func TestFileModeAndGroup(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	g, err := user.LookupGroup("daemon") // Debian's; any group but root's would do
	if err != nil {
		t.Skip("no group daemon here")
	}
	gid, _ := strconv.Atoi(g.Gid)
	e := newEnv(t, envOptions{})
	e.haproxyExtra = "    file_mode: \"0640\"\n    file_group: daemon\n"
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n")
	e.start()
	e.lbs[0].waitServed("shop.example.test", e.bundle(0, "shop"), 90*time.Second)
	for path, mode := range map[string]os.FileMode{e.bundle(0, "shop"): 0o640, e.lbs[0].CrtList: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(st.Sys().(*syscall.Stat_t).Gid); st.Mode().Perm() != mode || got != gid {
			t.Errorf("%s: mode %v group %d, want %v and %d", path, st.Mode().Perm(), got, mode, gid)
		}
	}
}
