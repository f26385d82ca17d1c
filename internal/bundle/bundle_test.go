package bundle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"
)

func TestNamesAndSplit(t *testing.T) {
	for _, tc := range []struct {
		cert string
		i    int
		kt   KeyType
		want string
	}{
		{"shop", 0, ECDSAP256, "shop"},
		{"shop", 0, RSA2048, "shop"},
		{"shop", 1, RSA2048, "shop.rsa2048"},
		{"_.example.com", 1, ECDSAP384, "_.example.com.ecdsa-p384"},
	} {
		got := Name(tc.cert, tc.i, tc.kt)
		if got != tc.want {
			t.Errorf("Name(%q, %d, %s) = %q, want %q", tc.cert, tc.i, tc.kt, got, tc.want)
		}
		if !slices.Contains(Names(tc.cert), got) {
			t.Errorf("Names(%q) lacks %q", tc.cert, got)
		}
		if tc.i > 0 {
			if c, kt, ok := Split(got); !ok || c != tc.cert || kt != tc.kt {
				t.Errorf("Split(%q) = %q, %q, %v", got, c, kt, ok)
			}
		}
	}
	for _, n := range []string{"shop", "shop.v2", "shop.example.com", ".rsa2048"} {
		if c, kt, ok := Split(n); ok {
			t.Errorf("Split(%q) = %q, %q: not an extra key type's name", n, c, kt)
		}
	}
}

func TestLeafAndKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "a.test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})...)
	leaf, err := Leaf(data)
	if err != nil || leaf.SerialNumber.Int64() != 42 {
		t.Fatalf("Leaf = %v, %v", leaf, err)
	}
	k, err := Key(data)
	if err != nil || !k.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) || KeyTypeOf(k) != ECDSAP256 {
		t.Fatalf("Key = %v, %v", k, err)
	}
	if _, err := Leaf([]byte("junk")); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("Leaf(junk) = %v", err)
	}
	if _, err := Key(data[:len(data)/3]); !errors.Is(err, ErrNoKey) {
		t.Errorf("Key(no key) = %v", err)
	}
}
