package importer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const leDirectory = "https://acme-v02.api.letsencrypt.org/directory"

func bySource(t *testing.T, found []Found) map[string]Found {
	t.Helper()
	out := map[string]Found{}
	for _, f := range found {
		out[filepath.Base(f.Source)] = f
	}
	return out
}

func TestCertbotReadsLineages(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	good := ca.valid(t, "ecdsa-p256", "shop.example.com", "www.shop.example.com")
	ca.lineage(t, dir, "shop", good, leDirectory)

	// A copy that lost the archive: live's symlinks point nowhere.
	ca.lineage(t, dir, "dangling", ca.valid(t, "ecdsa-p256", "d.example.com"), leDirectory)
	if err := os.RemoveAll(filepath.Join(dir, "archive", "dangling")); err != nil {
		t.Fatal(err)
	}
	// privkey.pem missing altogether.
	ca.lineage(t, dir, "nokey", ca.valid(t, "ecdsa-p256", "n.example.com"), leDirectory)
	os.Remove(filepath.Join(dir, "live", "nokey", "privkey.pem"))
	// The key of another certificate.
	other := ca.valid(t, "ecdsa-p256", "o.example.com")
	mixed := ca.valid(t, "ecdsa-p256", "m.example.com")
	mixed.keyPEM = other.keyPEM
	ca.lineage(t, dir, "mixed", mixed, leDirectory)
	// A renewal conf whose lineage is gone.
	write(t, filepath.Join(dir, "renewal", "gone.conf"), []byte("[renewalparams]\nserver = "+leDirectory+"\n"))
	write(t, filepath.Join(dir, "live", "README"), []byte("This directory contains your keys and certificates.\n"))

	found, err := Certbot(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := bySource(t, found)
	if len(got) != 5 {
		t.Fatalf("found %d lineages, want 5 (README is not one): %v", len(got), got)
	}
	shop := got["shop"]
	if shop.Err != nil || shop.Name != "shop" || shop.Issuer != leDirectory || !shop.Leaf().Equal(good.cert) || len(shop.Certs) != 2 {
		t.Errorf("shop: %+v", shop)
	}
	if !strings.HasSuffix(string(shop.PEM), string(good.keyPEM)) || !strings.HasPrefix(string(shop.PEM), string(good.certPEM)) {
		t.Errorf("shop's bundle is not leaf, chain, key:\n%s", shop.PEM)
	}
	for name, want := range map[string]string{
		"dangling": filepath.Join(dir, "live", "dangling", "fullchain.pem") + ": a symlink to ../../archive/dangling/fullchain1.pem, which does not exist",
		"nokey":    filepath.Join(dir, "live", "nokey", "privkey.pem") + ": no such file or directory",
		"mixed":    filepath.Join(dir, "live", "mixed", "privkey.pem") + ": its private key does not match its certificate in " + filepath.Join(dir, "live", "mixed", "fullchain.pem"),
		"gone":     filepath.Join(dir, "renewal", "gone.conf") + " names the lineage gone, but",
	} {
		if f := got[name]; f.Err == nil || !strings.Contains(f.Err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, f.Err, want)
		}
	}
	if !errors.Is(got["mixed"].Err, ErrKeyMismatch) {
		t.Errorf("mixed: %v is not ErrKeyMismatch", got["mixed"].Err)
	}
	if _, err := Certbot(t.TempDir()); err == nil {
		t.Error("a directory without live/ is not a certbot directory")
	}
}

func TestPEMDirReadsBundles(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	inOne := ca.valid(t, "ecdsa-p256", "a.example.com")
	write(t, filepath.Join(dir, "a.pem"), ca.bundle(inOne))
	// The key beside it, as ssl-load-extra-files loads it.
	beside := ca.valid(t, "rsa2048", "a.example.com")
	write(t, filepath.Join(dir, "a.rsa2048.pem"), ca.fullchain(beside))
	write(t, filepath.Join(dir, "a.rsa2048.pem.key"), beside.keyPEM)
	delExt := ca.valid(t, "ecdsa-p256", "c.example.com")
	write(t, filepath.Join(dir, "c.crt"), ca.fullchain(delExt))
	write(t, filepath.Join(dir, "c.key"), delExt.keyPEM)
	write(t, filepath.Join(dir, "nokey.pem"), ca.fullchain(ca.valid(t, "ecdsa-p256", "n.example.com")))
	mixed := ca.valid(t, "ecdsa-p256", "m.example.com")
	write(t, filepath.Join(dir, "mixed.pem"), append(ca.fullchain(mixed), inOne.keyPEM...))
	write(t, filepath.Join(dir, "certs.list"), []byte("/etc/haproxy/certs/a.pem\n"))
	write(t, filepath.Join(dir, ".a.pem.tmp1"), []byte("half"))
	if err := os.Symlink("missing.pem", filepath.Join(dir, "dangling.pem")); err != nil {
		t.Fatal(err)
	}

	found, err := PEMDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := bySource(t, found)
	if len(got) != 7 {
		t.Fatalf("found %d files, want 7 (no .key, no dot file): %v", len(got), got)
	}
	for file, l := range map[string]leaf{"a.pem": inOne, "a.rsa2048.pem": beside, "c.crt": delExt} {
		f := got[file]
		if f.Err != nil || !f.Leaf().Equal(l.cert) || !strings.HasSuffix(string(f.PEM), string(l.keyPEM)) {
			t.Errorf("%s: %+v", file, f)
		}
	}
	if got["a.rsa2048.pem"].Name != "a" || got["a.rsa2048.pem"].KeyType() != "rsa2048" {
		t.Errorf("a.rsa2048.pem: name %q, key type %s", got["a.rsa2048.pem"].Name, got["a.rsa2048.pem"].KeyType())
	}
	if got["certs.list"].Skip == "" || got["certs.list"].Err != nil {
		t.Errorf("certs.list: %+v, want skipped", got["certs.list"])
	}
	for file, want := range map[string]string{
		"nokey.pem":    "no PEM private key found (nor in " + filepath.Join(dir, "nokey.pem.key") + " or " + filepath.Join(dir, "nokey.key") + ")",
		"mixed.pem":    "mixed.pem: its private key does not match its certificate",
		"dangling.pem": "dangling.pem: a symlink to missing.pem, which does not exist",
	} {
		if f := got[file]; f.Err == nil || !strings.Contains(f.Err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, f.Err, want)
		}
	}
}
