package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileRoundTripAndModes(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := &Record{Name: "shop", Domains: []string{"a.test", "b.test"}, KeyTypes: []string{"ecdsa-p256", "rsa2048"},
		Bundles:  map[string]Bundle{"ecdsa-p256": {KeyType: "ecdsa-p256", PEM: []byte("E")}, "rsa2048": {KeyType: "rsa2048", PEM: []byte("R")}},
		Attempts: 2, NextAttempt: when, LastError: "boom", Jitter: 0.5}
	if err := f.Put(r); err != nil {
		t.Fatal(err)
	}
	got, err := f.Get("shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 2 || !got.NextAttempt.Equal(when) || got.LastError != "boom" || len(got.Domains) != 2 {
		t.Fatalf("round trip lost state: %+v", got)
	}
	if string(got.Bundles["rsa2048"].PEM) != "R" || string(got.Bundles["ecdsa-p256"].PEM) != "E" {
		t.Fatalf("bundles = %v", got.Bundles)
	}
	st, _ := os.Stat(filepath.Join(dir, "certs", "shop", "rsa2048.pem"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v, want 0600", st.Mode().Perm())
	}
	st, _ = os.Stat(filepath.Join(dir, "certs", "shop"))
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", st.Mode().Perm())
	}

	// Dropping a key type deletes its bundle.
	got.KeyTypes = []string{"ecdsa-p256"}
	delete(got.Bundles, "rsa2048")
	if err := f.Put(got); err != nil {
		t.Fatal(err)
	}
	again, _ := f.Get("shop")
	if _, ok := again.Bundles["rsa2048"]; ok {
		t.Fatal("rsa2048 bundle survived its removal")
	}
	list, err := f.List()
	if err != nil || len(list) != 1 || list[0].Name != "shop" {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := f.Delete("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get("shop"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
}

func TestFileRejectsUnsafeNames(t *testing.T) {
	f, _ := NewFile(t.TempDir())
	for _, n := range []string{"../x", "a/b", "", "a..b", "A"} {
		if err := f.Put(&Record{Name: n}); !errors.Is(err, ErrBadName) {
			t.Errorf("Put(%q) = %v, want ErrBadName", n, err)
		}
	}
}

func TestFileAccount(t *testing.T) {
	f, _ := NewFile(t.TempDir())
	if _, err := f.Account(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store Account() = %v, want ErrNotFound", err)
	}
	if err := f.SaveAccount(&Account{KeyPEM: []byte("K"), URI: "https://ca/acct/1", Directory: "https://ca/dir"}); err != nil {
		t.Fatal(err)
	}
	a, err := f.Account()
	if err != nil || string(a.KeyPEM) != "K" || a.URI != "https://ca/acct/1" {
		t.Fatalf("Account() = %+v, %v", a, err)
	}
}

func TestFileNextAccountKey(t *testing.T) {
	f, _ := NewFile(t.TempDir())
	if _, err := f.NextAccountKey(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NextAccountKey() with none = %v, want ErrNotFound", err)
	}
	if err := f.SaveNextAccountKey([]byte("N")); err != nil {
		t.Fatal(err)
	}
	if k, err := f.NextAccountKey(); err != nil || string(k) != "N" {
		t.Fatalf("NextAccountKey() = %q, %v", k, err)
	}
	if st, err := os.Stat(f.NextAccountKeyPath()); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("next key file: %v, %v; want mode 0600", st, err)
	}
	if err := f.DropNextAccountKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NextAccountKey(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NextAccountKey() after drop = %v, want ErrNotFound", err)
	}
}

// List reads records a few at once and still returns them sorted, and
// reports a record it cannot read.
func TestListReadsInParallelSorted(t *testing.T) {
	dir, f := openTemp(t)
	for i := range 50 {
		if err := f.Put(&Record{Name: fmt.Sprintf("c%02d", 49-i), Bundles: map[string]Bundle{"ecdsa-p256": {PEM: []byte{byte(i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := f.List()
	if err != nil || len(recs) != 50 {
		t.Fatalf("List: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		if r.Name != fmt.Sprintf("c%02d", i) || r.Bundles["ecdsa-p256"].PEM[0] != byte(49-i) {
			t.Fatalf("record %d is %s with %v", i, r.Name, r.Bundles)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "c31", "state.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.List(); err == nil || !strings.Contains(err.Error(), "c31") {
		t.Fatalf("List with a broken record: %v, want an error naming c31", err)
	}
}
