package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

// fixture is a catalog over a temporary domains_dir, recording each set
// Apply is given.
type fixture struct {
	t       *testing.T
	dir     string
	cat     *Catalog
	applied []*configs.Domains
}

func newFixture(t *testing.T, mainFile string) *fixture {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, dir: dir}
	// Written with a trailing slash, as an operator may.
	cfg := &configs.Config{File: filepath.Join(dir, "hotcert.yaml"), DomainsDir: filepath.Join(dir, "d") + "/"}
	if err := os.Mkdir(cfg.DomainsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if mainFile != "" {
		cfg.DomainsFile = filepath.Join(dir, mainFile)
	}
	fx.cat = New(Options{Config: cfg, Apply: func(d *configs.Domains) { fx.applied = append(fx.applied, d) }})
	return fx
}

// path is a file of the domains_dir.
func (fx *fixture) path(name string) string { return filepath.Join(fx.cat.dir, name) }

// write replaces a file of the domains_dir by rename, as editors do.
func (fx *fixture) write(name, content string) string {
	fx.t.Helper()
	p := fx.path(name)
	if filepath.IsAbs(name) {
		p = name
	}
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		fx.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		fx.t.Fatal(err)
	}
	return p
}

// certs is a domains file of certificates named n, each for n.example.com.
func certs(names ...string) string {
	var b strings.Builder
	b.WriteString("certificates:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s.example.com]\n", n, n)
	}
	return b.String()
}

