package catalog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/atomicfile"
)

// marker starts the first line of every file the admin API writes; only
// such a file's certificate may be replaced or deleted through the API.
const marker = "# Written by hotcert's admin API"

// filePerm is the mode of the files Put writes: a domains file holds no
// secret.
const filePerm = 0o644

// Spec is one certificate as PUT /v1/certificates/{name} gives it.
type Spec struct {
	Domains     []string
	KeyTypes    []string // empty: the default
	Challenge   string
	DNSProvider string
}

// Put writes <domains_dir>/<name>.yaml (with a first-line marker saying the
// admin API wrote it), validates it exactly as Load would (including
// duplicates across files), applies the new set and reports whether the
// certificate is new. Invalid input: configs.Problems whose Field is the
// body's field ("domains[1]", "key_type", "challenge", "name").
func (c *Catalog) Put(name string, s Spec) (created bool, err error) {
	if c.dir == "" {
		return false, ErrNoDir
	}
	if !configs.ValidCertificateName(name) {
		return false, configs.Problems{{Field: "name", Msg: fmt.Sprintf("%q must be lower case letters, digits, '.', '_' and '-', "+
			"starting with a letter, digit or '_', without \"..\", at most %d characters", name, configs.MaxCertificateNameLength)}}
	}
	path := filepath.Join(c.dir, name+".yaml")
	data := render(name, s)
	d, err := c.opt.Config.ParseDomainsFile(path, data)
	if err != nil {
		return false, asBody(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.owned(name, path); err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	f := c.files[path]
	if f == nil {
		f = &file{path: path}
	}
	if ps := c.conflicts(f, d); len(ps) > 0 {
		return false, asBody(ps)
	}
	_, existed := c.names[name]
	if err := atomicfile.Write(path, data, filePerm); err != nil {
		return false, fmt.Errorf("put %s: %w", name, err)
	}
	c.files[path] = f
	// The watcher reports this write too; with its stat recorded, the
	// load it causes reads nothing.
	if fi, err := os.Stat(path); err == nil {
		f.key = keyOf(fi)
	}
	c.try(f, d, true)
	c.retry()
	return !existed, c.publishPut()
}

// publishPut publishes after Put or Delete, whose own change is accepted:
// the problems of other files are theirs, reported by Load.
func (c *Catalog) publishPut() error {
	_ = c.publish()
	return nil
}

// Delete removes a certificate the admin API wrote, and applies the new set.
func (c *Catalog) Delete(name string) error {
	if c.dir == "" {
		return ErrNoDir
	}
	if !configs.ValidCertificateName(name) {
		return fmt.Errorf("delete %s: %w", name, ErrNotFound)
	}
	path := filepath.Join(c.dir, name+".yaml")
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.owned(name, path); err != nil {
		return err
	}
	if err := atomicfile.Remove(path); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if f := c.files[path]; f != nil {
		c.remove(f)
	}
	c.retry()
	return c.publishPut()
}

// owned says whether the admin API may replace or delete name: it must be
// defined, if anywhere, in path, a file whose first line is the marker.
// ErrNotFound: neither the certificate nor its file exists.
func (c *Catalog) owned(name, path string) error {
	if e, ok := c.names[name]; ok && (e.f.path != path || !e.f.api) {
		return fmt.Errorf("%s: %s:%d: %w", name, e.f.path, e.f.lines[e.i], ErrHandWritten)
	}
	ok, err := hasMarker(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	case !ok:
		return fmt.Errorf("%s: %s:1: %w", name, path, ErrHandWritten)
	}
	return nil
}

// hasMarker reads the first line of path.
func hasMarker(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	return strings.HasPrefix(line, marker), nil
}

// render writes s as a domains file of one certificate. Every value is
// quoted as JSON, which YAML reads as a double-quoted scalar, so that no
// value can change the file's structure.
func render(name string, s Spec) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (PUT /v1/certificates/%s); DELETE removes it.\n", marker, name)
	fmt.Fprintf(&b, "certificates:\n  - name: %s\n    domains: %s\n", quote(name), quote(s.Domains))
	if len(s.KeyTypes) > 0 {
		fmt.Fprintf(&b, "    key_type: %s\n", quote(s.KeyTypes))
	}
	if s.Challenge != "" {
		fmt.Fprintf(&b, "    challenge: %s\n", quote(s.Challenge))
	}
	if s.DNSProvider != "" {
		fmt.Fprintf(&b, "    dns_provider: %s\n", quote(s.DNSProvider))
	}
	return []byte(b.String())
}

func quote(v any) string {
	if l, ok := v.([]string); ok && l == nil {
		v = []string{}
	}
	out, _ := json.Marshal(v) // strings and lists of strings always marshal
	return string(out)
}

// asBody turns the problems of a rendered file into the request body's:
// "certificates[0].domains[1]" is the body's "domains[1]", and the file's
// lines mean nothing to the client.
func asBody(err error) error {
	var ps configs.Problems
	if !errors.As(err, &ps) {
		return err
	}
	out := make(configs.Problems, len(ps))
	for i, p := range ps {
		field := strings.TrimPrefix(strings.TrimPrefix(p.Field, "certificates[0]"), ".")
		out[i] = configs.Problem{Field: field, Msg: p.Msg}
	}
	return out
}
