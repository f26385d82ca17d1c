package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A line hotcert confirmed is not looked for again, but any edit of the
// file by someone else makes add read it again and put the line back.
func TestAddLineNoticesEditsBehindItsBack(t *testing.T) {
	list := filepath.Join(t.TempDir(), "certs.list")
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"), 0o600))
	a, b := "/etc/haproxy/certs/a.pem", "/etc/haproxy/certs/b.pem"
	l := crtListAt(list, 0)
	must(t, l.add(a))
	must(t, l.add(b))
	if !l.has(a) || !l.has(b) {
		t.Fatal("confirmed lines are not remembered")
	}
	must(t, l.add(a)) // remembered: no duplicate
	if got, _ := os.ReadFile(list); strings.Count(string(got), a) != 1 {
		t.Fatalf("line written twice:\n%s", got)
	}

	// Someone rewrites the file in place without a's line.
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"+b+"\n# edited\n"), 0o600))
	if l.has(a) {
		t.Fatal("an edit of the file did not drop what was remembered")
	}
	must(t, l.add(a))
	if got, _ := os.ReadFile(list); !strings.Contains(string(got), a+"\n") {
		t.Fatalf("a's line not put back after the edit:\n%s", got)
	}

	must(t, l.remove(b))
	if l.has(b) {
		t.Fatal("a removed line is still remembered")
	}
}

// Instances that name the same crt-list file must share its lock and what it
// remembers: one of them rewriting the file would otherwise race the other.
func TestClientsOfOneCrtListShareIt(t *testing.T) {
	list := filepath.Join(t.TempDir(), "certs.list")
	a := New(Options{Name: "lb1", CrtList: list})
	b := New(Options{Name: "lb2", CrtList: list})
	other := New(Options{Name: "lb3", CrtList: list + ".other"})
	if a.list != b.list || a.list == other.list {
		t.Fatal("clients of one crt-list file do not share one crtList, or clients of two files do")
	}
}

func TestWithoutLines(t *testing.T) {
	p := "/c/a.pem"
	for _, tc := range []struct {
		in, want string // want "": nothing to take out
	}{
		{"/d.pem\n" + p + "\n/c/b.pem\n", "/d.pem\n/c/b.pem\n"},
		{"/d.pem\n" + p + " [alpn h2]\n  " + p + "\n" + p, "/d.pem\n"}, // options, indented, no final newline
		{"/d.pem\n\n" + p + "\n# " + p + "\n", "/d.pem\n\n# " + p + "\n"},
		{"/d.pem\n" + p + ".old\n/c/b.pem", ""}, // a longer name is another store
		{"/d.pem\n", ""},
	} {
		got, found := withoutLines([]byte(tc.in), p)
		if found != (tc.want != "") || string(got) != tc.want && found {
			t.Errorf("withoutLines(%q) = %q, %v; want %q", tc.in, got, found, tc.want)
		}
	}
}

// A new line is appended in place, not by rewriting the file: at 100,000
// lines a rewrite with fsync was most of a new certificate's push. The file
// keeps its inode and mode, and a last line without its newline gets one.
func TestAddAppendsInPlace(t *testing.T) {
	list := filepath.Join(t.TempDir(), "certs.list")
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem [alpn h2]"), 0o640))
	before, err := os.Stat(list)
	must(t, err)
	l := crtListAt(list, 0)
	must(t, l.add("/c/a.pem"))
	must(t, l.add("/c/b.pem"))
	got, err := os.ReadFile(list)
	must(t, err)
	if want := "/etc/haproxy/default.pem [alpn h2]\n/c/a.pem\n/c/b.pem\n"; string(got) != want {
		t.Fatalf("crt-list:\n%q\nwant\n%q", got, want)
	}
	after, err := os.Stat(list)
	must(t, err)
	if !os.SameFile(before, after) || after.Mode().Perm() != 0o640 {
		t.Fatalf("the file was replaced (same file %v) or its mode changed (%v)", os.SameFile(before, after), after.Mode().Perm())
	}
}

// While the file is as hotcert left it, a new line is added without reading
// the file again, and the content remembered stays the file's: an edit by
// someone else is read and kept.
func TestAddRemembersTheContent(t *testing.T) {
	list := filepath.Join(t.TempDir(), "certs.list")
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"), 0o644))
	l := crtListAt(list, 0)
	must(t, l.add("/c/a.pem"))
	must(t, l.add("/c/b.pem"))
	got, err := os.ReadFile(list)
	must(t, err)
	if string(got) != string(l.seen.data) {
		t.Fatalf("remembered %q, the file holds %q", l.seen.data, got)
	}
	// Someone appends a line of their own: the next add reads it and keeps it.
	f, err := os.OpenFile(list, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("/etc/haproxy/theirs.pem [ocsp-update on]\n")
	must(t, err)
	must(t, f.Close())
	must(t, l.add("/c/c.pem"))
	got, err = os.ReadFile(list)
	must(t, err)
	want := "/etc/haproxy/default.pem\n/c/a.pem\n/c/b.pem\n/etc/haproxy/theirs.pem [ocsp-update on]\n/c/c.pem\n"
	if string(got) != want || string(l.seen.data) != want {
		t.Fatalf("file %q, remembered %q, want both %q", got, l.seen.data, want)
	}
}
