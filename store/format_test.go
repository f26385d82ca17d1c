package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeState(t *testing.T, dir, name, state string) {
	t.Helper()
	d := filepath.Join(dir, "certs", name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A record written before formats were numbered loads as format 1, and Put
// writes the format it knows.
func TestRecordWithoutFormatLoadsAsOne(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeState(t, dir, "shop", `{"name":"shop","domains":["a.test"],"key_types":["ecdsa-p256"],"jitter":0.5}`)
	r, err := f.Get("shop")
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != 1 || r.Domains[0] != "a.test" {
		t.Fatalf("loaded %+v, want format 1", r)
	}
	if err := f.Put(&Record{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "certs", "new", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["format"] != float64(Format) {
		t.Fatalf("state.json %s: format %v, want %d", b, raw["format"], Format)
	}
}

// A record from a later hotcert is refused, by Get and by List, so that a
// downgraded binary neither reads it wrongly nor writes it back without the
// fields it does not know.
func TestRecordOfLaterFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := `{"format":2,"name":"shop","domains":["a.test"],"key_types":["ecdsa-p256"],"jitter":0.5,"future":true}`
	writeState(t, dir, "shop", state)
	_, err = f.Get("shop")
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 2, this hotcert reads up to 1") {
		t.Fatalf("Get: %v, want ErrFormat naming both formats", err)
	}
	if _, err := f.List(); !errors.Is(err, ErrFormat) {
		t.Fatalf("List: %v, want ErrFormat", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "certs", "shop", "state.json"))
	if string(b) != state {
		t.Fatalf("the refused record was changed: %s", b)
	}
}

// Start-up's check reads the format file alone once there is one: a
// directory from before it existed is scanned once and then gets it.
func TestCheckFormatReadsTheFormatFile(t *testing.T) {
	dir, f := openTemp(t)
	writeState(t, dir, "old", `{"name":"old","domains":["a.test"],"key_types":["ecdsa-p256"],"jitter":0.5}`)
	if err := f.CheckFormat(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "format")); err != nil || string(b) != "1\n" {
		t.Fatalf("format file %q, %v; want 1", b, err)
	}
	// A record the check would refuse, were it read, shows that it is not.
	writeState(t, dir, "unread", `{"format":2,"name":"unread"}`)
	if err := (&File{dir: dir}).CheckFormat(); err != nil {
		t.Fatalf("CheckFormat with a format file read a record: %v", err)
	}
}

// A format file of a later hotcert refuses the start and every write: a
// downgraded hotcert must not write its format over the later one.
func TestLaterFormatFileIsRefused(t *testing.T) {
	dir, f := openTemp(t)
	if err := os.WriteFile(filepath.Join(dir, "format"), []byte("2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.CheckFormat(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 2, this hotcert reads up to 1") {
		t.Fatalf("CheckFormat: %v, want ErrFormat naming both formats", err)
	}
	if err := f.Put(&Record{Name: "shop"}); !errors.Is(err, ErrFormat) {
		t.Fatalf("Put: %v, want ErrFormat", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "format")); string(b) != "2\n" {
		t.Fatalf("format file became %q", b)
	}
}

// Without a format file, a record of a later format refuses the start, and
// no format file is written.
func TestCheckFormatWithoutFileReadsEveryRecord(t *testing.T) {
	dir, f := openTemp(t)
	for i := range 30 {
		writeState(t, dir, fmt.Sprintf("c%02d", i), `{"name":"x","jitter":0.5}`)
	}
	writeState(t, dir, "c17", `{"format":3,"name":"c17"}`)
	if err := f.CheckFormat(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "c17") {
		t.Fatalf("CheckFormat: %v, want ErrFormat naming c17", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "format")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a format file was written after a refusal: %v", err)
	}
}

func openTemp(t *testing.T) (string, *File) {
	t.Helper()
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, f
}
