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
)

// Key types, as written in the domains file.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyECDSAP384 = "ecdsa-p384"
	KeyRSA2048   = "rsa2048"
	KeyRSA3072   = "rsa3072"
	KeyRSA4096   = "rsa4096"
)

var (
	// ErrWeakKey: an RSA key shorter than 2048 bits.
	ErrWeakKey = errors.New("key too weak: RSA keys need at least 2048 bits")
	// ErrUnsupportedKey: a key type CAs and HAProxy do not both accept (Ed25519, P-521, ...).
	ErrUnsupportedKey = errors.New("unsupported key: use RSA >= 2048 or ECDSA P-256/P-384")
)

// GenerateKey makes a fresh key of keyType; "" means ecdsa-p256.
func GenerateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "", KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("generate key %q: %w", keyType, ErrUnsupportedKey)
}

// ParseKey reads the first private key in pemBytes: PKCS#8, PKCS#1 or SEC1.
func ParseKey(pemBytes []byte) (crypto.Signer, error) {
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("parse key: no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			k, err := parseDER(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse key (%s): %w", block.Type, err)
			}
			return k, checkKey(k)
		}
	}
}

func parseDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, ErrUnsupportedKey
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC1 private key")
}

func checkKey(k crypto.Signer) error {
	if pub, ok := k.Public().(*rsa.PublicKey); ok && pub.N.BitLen() < 2048 {
		return ErrWeakKey
	}
	if KeyTypeOf(k) == "" {
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

// KeyTypeOf names k's type as the domains file does: "rsa2048", "ecdsa-p256", ... An RSA key
// of another size is "rsa<bits>"; an unsupported key is "".
func KeyTypeOf(k crypto.Signer) string {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", pub.N.BitLen())
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return KeyECDSAP256
		case elliptic.P384():
			return KeyECDSAP384
		}
	}
	return ""
}