// names is the set in force, sorted.
func (fx *fixture) names() []string {
	var out []string
	for _, c := range fx.cat.Domains().Certificates {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

func (fx *fixture) want(what string, names ...string) {
	fx.t.Helper()
	if got := fx.names(); !slices.Equal(got, names) {
		fx.t.Fatalf("%s: the set in force is %v, want %v", what, got, names)
	}
}

func (fx *fixture) load(changed ...string) error {
	fx.t.Helper()
	if changed == nil {
		return fx.cat.Load(nil)
	}
	return fx.cat.Load(changed)
}

func (fx *fixture) mustLoad(changed ...string) {
	fx.t.Helper()
	if err := fx.load(changed...); err != nil {
		fx.t.Fatalf("Load: %v", err)
	}
}

// problems is Load's error as Problems, failing when it is another error.
func problems(t *testing.T, err error) configs.Problems {
	t.Helper()
	var ps configs.Problems
	if err != nil && !errors.As(err, &ps) {
		t.Fatalf("error %v is not configs.Problems", err)
	}
	return ps
}

func TestReadsEveryDomainsFileAndNothingElse(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("a1", "a2"))
	fx.write("b.yaml", certs("b"))
	fx.write(".hidden.yaml", certs("hidden"))
	fx.write("notes.txt", certs("txt"))
	fx.write(".b.yaml.tmp123456", certs("atomictemp"))
	fx.write("b.yaml~", certs("backup"))
	if err := os.Mkdir(fx.path("sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	fx.mustLoad()
	fx.want("start-up", "a1", "a2", "b")
	if len(fx.applied) != 1 {
		t.Fatalf("Apply called %d times, want 1", len(fx.applied))
	}
}

// An empty directory is an empty set, applied once so that the daemon
// starts.
func TestEmptyDirAppliesAnEmptySet(t *testing.T) {
	fx := newFixture(t, "")
	fx.mustLoad()
	if len(fx.applied) != 1 || len(fx.applied[0].Certificates) != 0 {
		t.Fatalf("applied %v, want one empty set", fx.applied)
	}
	fx.mustLoad()
	if len(fx.applied) != 1 {
		t.Fatal("a second look at an unchanged directory applied again")
	}
}

func TestOnlyChangedFilesAreRead(t *testing.T) {
	fx := newFixture(t, "")
	for i := range 20 {
		fx.write(fmt.Sprintf("f%02d.yaml", i), certs(fmt.Sprintf("c%02d", i)))
	}
	fx.mustLoad()
	if n := fx.cat.parsed.Load(); n != 20 {
		t.Fatalf("start-up parsed %d files, want 20", n)
	}
	fx.mustLoad()
	if n := fx.cat.parsed.Load(); n != 20 {
		t.Fatalf("a look at an unchanged directory parsed %d files more", n-20)
	}
	p := fx.write("f07.yaml", certs("c07", "seven"))
	fx.mustLoad(p, fx.path("f08.yaml"), "/elsewhere/f09.yaml", fx.path(".f10.yaml"))
	if n := fx.cat.parsed.Load(); n != 21 {
		t.Fatalf("after one edit %d files were parsed, want 1", n-20)
	}
	if !slices.Contains(fx.names(), "seven") || len(fx.applied) != 2 {
		t.Fatalf("after the edit: %v, %d applies", fx.names(), len(fx.applied))
	}
	// Rewritten with the same content: read, but nothing to apply.
	fx.write("f07.yaml", certs("c07", "seven"))
	fx.mustLoad(p)
	if len(fx.applied) != 2 {
		t.Fatalf("an unchanged certificate list was applied again")
	}
}

func TestDeletedFileRemovesItsCertificates(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("a"))
	b := fx.write("b.yaml", certs("b1", "b2"))
	fx.mustLoad()
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	fx.mustLoad(b)
	fx.want("after b.yaml was deleted", "a")
	fx.write("b.yaml", certs("b1"))
	fx.mustLoad()
	fx.want("after b.yaml came back", "a", "b1")
}

// A bad file is rejected; the last good version of it stays, and the other
// files' changes still apply.
func TestBadFileKeepsItsLastGoodVersion(t *testing.T) {
	fx := newFixture(t, "")
	a := fx.write("a.yaml", certs("a"))
	b := fx.write("b.yaml", certs("b"))
	fx.mustLoad()
	fx.write("a.yaml", "certificates:\n  - domains: [bad domain]\n")
	fx.write("b.yaml", certs("b", "b2"))
	ps := problems(t, fx.load(a, b))
	if len(ps) != 1 || ps[0].File != a || ps[0].Line != 2 || ps[0].Field != "certificates[0].domains[0]" {
		t.Fatalf("problems %v; want one at %s:2 certificates[0].domains[0]", ps, a)
	}
	fx.want("a bad a.yaml beside a good edit of b.yaml", "a", "b", "b2")
	if err := fx.cat.Problems(); err == nil {
		t.Fatal("Problems() is nil while a.yaml is rejected")
	}
	// Unchanged, it is not read again, and stays rejected.
	before := fx.cat.parsed.Load()
	if ps := problems(t, fx.load()); len(ps) != 1 || fx.cat.parsed.Load() != before {
		t.Fatalf("an unchanged bad file: problems %v, %d parsed", ps, fx.cat.parsed.Load()-before)
	}
	fx.write("a.yaml", certs("a3"))
	fx.mustLoad(a)
	fx.want("a.yaml fixed", "a3", "b", "b2")
	if err := fx.cat.Problems(); err != nil {
		t.Fatalf("Problems() = %v after the fix", err)
	}
}

// A name defined in two files: the file that brought it is rejected with a
// problem naming both places, and is tried again on later loads.
func TestDuplicateNameAcrossFiles(t *testing.T) {
	fx := newFixture(t, "")
	a := fx.write("a.yaml", certs("x", "shop"))
	fx.mustLoad()
	b := fx.write("b.yaml", "certificates:\n  - name: other\n    domains: [other.example.com]\n  - name: shop\n    domains: [shop2.example.com]\n")
	ps := problems(t, fx.load(b))
	want := fmt.Sprintf("%s:4:11: certificates[1].name: \"shop\" is already the name of a certificate at %s:4;", b, a)
	if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), want) {
		t.Fatalf("problems:\n%v\nwant one starting %q", ps, want)
	}
	fx.want("b.yaml rejected as a whole", "shop", "x")
	// The conflict goes away when a.yaml gives shop up: b.yaml, unchanged,
	// goes in on the next load.
	before := fx.cat.parsed.Load()
	fx.write("a.yaml", certs("x"))
	fx.mustLoad(a)
	fx.want("a.yaml gave shop up", "other", "shop", "x")
	if fx.cat.parsed.Load() != before+1 {
		t.Fatal("b.yaml was read again to retry it")
	}
	if got := fx.cat.Domains().Certificates; got[slices.IndexFunc(got, func(c configs.Certificate) bool { return c.Name == "shop" })].Domains[0] != "shop2.example.com" {
		t.Fatalf("shop is not b.yaml's: %v", got)
	}
}

func TestDuplicateDomainAcrossFiles(t *testing.T) {
	fx := newFixture(t, "")
	a := fx.write("a.yaml", certs("a"))
	fx.mustLoad()
	b := fx.write("b.yaml", "certificates:\n  - name: b\n    domains: [b.example.com, a.example.com]\n")
	ps := problems(t, fx.load(b))
	if len(ps) != 1 || ps[0].File != b || ps[0].Field != "certificates[0].domains[1]" || !strings.Contains(ps[0].Msg, a+":2") {
		t.Fatalf("problems %v; want one at b.yaml's domains[1] naming %s:2", ps, a)
	}
	fx.want("b.yaml rejected", "a")
}

// "shop" keeps its RSA half in HAProxy as "shop.rsa2048": a certificate of
// that name in another file would fight over the store.
func TestStoreNameClashAcrossFiles(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("shop"))
	fx.mustLoad()
	b := fx.write("b.yaml", certs("shop.rsa2048"))
	if ps := problems(t, fx.load(b)); len(ps) != 1 || !strings.Contains(ps[0].Msg, "share its HAProxy store") {
		t.Fatalf("problems %v; want a store clash", ps)
	}
}

