package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// CheckAgainst reports what the domains file asks of the daemon config that
// the config does not provide: a dns-01 certificate needs the dns section,
// or the provider it names in dns_providers.
// Daemon and check both apply it, so a file that cannot work is rejected as
// a whole, like any other bad file, instead of failing at the CA later.
func (d *Domains) CheckAgainst(c *Config) error {
	pos := d.pos
	if pos == nil {
		pos = positions{}
	}
	r := &reporter{file: d.File, pos: pos}
	for i, cert := range d.Certificates {
		if cert.Challenge == DNS01 {
			c.checkDNSProvider(r, i, cert)
		}
	}
	return r.probs.err()
}

// LoadDomains reads the domains file that c names and checks it against c,
// as the daemon and `hotcert check` both do. Without a domains_file (only a
// domains_dir, which package catalog reads) it is an empty set.
func (c *Config) LoadDomains() (*Domains, error) {
	if c.DomainsFile == "" {
		return &Domains{Certificates: []Certificate{}, pos: positions{}}, nil
	}
	data, err := os.ReadFile(c.DomainsFile)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// The file the config names cannot be read: that is a problem of
		// the config's domains_file, and is reported where it is written.
		r := &reporter{file: c.File, pos: c.positions()}
		r.add("domains_file", "%v", pe)
		return nil, r.probs.err()
	}
	if err != nil {
		return nil, fmt.Errorf("load domains: %w", err)
	}
	return c.CheckDomains("", data)
}

// CheckDomains parses data as the domains file c names and checks it
// against c, exactly as LoadDomains does with the file on disk, for a
// candidate that `hotcert plan` was given. Paths in it resolve as if it
// were at c.DomainsFile already, where it is meant to go; its problems name
// label, the file the operator edits, unless label is empty.
func (c *Config) CheckDomains(label string, data []byte) (*Domains, error) {
	target := c.DomainsFile
	if target == "" {
		// Only a domains_dir: the candidate is one more file in it.
		target = filepath.Join(c.DomainsDir, "candidate.yaml")
	}
	d, err := c.ParseDomainsFile(target, data)
	if err == nil {
		return d, nil
	}
	var ps Problems
	if label != "" && errors.As(err, &ps) {
		out := make(Problems, len(ps))
		for i, p := range ps {
			p.File = label
			out[i] = p
		}
		return nil, out
	}
	return nil, err
}

// ParseDomainsFile parses data as the domains file at path, one of the
// domains_dir's or the domains_file, and checks it against c.
func (c *Config) ParseDomainsFile(path string, data []byte) (*Domains, error) {
	d, err := ParseDomains(path, data)
	if err == nil {
		err = d.CheckAgainst(c)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (c *Config) positions() positions {
	if c.pos == nil {
		return positions{}
	}
	return c.pos
}

// Warnings are what is allowed but probably not meant, as Problems whose
// message starts with "warning: ". check prints them and still passes; run
// logs them.
func (c *Config) Warnings() Problems {
	r := &reporter{file: c.File, pos: c.positions()}
	if host, _, err := net.SplitHostPort(c.Admin.Listen); err == nil && !isLoopback(host) {
		r.add("admin.listen", "warning: %s is not a loopback address: the admin API is plain HTTP, so its bearer token "+
			"crosses the network in clear text; listen on 127.0.0.1, or put a TLS proxy in front", c.Admin.Listen)
	}
	c.Hooks.warnings(r)
	return r.probs
}
