package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The names os.CreateTemp makes from tempPattern are the ones tempTarget
// recognises, so a leftover of any Write is found.
func TestTempTargetRecognisesWritesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"shop.pem", "certs.list", "state.json", ".hidden", "a.tmp1"} {
		for range 20 {
			f, err := os.CreateTemp(dir, tempPattern(filepath.Join(dir, name)))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got, ok := tempTarget(filepath.Base(f.Name())); !ok || got != name {
				t.Fatalf("tempTarget(%q) = %q, %v; want %q", filepath.Base(f.Name()), got, ok, name)
			}
		}
	}
}

func TestTempTarget(t *testing.T) {
	for name, want := range map[string]string{
		".shop.pem.tmp123":   "shop.pem",
		".certs.list.tmp7":   "certs.list",
		".a.tmp1.tmp2":       "a.tmp1", // a temporary file of "a.tmp1", not of "a"
		"..hidden.tmp42":     ".hidden",
		".shop.pem.tmp":      "", // no digits: not CreateTemp's
		"shop.pem.tmp123":    "", // no leading dot
		".shop.pem.tmp12x":   "",
		".shop.pem.tmp123.x": "",
		"..tmp1":             "",
	} {
		got, ok := tempTarget(name)
		if ok != (want != "") || got != want {
			t.Errorf("tempTarget(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	gone := []string{".shop.pem.tmp4242", ".certs.list.tmp77"}
	kept := []string{"shop.pem", ".shop.pem.tmp", ".other.list.tmp77", "certs.list"}
	for _, n := range append(append([]string{}, gone...), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".sub.tmp1"), 0o700); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, ".sub.tmp1") // a directory is never one of Write's files

	ours := func(target string) bool { return target != "other.list" }
	removed, err := RemoveLeftovers(dir, ours)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{filepath.Join(dir, ".certs.list.tmp77"), filepath.Join(dir, ".shop.pem.tmp4242")}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	for _, n := range gone {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s survived: %v", n, err)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}

	removed, err = RemoveLeftovers(dir, nil)
	if err != nil || !slices.Equal(removed, []string{filepath.Join(dir, ".other.list.tmp77")}) {
		t.Fatalf("with every file ours: removed %q, %v", removed, err)
	}
}

func TestRemoveLeftoversInAMissingDirectory(t *testing.T) {
	removed, err := RemoveLeftovers(filepath.Join(t.TempDir(), "none"), nil)
	if err != nil || removed != nil {
		t.Fatalf("removed %q, %v", removed, err)
	}
}
