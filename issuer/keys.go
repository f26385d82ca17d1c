package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/hotcert/hotcert/internal/bundle"
)

var (
	// ErrWeakKey: an RSA key shorter than 2048 bits.
	ErrWeakKey = errors.New("key too weak: RSA keys need at least 2048 bits")
	// ErrUnsupportedKey: a key type CAs and HAProxy do not both accept (Ed25519, P-521, ...).
	ErrUnsupportedKey = errors.New("unsupported key: use RSA >= 2048 or ECDSA P-256/P-384")
)

// GenerateKey makes a fresh key of keyType; "" means ecdsa-p256.
func GenerateKey(keyType bundle.KeyType) (crypto.Signer, error) {
	switch keyType {
	case "", bundle.ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case bundle.ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case bundle.RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case bundle.RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case bundle.RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("generate key %q: %w", keyType, ErrUnsupportedKey)
}

// ParseKey reads the first private key in pemBytes (PKCS#8, PKCS#1 or
// SEC1) and checks that CAs and HAProxy both accept it.
func ParseKey(pemBytes []byte) (crypto.Signer, error) {
	k, err := bundle.Key(pemBytes)
	if err != nil {
		return nil, err
	}
	return k, checkKey(k)
}

func checkKey(k crypto.Signer) error {
	if pub, ok := k.Public().(*rsa.PublicKey); ok && pub.N.BitLen() < 2048 {
		return ErrWeakKey
	}
	if bundle.KeyTypeOf(k) == "" {
		return ErrUnsupportedKey
	}
	return nil
}

// MarshalKey encodes k as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
