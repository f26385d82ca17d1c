package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/hotcert/hotcert/internal/bundle"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func TestParseKey(t *testing.T) {
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	sec1521, _ := x509.MarshalECPrivateKey(p521)

	tests := []struct {
		name    string
		pem     []byte
		want    bundle.KeyType
		wantErr error
	}{
		{"pkcs8 rsa2048", pkcs8(t, rsa2048), "rsa2048", nil},
		{"pkcs1 rsa2048", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048)), "rsa2048", nil},
		{"pkcs8 p256", pkcs8(t, p256), "ecdsa-p256", nil},
		{"sec1 p256", pemOf(t, "EC PRIVATE KEY", sec1), "ecdsa-p256", nil},
		{"pkcs8 p384", pkcs8(t, p384), "ecdsa-p384", nil},
		{"key after a certificate block", append(pemOf(t, "CERTIFICATE", []byte{1}), pkcs8(t, p256)...), "ecdsa-p256", nil},
		{"rsa1024 refused", pkcs8(t, rsa1024), "", ErrWeakKey},
		{"pkcs1 rsa1024 refused", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), "", ErrWeakKey},
		{"p521 refused", pkcs8(t, p521), "", ErrUnsupportedKey},
		{"sec1 p521 refused", pemOf(t, "EC PRIVATE KEY", sec1521), "", ErrUnsupportedKey},
		{"ed25519 refused", pkcs8(t, ed), "", ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.pem)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bundle.KeyTypeOf(k); got != tt.want {
				t.Fatalf("KeyTypeOf = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), pemOf(t, "PRIVATE KEY", []byte("junk"))} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func TestGenerateMarshalRoundTrip(t *testing.T) {
	for _, typ := range []bundle.KeyType{"", bundle.ECDSAP256, bundle.ECDSAP384, bundle.RSA2048} {
		k, err := GenerateKey(typ)
		if err != nil {
			t.Fatal(err)
		}
		want := typ
		if want == "" {
			want = bundle.ECDSAP256
		}
		if got := bundle.KeyTypeOf(k); got != want {
			t.Errorf("GenerateKey(%q) made %q", typ, got)
		}
		p, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := pem.Decode(p); b == nil || b.Type != "PRIVATE KEY" {
			t.Fatalf("MarshalKey did not write PKCS#8 PEM: %q", p)
		}
		back, err := ParseKey(p)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("%s: round trip changed the key", want)
		}
	}
	if _, err := GenerateKey("rsa1024"); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("GenerateKey(rsa1024) = %v", err)
	}
}
