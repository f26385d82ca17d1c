package configs

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Config is the daemon config, hotcert.yaml.
type Config struct {
	File        string `yaml:"-"` // absolute path of the file it was read from
	ACME        ACME   `yaml:"acme"`
	StateDir    string `yaml:"state_dir"`
	DomainsFile string `yaml:"domains_file"` // "" when only DomainsDir is set
	// DomainsDir holds more domains files: every *.yaml in it, read with
	// DomainsFile as one set.
	DomainsDir string    `yaml:"domains_dir"`
	HAProxy    []HAProxy `yaml:"haproxy"`
	Challenge  Challenge `yaml:"challenge"`
	DNS        DNS       `yaml:"dns"`
	// DNSProviders are more DNS providers by name, each shaped like DNS; a
	// certificate picks one with dns_provider in the domains file.
	DNSProviders map[string]DNS `yaml:"dns_providers"`
	Admin        Admin          `yaml:"admin"`
	Safety       Safety         `yaml:"safety"`
	Hooks        Hooks          `yaml:"hooks"`
	Cluster      *Cluster       `yaml:"cluster"` // nil: this hotcert runs alone

	pos positions // where each field was written, for Validate
}

// ACME configures the CA and the account.
type ACME struct {
	// Directory is the CA's directory URL, or a shorthand that ParseConfig
	// expands (see DirectoryShorthands); default Let's Encrypt production;
	// https, or http on loopback only.
	Directory   string `yaml:"directory"`
	Email       string `yaml:"email"`        // optional contact
	AcceptTerms bool   `yaml:"accept_terms"` // must be true: registration refuses without it
	AccountKey  string `yaml:"account_key"`  // optional PEM file; generated and stored when empty
	CARoots     string `yaml:"ca_roots"`     // optional PEM bundle to trust for the ACME server
	EAB         EAB    `yaml:"eab"`
	Profile     string `yaml:"profile"`     // empty: no profile is sent and the CA chooses
	Concurrency int    `yaml:"concurrency"` // parallel orders; default 8, 1..64
}

// EAB is the external account binding some CAs require. Both or neither.
// The key is written inline (hmac_key) or read from a file (hmac_key_file),
// which keeps it out of a config that is world-readable.
type EAB struct {
	KeyID       string `yaml:"key_id"`
	HMACKey     string `yaml:"hmac_key"`
	HMACKeyFile string `yaml:"hmac_key_file"`
}

// HAProxy is one HAProxy instance that hotcert pushes certificates to.
type HAProxy struct {
	Name    string `yaml:"name"`     // required, unique
	Socket  string `yaml:"socket"`   // required; stats socket with level admin
	CertDir string `yaml:"cert_dir"` // required, absolute after resolution
	CrtList string `yaml:"crt_list"` // required, absolute after resolution
	// BufSize is the instance's tune.bufsize: a certificate and its command
	// must fit in one CLI buffer. 0 means HAProxy's default, 16384.
	BufSize int `yaml:"bufsize"`
	// FileMode is the mode of the bundles written to cert_dir, in octal;
	// default 0600. FileGroup is the group given to them and to the
	// crt-list; empty leaves the hotcert user's. An HAProxy that starts
	// unprivileged (the official container image) needs both, e.g. "0640"
	// and "haproxy", to read them after a restart.
	FileMode  string `yaml:"file_mode"`
	FileGroup string `yaml:"file_group"`
	// FileGID is FileGroup's id, found by ParseConfig; 0 when it is empty.
	FileGID int `yaml:"-"`
}

// DefaultFileMode is the mode of bundles when haproxy[].file_mode is empty.
const DefaultFileMode = 0o600

// FilePerm is FileMode as a file mode: DefaultFileMode when it is empty or
// not valid (Validate reports that).
func (h HAProxy) FilePerm() os.FileMode {
	m, err := parseFileMode(h.FileMode)
	if err != nil {
		return DefaultFileMode
	}
	return m
}

// Challenge configures the http-01 responder.
type Challenge struct {
	HTTP01Listen string `yaml:"http01_listen"` // default 127.0.0.1:8402
	HAProxyMap   string `yaml:"haproxy_map"`   // optional: also answer through this HAProxy map
	// SelfCheck is HAProxy's HTTP frontend (http://host:port). When set,
	// every token is fetched through it before the CA is asked to validate.
	SelfCheck string `yaml:"self_check"`
}

// Admin configures the admin HTTP API.
type Admin struct {
	Listen    string `yaml:"listen"`     // default 127.0.0.1:8403
	TokenFile string `yaml:"token_file"` // default <state_dir>/admin.token
}

// Safety guards against edits that would take many certificates out of
// HAProxy at once, such as a domains file emptied by mistake.
type Safety struct {
	// RemovalLimit is how many certificates one change of the domains file
	// may take out of HAProxy; more are held until `hotcert
	// confirm-removals`. 0 means no limit. A pointer so that a written 0
	// differs from a missing key; ParseConfig sets the default.
	RemovalLimit *int `yaml:"removal_limit"`
}

