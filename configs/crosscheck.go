package configs

import (
	"errors"
	"fmt"
	"os"
)

// CheckAgainst reports what the domains file asks of the daemon config that
// the config does not provide: a dns-01 certificate needs the dns section.
// Daemon and check both apply it, so a file that cannot work is rejected as
// a whole, like any other bad file, instead of failing at the CA later.
func (d *Domains) CheckAgainst(c *Config) error {
	pos := d.pos
	if pos == nil {
		pos = positions{}
	}
	r := &reporter{file: d.File, pos: pos}
	for i, cert := range d.Certificates {
		if cert.Challenge == DNS01 && c.DNS.Server == "" {
			r.add(fmt.Sprintf("certificates[%d].challenge", i),
				"dns-01 needs dns.server, dns.tsig_key and dns.tsig_secret_file in %s", c.File)
		}
	}
	return r.probs.err()
}

// LoadDomains reads the domains file that c names and checks it against c,
// as the daemon and `hotcert check` both do.
func (c *Config) LoadDomains() (*Domains, error) {
	data, err := os.ReadFile(c.DomainsFile)
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
	d, err := ParseDomains(c.DomainsFile, data)
	if err == nil {
		err = d.CheckAgainst(c)
	}
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
