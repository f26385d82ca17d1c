package configs

import "fmt"

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
	d, err := LoadDomains(c.DomainsFile)
	if err != nil {
		return nil, err
	}
	if err := d.CheckAgainst(c); err != nil {
		return nil, err
	}
	return d, nil
}