// RemovalLimitOrDefault is safety.removal_limit, DefaultRemovalLimit when
// the config did not go through ParseConfig.
func (s Safety) RemovalLimitOrDefault() int {
	if s.RemovalLimit == nil {
		return DefaultRemovalLimit
	}
	return *s.RemovalLimit
}

// Defaults applied by ParseConfig to fields left empty.
const (
	DefaultDirectory    = "https://acme-v02.api.letsencrypt.org/directory"
	DefaultStateDir     = "/var/lib/hotcert"
	DefaultDomainsFile  = "domains.yaml" // next to the config file
	DefaultConcurrency  = 8
	DefaultHTTP01Listen = "127.0.0.1:8402"
	DefaultAdminListen  = "127.0.0.1:8403"
	DefaultRemovalLimit = 10
)

// LoadConfig reads and parses the daemon config at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes data strictly, applies defaults, resolves relative
// paths against the directory of file, and validates the result. Every
// problem found comes back at once as a Problems error. With problems, the
// config as far as it could be read is returned too, so that `hotcert
// check` can go on to check the domains file it names; it is nil only when
// the file is not YAML at all. Never run with a config that came with an
// error.
func ParseConfig(file string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", file, err)
	}
	c := &Config{File: abs, pos: positions{"": {1, 1}}}
	r := &reporter{file: abs, pos: c.pos}
	root := parseYAML(r, data)
	if len(r.probs) > 0 {
		return nil, r.probs.err()
	}
	if root != nil {
		if newDecoder(r, data).decodeRoot(root, c) {
			return nil, r.probs.err()
		}
	}
	c.applyDefaults()
	c.resolvePaths(filepath.Dir(abs))
	c.lookupGroups(r)
	return c, merge(r.probs, c.Validate())
}

func (c *Config) applyDefaults() {
	setDefault(&c.ACME.Directory, DefaultDirectory)
	c.ACME.Directory = expandDirectory(c.ACME.Directory)
	setDefault(&c.StateDir, DefaultStateDir)
	if c.DomainsDir == "" {
		// With a domains_dir, no domains_file is read unless one is named.
		setDefault(&c.DomainsFile, DefaultDomainsFile)
	}
	setDefault(&c.Challenge.HTTP01Listen, DefaultHTTP01Listen)
	setDefault(&c.Admin.Listen, DefaultAdminListen)
	if c.ACME.Concurrency == 0 {
		c.ACME.Concurrency = DefaultConcurrency
	}
	c.DNS.applyDefaults()
	for name, d := range c.DNSProviders {
		d.applyDefaults()
		c.DNSProviders[name] = d
	}
	if c.Safety.RemovalLimit == nil {
		limit := DefaultRemovalLimit
		c.Safety.RemovalLimit = &limit
	}
	c.Hooks.applyDefaults()
	if c.Cluster != nil {
		c.Cluster.applyDefaults()
	}
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// withDNSPort adds port 53 to a bare host or IP, the way resolv.conf and
// nsupdate accept nameservers.
func withDNSPort(s string) string {
	if s == "" {
		return s
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	if strings.ContainsAny(s, "[]/ ") || (strings.Count(s, ":") == 1 && net.ParseIP(s) == nil) {
		return s // malformed: leave it for Validate to report as written
	}
	return net.JoinHostPort(s, "53")
}

// resolvePaths makes hotcert's own file paths absolute, relative to the
// config file, and fills in the admin token's default, which lives in the
// state dir. cert_dir, crt_list and haproxy_map are left as written: HAProxy
// knows them by the path in haproxy.cfg, so Validate asks for absolute ones
// rather than guessing what a relative one meant.
func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{&c.ACME.EAB.HMACKeyFile, &c.Admin.TokenFile} {
		*p = expandCredentials(*p)
	}
	for _, p := range []*string{
		&c.StateDir, &c.DomainsFile, &c.DomainsDir, &c.ACME.AccountKey, &c.ACME.CARoots,
		&c.ACME.EAB.HMACKeyFile, &c.Admin.TokenFile,
	} {
		*p = resolve(dir, *p)
	}
	c.DNS.resolvePaths(dir)
	for name, d := range c.DNSProviders {
		d.resolvePaths(dir)
		c.DNSProviders[name] = d
	}
	for i := range c.HAProxy {
		h := &c.HAProxy[i]
		if isSocketPath(h.Socket) {
			h.Socket = resolve(dir, h.Socket)
		}
	}
	if c.Cluster != nil {
		c.Cluster.resolvePaths(dir)
	}
	setDefault(&c.Admin.TokenFile, filepath.Join(c.StateDir, "admin.token"))
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || NeedsCredentials(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// isSocketPath tells a unix socket path from the TCP addresses HAProxy's
// stats socket also accepts ("ipv4@127.0.0.1:9999", "127.0.0.1:9999"),
// which must not be joined to a directory.
func isSocketPath(s string) bool {
	if s == "" || strings.Contains(s, "@") {
		return false
	}
	_, _, err := net.SplitHostPort(s)
	return err != nil
}
