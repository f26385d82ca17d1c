package store

import (
	"encoding/json"
	"errors"
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
