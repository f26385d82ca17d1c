package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/store"
)

// The daemon's config error follows the catalog's problems, whichever way
// the set changes: a load, a Put beside a rejected file, a bad file
// deleted. Each change of the problems is logged once.
func TestDomainsLoaderReportsProblems(t *testing.T) {
	dir := t.TempDir()
	dd := filepath.Join(dir, "domains.d")
	if err := os.Mkdir(dd, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.NewFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(daemon.Options{Store: st})
	var logs bytes.Buffer
	l := newDomainsLoader(&configs.Config{File: filepath.Join(dir, "hotcert.yaml"), DomainsDir: dd}, d, slog.New(slog.NewTextHandler(&logs, nil)))
	write := func(name, content string) string {
		p := filepath.Join(dd, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.yaml", "certificates:\n  - domains: [a.example.com]\n")
	l.load(nil)
	if d.ConfigErr() != nil {
		t.Fatalf("ConfigErr = %v with good files", d.ConfigErr())
	}
	bad := write("b.yaml", "certificates: [")
	l.load([]string{bad})
	l.load([]string{bad})
	if d.ConfigErr() == nil || strings.Count(logs.String(), "domains file rejected") != 1 {
		t.Fatalf("ConfigErr = %v; logs:\n%s\nwant the error, logged once", d.ConfigErr(), logs.String())
	}
	if _, err := l.cat.Put("shop", catalog.Spec{Domains: []string{"shop.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if d.ConfigErr() == nil {
		t.Fatal("a Put beside a rejected file cleared the config error")
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	l.load([]string{bad})
	if d.ConfigErr() != nil || !strings.Contains(logs.String(), "domains files valid again") {
		t.Fatalf("ConfigErr = %v after the bad file went; logs:\n%s", d.ConfigErr(), logs.String())
	}
}
