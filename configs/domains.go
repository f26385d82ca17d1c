package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotcert/hotcert/internal/bundle"
)

// KeyType is the kind of private key a certificate is issued for; its one
// home is package bundle.
type KeyType = bundle.KeyType

// The key types a domains file may name.
const (
	ECDSAP256 = bundle.ECDSAP256
	ECDSAP384 = bundle.ECDSAP384
	RSA2048   = bundle.RSA2048
	RSA3072   = bundle.RSA3072
	RSA4096   = bundle.RSA4096
)

// Challenge types a certificate may use.
const (
	HTTP01 = "http-01"
	DNS01  = "dns-01"
)

// Limits on certificates.
const (
	MaxDomainsPerCertificate = 100 // Let's Encrypt's limit on names in one order
	MaxCertificateNameLength = 64
)

// Domains is the declarative domains file: the certificates hotcert manages.
type Domains struct {
	File         string
	Certificates []Certificate

	pos positions // where each field was written, for Validate
}

// Certificate is one certificate to obtain and keep loaded.
type Certificate struct {
	Name      string    // defaults to the first domain with a leading "*." turned into "_."
	Domains   []string  // normalised: lower case, IDNA to ASCII (punycode), no trailing dot
	KeyTypes  []KeyType // default [ecdsa-p256]; at most one ECDSA and one RSA type
	KeyFile   string    // optional, resolved against the domains file's dir; only with a single key type
	Challenge string    // "http-01" (default) | "dns-01"
	// DNSProvider names one of the config's dns_providers; "" → the dns section.
	DNSProvider string
}

// rawDomains is the file as written, before names are normalised.
type rawDomains struct {
	Certificates *[]rawCertificate `yaml:"certificates"` // nil: the key is missing
}

type rawCertificate struct {
	Name        string       `yaml:"name"`
	Domains     []string     `yaml:"domains"`
	KeyType     scalarOrList `yaml:"key_type"`
	KeyFile     string       `yaml:"key_file"`
	Challenge   string       `yaml:"challenge"`
	DNSProvider string       `yaml:"dns_provider"`
}

// LoadDomains reads and parses the domains file at path.
func LoadDomains(path string) (*Domains, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load domains: %w", err)
	}
	return ParseDomains(path, data)
}

// Line is the line where certificate i starts in d.File, 0 when unknown;
// for messages that name a certificate of another file.
func (d *Domains) Line(i int) int {
	return d.pos.of(indexPath("certificates", i)).line
}

// ParseDomains decodes data strictly, normalises names, applies defaults,
// resolves key files against the directory of file, and validates the
// result. A file without a certificates key, including an empty file, is an
// error: it is more likely a half-written edit than a wish to remove every
// certificate.
func ParseDomains(file string, data []byte) (*Domains, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("parse domains %s: %w", file, err)
	}
	d := &Domains{File: abs, pos: positions{"": {1, 1}}}
	r := &reporter{file: abs, pos: d.pos}
	root := parseYAML(r, data)
	if len(r.probs) > 0 {
		return nil, r.probs.err()
	}
	var raw rawDomains
	if root != nil {
		if newDecoder(r, data).decodeRoot(root, &raw) {
			return nil, r.probs.err()
		}
	}
	if raw.Certificates == nil {
		if !slices.ContainsFunc(r.probs, func(p Problem) bool { return p.Field == "certificates" }) {
			r.add("certificates", "missing; write `certificates: []` to manage nothing")
		}
		return nil, r.probs.err()
	}
	d.Certificates = make([]Certificate, len(*raw.Certificates))
	for i, rc := range *raw.Certificates {
		d.Certificates[i] = rc.normalise(filepath.Dir(abs))
	}
	if err := merge(r.probs, d.Validate()); err != nil {
		return nil, err
	}
	return d, nil
}

// normalise applies defaults and turns valid names into their ASCII form.
// Invalid names are kept as written, for Validate to report.
func (rc rawCertificate) normalise(dir string) Certificate {
	c := Certificate{Name: rc.Name, KeyFile: resolve(dir, rc.KeyFile), Challenge: rc.Challenge, DNSProvider: rc.DNSProvider}
	c.Domains = make([]string, len(rc.Domains))
	for i, name := range rc.Domains {
		c.Domains[i] = name
		a, err := ValidDomain(name)
		if err != nil {
			continue
		}
		c.Domains[i] = a
		if i == 0 && c.Name == "" {
			c.Name = CertificateName(a)
		}
	}
	if c.Challenge == "" {
		c.Challenge = HTTP01
	}
	switch {
	case rc.KeyType == nil:
		c.KeyTypes = []KeyType{ECDSAP256}
	default:
		c.KeyTypes = make([]KeyType, len(rc.KeyType))
		for i, k := range rc.KeyType {
			c.KeyTypes[i] = KeyType(strings.ToLower(k))
		}
	}
	return c
}