// Two files swapping a certificate in one load: whichever is read first
// waits for the other.
func TestCertificateMovesBetweenFiles(t *testing.T) {
	fx := newFixture(t, "")
	a := fx.write("a.yaml", certs("a", "moving"))
	b := fx.write("b.yaml", certs("b"))
	fx.mustLoad()
	fx.write("a.yaml", certs("a"))
	fx.write("b.yaml", certs("b", "moving"))
	fx.mustLoad(b, a)
	fx.want("moved", "a", "b", "moving")
}

// With files rejected at start-up, nothing is applied: the set would take
// their certificates out of HAProxy.
func TestStartUpWithARejectedFileHoldsTheSet(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("a"))
	bad := fx.write("b.yaml", "certificates: [")
	if ps := problems(t, fx.load()); len(ps) != 1 || len(fx.applied) != 0 {
		t.Fatalf("problems %v, %d applied; want one problem and nothing applied", ps, len(fx.applied))
	}
	fx.write("b.yaml", certs("b"))
	fx.mustLoad(bad)
	fx.want("b.yaml fixed", "a", "b")
}

// domains_file beside domains_dir: one set; a missing domains_file is a
// problem of the config's domains_file, and its last good version stays.
func TestDomainsFileBesideTheDirectory(t *testing.T) {
	fx := newFixture(t, "domains.yaml")
	main := fx.write(filepath.Join(fx.dir, "domains.yaml"), certs("m"))
	fx.write("a.yaml", certs("a"))
	fx.mustLoad()
	fx.want("both", "a", "m")
	if err := os.Remove(main); err != nil {
		t.Fatal(err)
	}
	ps := problems(t, fx.load(main))
	if len(ps) != 1 || ps[0].Field != "domains_file" || ps[0].File != fx.cat.opt.Config.File {
		t.Fatalf("problems %v; want one of the config's domains_file", ps)
	}
	fx.want("domains.yaml missing", "a", "m")
	fx.write(filepath.Join(fx.dir, "domains.yaml"), certs("m2"))
	fx.mustLoad(main)
	fx.want("domains.yaml back", "a", "m2")
}

// A missing domains_dir reads as a problem, not as an empty set.
func TestMissingDirectoryKeepsTheSet(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("a"))
	fx.mustLoad()
	if err := os.Rename(fx.cat.dir, fx.cat.dir+".old"); err != nil {
		t.Fatal(err)
	}
	if ps := problems(t, fx.load()); len(ps) != 1 || ps[0].Field != "domains_dir" {
		t.Fatalf("problems %v; want one of domains_dir", ps)
	}
	fx.want("directory gone", "a")
}

// A Kubernetes ConfigMap volume: a.yaml -> ..data/a.yaml, ..data ->
// ..2026_x; an update writes a new ..2026_y and renames a new ..data link
// over the old one.
func TestConfigMapSwap(t *testing.T) {
	fx := newFixture(t, "")
	version := func(dir string, files map[string]string) {
		if err := os.Mkdir(fx.path(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(fx.path(dir), name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(dir, fx.path("..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fx.path("..data_tmp"), fx.path("..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_x", map[string]string{"a.yaml": certs("a"), "b.yaml": certs("b")})
	for _, n := range []string{"a.yaml", "b.yaml"} {
		if err := os.Symlink(filepath.Join("..data", n), fx.path(n)); err != nil {
			t.Fatal(err)
		}
	}
	fx.mustLoad()
	fx.want("first version", "a", "b")
	// b.yaml's content is the same in the new version: its certificates
	// are not applied again; a.yaml's are.
	version("..2026_y", map[string]string{"a.yaml": certs("a", "a2"), "b.yaml": certs("b")})
	fx.mustLoad()
	fx.want("swapped", "a", "a2", "b")
	// A file the new version leaves out dangles until its link goes.
	version("..2026_z", map[string]string{"a.yaml": certs("a")})
	fx.mustLoad()
	fx.want("b.yaml left out", "a")
}

// A set handed to Apply never changes afterwards: its readers hold no lock.
func TestPublishedSetsStayAsTheyWere(t *testing.T) {
	fx := newFixture(t, "")
	for i := range 5 {
		fx.write(fmt.Sprintf("f%d.yaml", i), certs(fmt.Sprintf("c%d", i)))
	}
	fx.mustLoad()
	first := fx.cat.Domains()
	snapshot := slices.Clone(first.Certificates)
	fx.write("f9.yaml", certs("added")) // appended
	fx.mustLoad(fx.path("f9.yaml"))
	if err := os.Remove(fx.path("f1.yaml")); err != nil { // a hole, filled from the end
		t.Fatal(err)
	}
	fx.mustLoad(fx.path("f1.yaml"))
	fx.write("f3.yaml", certs("c3b"))
	fx.mustLoad(fx.path("f3.yaml"))
	if !slices.EqualFunc(first.Certificates, snapshot, sameCertificate) {
		t.Fatalf("the first set changed under its reader: %v, was %v", first.Certificates, snapshot)
	}
	fx.want("after the edits", "added", "c0", "c2", "c3b", "c4")
}
