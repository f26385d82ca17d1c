package configs

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hotcert/hotcert/internal/bundle"
)

var certificateName = regexp.MustCompile(`^[a-z0-9_][a-z0-9._-]*$`)

// Validate reports every problem with d at once, as Problems, or nil.
func (d *Domains) Validate() error {
	pos := d.pos
	if pos == nil {
		pos = positions{}
	}
	r := &reporter{file: d.File, pos: pos}
	names := map[string]string{}   // certificate name -> path of the certificate using it
	domains := map[string]string{} // ASCII domain -> path where it was first listed
	for i, c := range d.Certificates {
		path := indexPath("certificates", i)
		c.validate(r, path, domains)
		if c.Name == "" || !validCertificateName(c.Name) {
			continue
		}
		if other, dup := names[c.Name]; dup {
			r.add(path+".name", "%q is already the name of %s%s", c.Name, other, r.at(other))
			continue
		}
		names[c.Name] = path
	}
	checkStoreNames(r, names)
	return r.probs.err()
}

// checkStoreNames refuses a certificate named like another one's extra key
// type: a dual certificate "shop" keeps its RSA half in HAProxy as
// "shop.rsa2048", and hotcert treats any store named so as shop's. A
// certificate of its own under that name would be pushed by one and removed
// by the other, forever.
func checkStoreNames(r *reporter, names map[string]string) {
	for name, path := range names {
		base, kt, ok := bundle.Split(name)
		if !ok {
			continue
		}
		if other, taken := names[base]; taken {
			r.add(path+".name", "%q would share its HAProxy store with the %s key of %q at %s%s; choose another name",
				name, kt, base, other, r.at(other))
		}
	}
}

// at says where path was written, for messages that name a second place.
func (r *reporter) at(path string) string {
	if p := r.pos.of(path); p.line > 0 {
		return fmt.Sprintf(" (line %d)", p.line)
	}
	return ""
}

func (c *Certificate) validate(r *reporter, path string, seen map[string]string) {
	c.validateName(r, path)
	c.validateDomains(r, path, seen)
	c.validateKeyTypes(r, path)
	if c.Challenge != HTTP01 && c.Challenge != DNS01 && c.Challenge != "" {
		r.add(path+".challenge", "%q is not one of %s, %s", c.Challenge, HTTP01, DNS01)
	}
	if c.DNSProvider != "" && c.Challenge != DNS01 {
		r.add(path+".dns_provider", "only with challenge: %s", DNS01)
	}
}

func (c *Certificate) validateName(r *reporter, path string) {
	field := path + ".name"
	switch {
	case c.Name == "":
		// ParseDomains names certificates after their first domain; when it
		// could not, the bad or missing domain is what gets reported.
		if len(c.Domains) > 0 {
			if _, err := ValidDomain(c.Domains[0]); err == nil {
				r.add(field, "required")
			}
		}
	case len(c.Name) > MaxCertificateNameLength:
		r.add(field, "%q is longer than %d characters; set a shorter name", c.Name, MaxCertificateNameLength)
	case !validCertificateName(c.Name):
		r.add(field, "%q must be lower case letters, digits, '.', '_' and '-', starting with a letter, digit or '_', without \"..\"", c.Name)
	}
}

// ValidCertificateName checks a name that becomes a file name and an
// HAProxy store name.
func ValidCertificateName(name string) bool {
	return validCertificateName(name)
}

func validCertificateName(name string) bool {
	return len(name) <= MaxCertificateNameLength && certificateName.MatchString(name) && !strings.Contains(name, "..")
}

func (c *Certificate) validateDomains(r *reporter, path string, seen map[string]string) {
	field := path + ".domains"
	switch {
	case len(c.Domains) == 0:
		r.add(field, "at least one domain is required")
	case len(c.Domains) > MaxDomainsPerCertificate:
		r.add(field, "%d domains; at most %d fit in one certificate", len(c.Domains), MaxDomainsPerCertificate)
	}
	inCert := map[string]string{}
	for i, name := range c.Domains {
		f := indexPath(field, i)
		a, err := ValidDomain(name)
		if err != nil {
			r.add(f, "%v", err)
			continue
		}
		if strings.HasPrefix(a, "*.") && c.Challenge != DNS01 {
			r.add(f, "wildcard %q requires challenge: %s", a, DNS01)
		}
		if other, dup := inCert[a]; dup {
			r.add(f, "%q is listed twice in this certificate, first as %s", a, other)
			continue
		}
		inCert[a] = f
		if other, dup := seen[a]; dup {
			r.add(f, "%q is already in %s%s; a domain may be in only one certificate", a, other, r.at(other))
			continue
		}
		seen[a] = f
	}
}

func (c *Certificate) validateKeyTypes(r *reporter, path string) {
	field := path + ".key_type"
	if len(c.KeyTypes) == 0 {
		r.add(field, "name at least one key type, or leave key_type out for %s", ECDSAP256)
		return
	}
	var ecdsa, rsa int
	for i, k := range c.KeyTypes {
		switch {
		case !k.Known():
			r.add(elemField(r, field, i), "%q is not one of %s, %s, %s, %s, %s", k, ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096)
		case k.IsRSA():
			rsa++
		default:
			ecdsa++
		}
	}
	if ecdsa > 1 || rsa > 1 {
		r.add(field, "at most one ECDSA and one RSA key type")
	}
	if c.KeyFile != "" && len(c.KeyTypes) > 1 {
		r.add(path+".key_file", "only with a single key type; this certificate has %d", len(c.KeyTypes))
	}
}

// elemField names element i of a field that may be written as a scalar or a
// list, so that a problem points at the element when there is one.
func elemField(r *reporter, field string, i int) string {
	if f := indexPath(field, i); r.pos[f] != (position{}) {
		return f
	}
	return field
}
