package runtime

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

// blocks splits a bundle from ca.leaf into leaf, CA and key PEM blocks.
func blocks(t *testing.T, b []byte) (leaf, ca, key string) {
	var out []string
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(blk)))
	}
	if len(out) != 3 {
		t.Fatalf("want 3 blocks, got %d", len(out))
	}
	return out[0], out[1], out[2]
}

func TestSanitise(t *testing.T) {
	ca := newCA(t)
	bundle, serial := ca.leaf(t, "ecdsa", "shop.test")
	leaf, chain, key := blocks(t, bundle)
	other, _ := ca.leaf(t, "ecdsa", "other.test")
	_, _, otherKey := blocks(t, other)
	crlf := strings.ReplaceAll(key+"\n\n"+chain+"\n"+leaf, "\n", "\r\n")

	ok := map[string]string{
		"leaf chain key": leaf + chain + key,
		"key first":      key + leaf + chain,
		"chain first":    chain + key + leaf,
		"CRLF and blank": crlf,
		"text around":    "subject=foo\n" + leaf + "\n\n" + chain + "junk\n" + key + "\n\n",
	}
	for name, in := range ok {
		t.Run(name, func(t *testing.T) {
			b, err := sanitise([]byte(in))
			must(t, err)
			if b.serial.Cmp(serial) != 0 {
				t.Fatalf("serial %X, want %X", b.serial, serial)
			}
			if want := leaf + chain + key; string(b.pem) != want {
				t.Fatalf("got\n%s\nwant leaf, chain, key:\n%s", b.pem, want)
			}
			if bytes.Contains(b.pem, []byte("\r")) || bytes.Contains(b.pem, []byte("\n\n")) {
				t.Fatal("a CR or blank line survived: it would end the CLI payload early")
			}
		})
	}

	bad := map[string]struct {
		in   string
		want error
	}{
		"wrong key":     {leaf + chain + otherKey, ErrKeyMismatch},
		"no key":        {leaf + chain, ErrBadBundle},
		"two keys":      {leaf + key + otherKey, ErrBadBundle},
		"no cert":       {key, ErrBadBundle},
		"garbage":       {"hello", ErrBadBundle},
		"corrupt cert":  {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + key, ErrBadBundle},
		"encrypted key": {leaf + strings.Replace(key, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1), ErrBadBundle},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := sanitise([]byte(tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("sanitise = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSanitiseOrdersChainByIssuer(t *testing.T) {
	root := newCA(t)
	inter := root.sub(t)
	bundle, _ := inter.leaf(t, "ecdsa", "shop.test")
	leaf, interPEM, key := blocks(t, bundle)
	rootPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.cert.Raw}))
	b, err := sanitise([]byte(rootPEM + key + leaf + interPEM))
	must(t, err)
	if want := leaf + interPEM + rootPEM + key; string(b.pem) != want {
		t.Fatalf("got\n%s\nwant leaf, intermediate, root, key", b.pem)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"shop", "shop.rsa2048", "_.example.com", "www-1.example.com"} {
		if err := validName(n); err != nil {
			t.Errorf("%q rejected: %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "a..b", "a/b", "a;b", "a b", "a\nb", "a\rb", "a\\b", "a:2", "a\x7f", "é"} {
		if err := validName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q accepted", n)
		}
	}
}
