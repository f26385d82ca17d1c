package runtime

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"

	"github.com/hotcert/hotcert/internal/bundle"
)

// validName accepts only names that cannot change the meaning of a CLI line:
// no separators (space, ';'), no escapes ('\\'), no path components, no
// ':' (del ssl crt-list reads "<path>:<line>").
func validName(name string) error {
	if name == "" || name == "." || strings.Contains(name, "..") {
		return fmt.Errorf("%q: %w", name, ErrInvalidName)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+@=~,", r)
		if !ok {
			return fmt.Errorf("%q: character %q not allowed: %w", name, r, ErrInvalidName)
		}
	}
	return nil
}

// validArg rejects CLI arguments (paths, map keys and values) that would split
// into several arguments or commands.
func validArg(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s: %w", what, ErrInvalidName)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == ';' || r == '\\' {
			return fmt.Errorf("%s %q: character %q not allowed: %w", what, s, r, ErrInvalidName)
		}
	}
	// HAProxy 2.6 starts a payload when a line ends in "<<" and then waits
	// for an empty line that the command never sends.
	if strings.HasSuffix(s, "<<") {
		return fmt.Errorf("%s %q: must not end in \"<<\": %w", what, s, ErrInvalidName)
	}
	return nil
}

// validMapKey is validArg for a map key, which del map reads as an entry
// reference when it starts with '#'.
func validMapKey(key string) error {
	if strings.HasPrefix(key, "#") {
		return fmt.Errorf("map key %q: must not start with '#': %w", key, ErrInvalidName)
	}
	return validArg("map key", key)
}

// sanitised is a PEM: leaf, then chain, then key, no blank lines and
// no '\r' (an empty line would end the CLI payload and run the rest as commands).
type sanitised struct {
	pem    []byte
	serial *big.Int
}

func sanitise(raw []byte) (sanitised, error) {
	raw = bytes.ReplaceAll(raw, []byte("\r"), nil)
	var certs []*x509.Certificate
	var keys []*pem.Block
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			break
		}
		if len(b.Headers) > 0 {
			return sanitised{}, fmt.Errorf("%s block has headers (encrypted?): %w", b.Type, ErrBadBundle)
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return sanitised{}, fmt.Errorf("%w: %w", ErrBadBundle, err)
			}
			certs = append(certs, c)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			keys = append(keys, b)
		}
	}
	if len(certs) == 0 || len(keys) != 1 {
		return sanitised{}, fmt.Errorf("need certificates and exactly one private key, got %d and %d: %w",
			len(certs), len(keys), ErrBadBundle)
	}
	signer, err := parseKey(keys[0])
	if err != nil {
		return sanitised{}, err
	}
	ordered, err := order(certs, signer.Public())
	if err != nil {
		return sanitised{}, err
	}
	var out bytes.Buffer
	for _, c := range ordered {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	_ = pem.Encode(&out, &pem.Block{Type: keys[0].Type, Bytes: keys[0].Bytes})
	return sanitised{pem: out.Bytes(), serial: ordered[0].SerialNumber}, nil
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	k, err := bundle.KeyBlock(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	return k, nil
}

// order puts the certificate matching the key first, because HAProxy takes
// the first certificate as the leaf, then follows issuers for the chain;
// certificates it cannot place keep their order at the end.
func order(certs []*x509.Certificate, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	leaf := -1
	for i, c := range certs {
		if p, ok := c.PublicKey.(equaler); ok && p.Equal(pub) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return nil, ErrKeyMismatch
	}
	rest := append(append([]*x509.Certificate{}, certs[:leaf]...), certs[leaf+1:]...)
	out := []*x509.Certificate{certs[leaf]}
	for cur := certs[leaf]; ; {
		i := issuerOf(cur, rest)
		if i < 0 {
			break
		}
		cur = rest[i]
		out = append(out, cur)
		rest = append(rest[:i], rest[i+1:]...)
	}
	return append(out, rest...), nil
}

func issuerOf(c *x509.Certificate, pool []*x509.Certificate) int {
	if bytes.Equal(c.RawIssuer, c.RawSubject) {
		return -1
	}
	for i, p := range pool {
		if bytes.Equal(p.RawSubject, c.RawIssuer) {
			return i
		}
	}
	return -1
}
