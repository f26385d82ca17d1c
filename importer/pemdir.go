package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotcert/hotcert/internal/bundle"
)

// extraFiles are the files HAProxy loads beside a certificate
// (ssl-load-extra-files); they are read with it, not as certificates.
var extraFiles = []string{".key", ".ocsp", ".issuer", ".sctl"}

// PEMDir reads a directory of bundles as HAProxy loads them (crt DIR, or
// the files of a crt-list): one certificate per file, its chain after it
// and its key in the same file or in a .key file beside it (shop.pem.key,
// or shop.key). Dot files and HAProxy's extra files are left alone; a file
// with no certificate in it is reported as skipped. An error is returned
// only when dir cannot be listed.
func PEMDir(dir string) ([]Found, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("PEM directory: %w", err)
	}
	var out []Found
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || slices.Contains(extraFiles, filepath.Ext(name)) {
			continue
		}
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			continue
		}
		out = append(out, pemFile(path))
	}
	return out, nil
}

func pemFile(path string) Found {
	data, err := readFile(path)
	if err != nil {
		return Found{Source: path, Err: err}
	}
	if _, err := bundle.Leaf(data); errors.Is(err, bundle.ErrNoCertificate) {
		return Found{Source: path, Skip: "holds no PEM certificate"}
	}
	keyFile, key := path, data
	if _, err := bundle.Key(data); errors.Is(err, bundle.ErrNoKey) {
		if keyFile, key, err = keyBeside(path); err != nil {
			return Found{Source: path, Err: err}
		}
	}
	f := parse(path, path, data, keyFile, key)
	f.Name = baseName(filepath.Base(path))
	return f
}

// keyBeside finds the key HAProxy would load for a bundle without one:
// shop.pem.key, or with ssl-load-extra-del-ext shop.key.
func keyBeside(path string) (string, []byte, error) {
	ext := filepath.Ext(path)
	tries := []string{path + ".key"}
	if ext == ".pem" || ext == ".crt" {
		tries = append(tries, strings.TrimSuffix(path, ext)+".key")
	}
	for _, p := range tries {
		if b, err := readFile(p); err == nil {
			return p, b, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("%s: %w (nor in %s)", path, bundle.ErrNoKey, strings.Join(tries, " or "))
}

// baseName is a file's name without what HAProxy and hotcert add to a
// certificate's name: .pem or .crt, HAProxy's multi-cert bundle suffixes
// (shop.pem.rsa), and hotcert's key type of a dual certificate
// (shop.rsa2048.pem).
func baseName(file string) string {
	for _, ext := range []string{".rsa", ".ecdsa", ".dsa"} {
		file = strings.TrimSuffix(file, ext)
	}
	file = strings.TrimSuffix(strings.TrimSuffix(file, ".pem"), ".crt")
	if cert, _, ok := bundle.Split(file); ok {
		return cert
	}
	return file
}
