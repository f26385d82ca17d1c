// Package bundle is hotcert's one vocabulary for what HAProxy loads: a PEM
// bundle of leaf, chain and private key. It names the key types a
// certificate can be issued for, parses the leaf and the key of a bundle,
// and holds the rule by which HAProxy knows each bundle of a certificate.
// configs, issuer, runtime and daemon all speak it, so that a key type or a
// bundle name means the same thing everywhere.
package bundle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeyType is the kind of private key a certificate is issued for, as the
// domains file writes it.
type KeyType string

// The key types hotcert issues.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA2048   KeyType = "rsa2048"
	RSA3072   KeyType = "rsa3072"
	RSA4096   KeyType = "rsa4096"
)

var keyTypes = []KeyType{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096}

// KeyTypes lists every key type hotcert issues.
func KeyTypes() []KeyType { return append([]KeyType(nil), keyTypes...) }

// Known reports whether hotcert issues k.
func (k KeyType) Known() bool {
	switch k {
	case ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096:
		return true
	}
	return false
}

// IsRSA tells RSA key types from ECDSA ones.
func (k KeyType) IsRSA() bool { return strings.HasPrefix(string(k), "rsa") }

// KeyTypeOf names k's type: "ecdsa-p256", "rsa2048", ... An RSA key of
// another size is "rsa<bits>"; a key of no supported kind is "".
func KeyTypeOf(k crypto.Signer) KeyType {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		return KeyType(fmt.Sprintf("rsa%d", pub.N.BitLen()))
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return ECDSAP256
		case elliptic.P384():
			return ECDSAP384
		}
	}
	return ""
}

// Name is the name HAProxy knows the bundle of a certificate's i-th key
// type by (the file <cert_dir>/<name>.pem): the first key type takes the
// certificate's name, further ones (dual certificates) add their type, so
// that adding an RSA fallback never renames the ECDSA bundle.
func Name(cert string, i int, kt KeyType) string {
	if i == 0 {
		return cert
	}
	return cert + "." + string(kt)
}

// Names lists every name a certificate's bundles can have, whatever its
// key types: the certificate's own, and one per key type.
func Names(cert string) []string {
	out := make([]string, 0, 1+len(keyTypes))
	out = append(out, cert)
	for _, kt := range keyTypes {
		out = append(out, cert+"."+string(kt))
	}
	return out
}

// Split is the inverse of Name for a further key type: "shop.rsa2048" is
// shop's rsa2048 bundle.
func Split(name string) (cert string, kt KeyType, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return "", "", false
	}
	kt = KeyType(name[i+1:])
	return name[:i], kt, kt.Known()
}

var (
	// ErrNoCertificate: the PEM data holds no certificate.
	ErrNoCertificate = errors.New("no PEM certificate found")
	// ErrNoKey: the PEM data holds no private key.
	ErrNoKey = errors.New("no PEM private key found")
)

// Leaf parses the first certificate of PEM data.
func Leaf(pemData []byte) (*x509.Certificate, error) {
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoCertificate
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// Key parses the first private key of PEM data: PKCS#8, PKCS#1 or SEC1.
func Key(pemData []byte) (crypto.Signer, error) {
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoKey
		}
		if IsKeyBlock(b) {
			return KeyBlock(b)
		}
	}
}

// IsKeyBlock reports whether a PEM block holds a private key.
func IsKeyBlock(b *pem.Block) bool {
	switch b.Type {
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return true
	}
	return false
}

// KeyBlock parses a private key block.
func KeyBlock(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("parse key: %q is not a private key block", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse key (%s): %w", b.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse key: %T cannot sign", k)
	}
	return s, nil
}
