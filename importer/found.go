// Package importer adopts certificates that another tool issued (certbot's
// config directory, or PEM bundles as HAProxy loads them) into hotcert's
// state, so that moving to hotcert orders nothing until each is due for
// renewal. Readers turn a directory into Found certificates; New matches
// them against the domains file and the state, and Apply writes the records.
package importer

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/hotcert/hotcert/internal/bundle"
)

// Found is one certificate with its key, as a reader found it.
type Found struct {
	// Source names where it came from in messages: a certbot lineage's
	// live directory, or a PEM file.
	Source string
	// Name is what it was called there (the lineage, the file's base name);
	// it is only a suggestion, since matching goes by domains.
	Name string
	// Issuer is the ACME directory that issued it, when the source says
	// (certbot's renewal conf); empty otherwise.
	Issuer string

	Certs []*x509.Certificate // leaf first, then its chain
	Key   crypto.Signer
	// PEM is the bundle as hotcert stores it: leaf, chain, key.
	PEM []byte

	// Err is set when the certificate could not be read or does not fit
	// its key; nothing else is then set but Source.
	Err error
	// Skip is set for a file that holds no certificate at all.
	Skip string
}

// Leaf is the certificate itself.
func (f Found) Leaf() *x509.Certificate { return f.Certs[0] }

// KeyType is the key's type, which decides the bundle it becomes.
func (f Found) KeyType() bundle.KeyType { return bundle.KeyTypeOf(f.Key) }

// ErrKeyMismatch: the private key is not the certificate's.
var ErrKeyMismatch = errors.New("its private key does not match its certificate")

// parse builds a Found from the PEM data of the chain (leaf first) and of
// the key, which may be the same data. certFile and keyFile name them in
// errors.
func parse(source, certFile string, certPEM []byte, keyFile string, keyPEM []byte) Found {
	f := Found{Source: source}
	var blocks []*pem.Block
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			f.Err = fmt.Errorf("%s: certificate %d: %w", certFile, len(f.Certs)+1, err)
			return f
		}
		f.Certs = append(f.Certs, c)
		blocks = append(blocks, b)
	}
	if len(f.Certs) == 0 {
		f.Err = fmt.Errorf("%s: %w", certFile, bundle.ErrNoCertificate)
		return f
	}
	keyBlock, key, err := findKey(keyPEM)
	if err != nil {
		f.Err = fmt.Errorf("%s: %w", keyFile, err)
		return f
	}
	pub, ok := f.Certs[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		f.Err = fmt.Errorf("%s: %w in %s", keyFile, ErrKeyMismatch, certFile)
		return f
	}
	f.Key = key
	for _, b := range append(blocks, keyBlock) {
		f.PEM = append(f.PEM, pem.EncodeToMemory(b)...)
	}
	return f
}

func findKey(data []byte) (*pem.Block, crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, nil, bundle.ErrNoKey
		}
		if bundle.IsKeyBlock(b) {
			k, err := bundle.KeyBlock(b)
			return b, k, err
		}
	}
}

// readFile reads path, naming a symlink whose target is missing as such:
// certbot's live/ files are symlinks into archive/, and a copied config
// directory often loses one side.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return b, err
	}
	if target, lerr := os.Readlink(path); lerr == nil {
		return nil, fmt.Errorf("%s: a symlink to %s, which does not exist", path, target)
	}
	return nil, err
}
