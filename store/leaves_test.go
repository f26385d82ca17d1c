package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

var testKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

// leafPEM is a self-signed certificate with serial, valid from notBefore
// for 90 days.
func leafPEM(t testing.TB, serial int64, notBefore time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour),
		DNSNames: []string{"a.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKey.PublicKey, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newTestFile(t testing.TB) *File {
	t.Helper()
	f, err := NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// slimOne is ListSlim's record of name, which must be the only one, read
// whole (every bundle read and parsed) or not as whole says.
func slimOne(t *testing.T, f *File, name string, whole bool) *Record {
	t.Helper()
	list, inFull, err := f.ListSlim()
	if err != nil || len(list) != 1 || list[0].Name != name {
		t.Fatalf("ListSlim = %v, %v", list, err)
	}
	if want := map[bool]int{true: 1}[whole]; inFull != want {
		t.Fatalf("ListSlim read %d records in full, want %d", inFull, want)
	}
	return list[0]
}

func serialOf(t *testing.T, r *Record, kt string) int64 {
	t.Helper()
	b, ok := r.Bundles[kt]
	if !ok || b.Leaf == nil {
		t.Fatalf("%s has no leaf of %s: %+v", r.Name, kt, r.Bundles)
	}
	if b.PEM != nil {
		t.Fatalf("ListSlim kept the PEM of %s/%s", r.Name, kt)
	}
	return b.Leaf.SerialNumber.Int64()
}

func TestListSlimReadsTheFactsPutWrote(t *testing.T) {
	f := newTestFile(t)
	nb := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := f.Put(&Record{Name: "shop", Domains: []string{"a.test"}, Attempts: 1,
		Bundles: map[string]Bundle{"ecdsa": {KeyType: "ecdsa", PEM: leafPEM(t, 0xbeef, nb)}}}); err != nil {
		t.Fatal(err)
	}
	// The facts are in state.json: ListSlim need not read the bundle.
	raw, _ := os.ReadFile(filepath.Join(f.Dir(), "certs", "shop", "state.json"))
	var st struct {
		Leaves map[string]leafFacts `json:"leaves"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Leaves["ecdsa"].Serial != "beef" {
		t.Fatalf("state.json leaves = %+v, %v:\n%s", st.Leaves, err, raw)
	}
	r := slimOne(t, f, "shop", false)
	if serialOf(t, r, "ecdsa") != 0xbeef || !r.Bundles["ecdsa"].Leaf.NotBefore.Equal(nb) ||
		!r.Bundles["ecdsa"].Leaf.NotAfter.Equal(nb.Add(90*24*time.Hour)) || r.Attempts != 1 {
		t.Fatalf("ListSlim = %+v, leaf %+v", r, r.Bundles["ecdsa"].Leaf)
	}

	// A record without bundles has an empty set of facts, not a missing one.
	if err := f.Put(&Record{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if r := slimOne(t, f, "shop", false); len(r.Bundles) != 0 {
		t.Fatalf("bundles after their removal: %+v", r.Bundles)
	}
}

// A crash between a bundle's write and state.json's leaves facts that no
// longer describe the bundle: ListSlim must see the new bundle, not the
// facts, or the daemon would order a certificate it already has.
func TestListSlimReadsABundleWrittenAfterItsFacts(t *testing.T) {
	f := newTestFile(t)
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := f.Put(&Record{Name: "shop", Bundles: map[string]Bundle{"ecdsa": {KeyType: "ecdsa", PEM: leafPEM(t, 1, nb)}}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.Dir(), "certs", "shop")
	if err := atomicfile.Write(filepath.Join(dir, "ecdsa.pem"), leafPEM(t, 2, nb), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, slimOne(t, f, "shop", true), "ecdsa"); got != 2 {
		t.Fatalf("serial %d after the bundle was replaced, want 2", got)
	}

	// A bundle of a key type state.json does not name yet, written while an
	// order was in flight, is found too.
	if err := f.Put(&Record{Name: "shop", Ordering: true,
		Bundles: map[string]Bundle{"ecdsa": {KeyType: "ecdsa", PEM: leafPEM(t, 3, nb)}}}); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "rsa2048.pem"), leafPEM(t, 4, nb), 0o600); err != nil {
		t.Fatal(err)
	}
	r := slimOne(t, f, "shop", true)
	if serialOf(t, r, "ecdsa") != 3 || serialOf(t, r, "rsa2048") != 4 {
		t.Fatalf("ListSlim while ordering: %+v", r.Bundles)
	}

	// A bundle deleted behind state.json's back is gone from the record.
	if err := f.Put(&Record{Name: "shop", Bundles: map[string]Bundle{
		"ecdsa": {KeyType: "ecdsa", PEM: leafPEM(t, 5, nb)}, "rsa2048": {KeyType: "rsa2048", PEM: leafPEM(t, 6, nb)}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "rsa2048.pem")); err != nil {
		t.Fatal(err)
	}
	if r := slimOne(t, f, "shop", true); len(r.Bundles) != 1 || serialOf(t, r, "ecdsa") != 5 {
		t.Fatalf("ListSlim after a bundle was deleted: %+v", r.Bundles)
	}
}

// state.json from before the facts were kept, and bundles that are not
// certificates, are read in full: the leaf is parsed, or nil.
func TestListSlimWithoutFacts(t *testing.T) {
	f := newTestFile(t)
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	dir := filepath.Join(f.Dir(), "certs", "old")
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"name":"old","domains":["a.test"],"attempts":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ecdsa.pem"), leafPEM(t, 7, nb), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := slimOne(t, f, "old", true); serialOf(t, r, "ecdsa") != 7 || r.Attempts != 2 || r.Format != 1 {
		t.Fatalf("ListSlim of a record without facts: %+v", r)
	}

	if err := f.Put(&Record{Name: "old", Bundles: map[string]Bundle{"ecdsa": {KeyType: "ecdsa", PEM: []byte("not a certificate")}}}); err != nil {
		t.Fatal(err)
	}
	r := slimOne(t, f, "old", true)
	if b, ok := r.Bundles["ecdsa"]; !ok || b.Leaf != nil || b.PEM != nil {
		t.Fatalf("an unreadable bundle: %+v", r.Bundles)
	}

	// A slim copy put back (a Leaf without its PEM) writes no facts: they
	// would describe a bundle that is not what the file holds.
	if err := f.Put(&Record{Name: "old", Bundles: map[string]Bundle{"ecdsa": {KeyType: "ecdsa", Leaf: &Leaf{SerialNumber: big.NewInt(9)}}}}); err != nil {
		t.Fatal(err)
	}
	if b := slimOne(t, f, "old", true).Bundles["ecdsa"]; b.Leaf != nil {
		t.Fatalf("a bundle written empty reads as serial %v", b.Leaf.SerialNumber)
	}
}

// BenchmarkList compares the start-up's read of the store, slim (facts in
// state.json) and in full (every bundle read; the memo then parses each
// leaf), at 10,000 certificates.
//
//	go test -run '^$' -bench 'StoreList' -benchtime 5x ./store/
func BenchmarkStoreList(b *testing.B) {
	const n = 10_000
	f := newTestFile(b)
	pemData := leafPEM(b, 1, time.Now())
	for i := range n {
		if err := f.Put(&Record{Name: fmt.Sprintf("c%05d", i), Domains: []string{"a.test"},
			Bundles: map[string]Bundle{"ecdsa-p256": {KeyType: "ecdsa-p256", PEM: pemData}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("slim", func(b *testing.B) {
		for b.Loop() {
			if l, full, err := f.ListSlim(); err != nil || len(l) != n || full != 0 {
				b.Fatal(len(l), full, err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			l, err := f.List()
			if err != nil || len(l) != n {
				b.Fatal(len(l), err)
			}
			for _, r := range l {
				for _, bu := range r.Bundles {
					if _, err := x509LeafOf(bu.PEM); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}

func x509LeafOf(p []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(p)
	if blk == nil {
		return nil, fmt.Errorf("no PEM")
	}
	return x509.ParseCertificate(blk.Bytes)
}
