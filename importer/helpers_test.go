package importer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA issues leaves for the tests.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

var serial int64 = 100

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test intermediate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(1000 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf is a certificate for names valid from nb to na, with its key of
// type kt ("ecdsa-p256" or "rsa2048").
type leaf struct {
	cert    *x509.Certificate
	certPEM []byte // the leaf alone
	keyPEM  []byte
}

func (ca *testCA) issue(t *testing.T, kt string, nb, na time.Time, names ...string) leaf {
	t.Helper()
	var key crypto.Signer
	if kt == "rsa2048" {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return leaf{cert: c, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// valid is a leaf valid now for 90 days, issued 10 days ago.
func (ca *testCA) valid(t *testing.T, kt string, names ...string) leaf {
	return ca.issue(t, kt, time.Now().Add(-10*24*time.Hour), time.Now().Add(80*24*time.Hour), names...)
}

func (ca *testCA) fullchain(l leaf) []byte { return append(append([]byte{}, l.certPEM...), ca.pem...) }

// bundle is what HAProxy loads: chain, then key.
func (ca *testCA) bundle(l leaf) []byte { return append(ca.fullchain(l), l.keyPEM...) }

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lineage lays out a certbot lineage as certbot does: archive/NAME/*N.pem,
// live/NAME/* symlinks to them, and renewal/NAME.conf.
func (ca *testCA) lineage(t *testing.T, dir, name string, l leaf, server string) {
	t.Helper()
	files := map[string][]byte{"cert": l.certPEM, "chain": ca.pem, "fullchain": ca.fullchain(l), "privkey": l.keyPEM}
	for base, data := range files {
		write(t, filepath.Join(dir, "archive", name, base+"1.pem"), data)
		link := filepath.Join(dir, "live", name, base+".pem")
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, base+"1.pem"), link); err != nil {
			t.Fatal(err)
		}
	}
	conf := "version = 2.9.0\narchive_dir = /etc/letsencrypt/archive/" + name + "\ncert = /etc/letsencrypt/live/" + name + "/cert.pem\n" +
		"privkey = /etc/letsencrypt/live/" + name + "/privkey.pem\nfullchain = /etc/letsencrypt/live/" + name + "/fullchain.pem\n\n" +
		"# Options used in the renewal process\n[renewalparams]\naccount = 0123456789abcdef\nauthenticator = webroot\nserver = " + server + "\n"
	write(t, filepath.Join(dir, "renewal", name+".conf"), []byte(conf))
}
