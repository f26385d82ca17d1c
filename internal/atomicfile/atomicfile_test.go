package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteReplacesAndSetsMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.pem")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "new" {
		t.Fatalf("content = %q, want new", got)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestWriteFailsInMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("want error for a missing directory")
	}
}

func TestRemoveIsIdempotent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("x"), 0o600)
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
}

// A directory MkdirAll creates survives a crash only once its parent is
// synced; one that already existed costs no sync.
func TestMkdirAllSyncsTheParentOfEachDirectoryItCreates(t *testing.T) {
	root := t.TempDir()
	var synced []string
	real := syncDir
	syncDir = func(dir string) error {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		rel, _ := filepath.Rel(root, dir)
		synced = append(synced, rel+": "+strings.Join(names, ","))
		return real(dir)
	}
	t.Cleanup(func() { syncDir = real })

	if err := MkdirAll(filepath.Join(root, "certs", "shop"), 0o700); err != nil {
		t.Fatal(err)
	}
	if want := []string{".: certs", "certs: shop"}; !slices.Equal(synced, want) {
		t.Fatalf("synced %q, want %q (each parent, after its new entry)", synced, want)
	}
	if st, err := os.Stat(filepath.Join(root, "certs", "shop")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("new directory: %v %v", st, err)
	}

	synced = nil
	if err := MkdirAll(filepath.Join(root, "certs", "shop"), 0o700); err != nil || len(synced) != 0 {
		t.Fatalf("existing directory: %v, synced %q", err, synced)
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirAll(filepath.Join(file, "x"), 0o700); err == nil {
		t.Fatal("want an error below a file")
	}
	if err := MkdirAll(file, 0o700); err == nil {
		t.Fatal("want an error for a file in the way")
	}
}

// A Write is a new file: its inode tells it from the one it replaced,
// which is what store and runtime rely on when size and time are equal.
func TestWriteGivesANewInode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := Write(p, []byte("same"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("same"), 0o600); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if Inode(before) == 0 || Inode(before) == Inode(after) {
		t.Fatalf("inodes %d then %d: want two different, non-zero", Inode(before), Inode(after))
	}
	if Group(after) != os.Getegid() {
		t.Fatalf("group %d, want %d", Group(after), os.Getegid())
	}
}
