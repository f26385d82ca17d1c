package configs

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DNS configures dns-01: where the TXT records are written (the provider)
// and how hotcert checks that they are out.
type DNS struct {
	// Provider is rfc2136 (the default) or exec, hotcert's own kinds, or
	// any other name, which is a provider of lego's DNS library; "lego:NAME"
	// always means lego's provider NAME.
	Provider       string   `yaml:"provider"`
	Server         string   `yaml:"server"` // rfc2136: host:port; ":53" is added when the port is left out
	Zone           string   `yaml:"zone"`
	TSIGKey        string   `yaml:"tsig_key"`       // rfc2136
	TSIGAlgorithm  string   `yaml:"tsig_algorithm"` // rfc2136; default hmac-sha256
	TSIGSecretFile string   `yaml:"tsig_secret_file"`
	TTL            int      `yaml:"ttl"`  // rfc2136; default 60
	Exec           []string `yaml:"exec"` // exec: the command, run as CMD present|cleanup FQDN VALUE
	ExecTimeout    Duration `yaml:"exec_timeout"`
	// Env is given to the provider: the command's environment for exec,
	// lego's variables for lego's providers. Values are secrets: never logged.
	Env                map[string]string `yaml:"env"`
	Resolver           string            `yaml:"resolver"`            // host:port; default: the first nameserver of /etc/resolv.conf
	Nameservers        []string          `yaml:"nameservers"`         // host:port each; ":53" added when left out
	PropagationTimeout Duration          `yaml:"propagation_timeout"` // default 2m
}

// hotcert's own provider kinds; any other provider name is lego's.
const (
	ProviderRFC2136 = "rfc2136"
	ProviderExec    = "exec"
	// LegoPrefix before a name means lego's provider of that name, even
	// rfc2136 or exec.
	LegoPrefix = "lego:"
)

// Defaults of the dns section.
const (
	DefaultTSIGAlgorithm      = "hmac-sha256"
	DefaultDNSTTL             = 60
	DefaultPropagationTimeout = Duration(2 * time.Minute)
	DefaultExecTimeout        = Duration(60 * time.Second)
)

// InUse tells whether this dns section says anything: a default rfc2136
// section without a server is the one left out of hotcert.yaml.
func (d *DNS) InUse() bool {
	return d.Server != "" || (d.Provider != "" && d.Provider != ProviderRFC2136)
}

// Lego is the name of lego's provider d uses, or "" for hotcert's own kinds.
func (d *DNS) Lego() string {
	if name, ok := strings.CutPrefix(d.Provider, LegoPrefix); ok {
		return name
	}
	if d.Provider == ProviderRFC2136 || d.Provider == ProviderExec {
		return ""
	}
	return d.Provider
}

// EnvList is Env as KEY=VALUE, sorted.
func (d *DNS) EnvList() []string {
	out := make([]string, 0, len(d.Env))
	for k, v := range d.Env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (d *DNS) applyDefaults() {
	setDefault(&d.Provider, ProviderRFC2136)
	setDefault(&d.TSIGAlgorithm, DefaultTSIGAlgorithm)
	d.TSIGAlgorithm = strings.TrimSuffix(strings.ToLower(d.TSIGAlgorithm), ".")
	if d.TTL == 0 {
		d.TTL = DefaultDNSTTL
	}
	if d.PropagationTimeout == 0 {
		d.PropagationTimeout = DefaultPropagationTimeout
	}
	if d.ExecTimeout == 0 {
		d.ExecTimeout = DefaultExecTimeout
	}
	d.Server = withDNSPort(d.Server)
	d.Resolver = withDNSPort(d.Resolver)
	for i, ns := range d.Nameservers {
		d.Nameservers[i] = withDNSPort(ns)
	}
}

// resolvePaths resolves the secret file and a command written with a
// directory (./hook.sh) against dir; a bare command name is looked up in
// PATH. _FILE variables in env may name systemd's credentials directory.
func (d *DNS) resolvePaths(dir string) {
	d.TSIGSecretFile = resolve(dir, expandCredentials(d.TSIGSecretFile))
	if len(d.Exec) > 0 && strings.Contains(d.Exec[0], "/") {
		d.Exec[0] = resolve(dir, d.Exec[0])
	}
	for k, v := range d.Env {
		if strings.HasSuffix(k, "_FILE") {
			d.Env[k] = resolve(dir, expandCredentials(v))
		}
	}
}

var (
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

func (c *Config) validateDNS(r *reporter) {
	c.DNS.validate(r, "dns")
	for name, d := range c.DNSProviders {
		path := joinPath("dns_providers", name)
		if !providerName.MatchString(name) {
			r.add(path, "%q: a provider's name is lower case letters, digits, '_' and '-'", name)
		}
		if d.Provider == ProviderRFC2136 && d.Server == "" {
			r.add(path+".server", "required for provider %s", ProviderRFC2136)
		}
		d.validate(r, path)
	}
}

// validate checks the fields that are set: whether dns-01 is used at all
// is known only from the domains file.
func (d *DNS) validate(r *reporter, path string) {
	d.validateProvider(r, path)
	if d.Server != "" {
		checkHostPort(r, path+".server", d.Server)
	}
	if d.Resolver != "" {
		checkHostPort(r, path+".resolver", d.Resolver)
	}
	for i, ns := range d.Nameservers {
		checkHostPort(r, indexPath(path+".nameservers", i), ns)
	}
	if d.Zone != "" {
		if _, err := ValidDomain(strings.TrimSuffix(d.Zone, ".")); err != nil || strings.HasPrefix(d.Zone, "*") {
			r.add(path+".zone", "%q is not a DNS zone name", d.Zone)
		}
	}
	if d.TSIGAlgorithm != "" && !knownTSIG(d.TSIGAlgorithm) {
		r.add(path+".tsig_algorithm", "%q is not one of %s", d.TSIGAlgorithm, strings.Join(TSIGAlgorithms, ", "))
	}
	switch {
	case d.TSIGKey != "" && d.TSIGSecretFile == "":
		r.add(path+".tsig_secret_file", "required when %s.tsig_key is set", path)
	case d.TSIGKey == "" && d.TSIGSecretFile != "":
		r.add(path+".tsig_key", "required when %s.tsig_secret_file is set", path)
	}
	if d.TTL < 0 {
		r.add(path+".ttl", "must be positive, not %d", d.TTL)
	}
	if d.PropagationTimeout < 0 {
		r.add(path+".propagation_timeout", "must be positive, not %s", d.PropagationTimeout)
	}
	if d.ExecTimeout < 0 {
		r.add(path+".exec_timeout", "must be positive, not %s", d.ExecTimeout)
	}
	for k := range d.Env {
		if !envName.MatchString(k) {
			r.add(joinPath(path+".env", k), "%q is not an environment variable name", k)
		}
	}
}

// validateProvider refuses the fields that the provider kind ignores, so
// that a setting that does nothing is not mistaken for one that works.
func (d *DNS) validateProvider(r *reporter, path string) {
	rfc := d.Provider == ProviderRFC2136
	if d.Provider == ProviderExec && len(d.Exec) == 0 {
		r.add(path+".exec", "required for provider %s: the command, as a list such as [/usr/local/bin/dns-hook]", ProviderExec)
	}
	if name, ok := strings.CutPrefix(d.Provider, LegoPrefix); ok && !providerName.MatchString(name) {
		r.add(path+".provider", "%q: name one of lego's providers after %q", d.Provider, LegoPrefix)
	}
	for _, f := range []struct {
		key  string
		set  bool
		want bool
		kind string
	}{
		{"server", d.Server != "", rfc, "rfc2136 (set " + path + ".resolver for lookups)"},
		{"tsig_key", d.TSIGKey != "", rfc, "rfc2136"},
		{"tsig_secret_file", d.TSIGSecretFile != "", rfc, "rfc2136"},
		{"exec", len(d.Exec) > 0, d.Provider == ProviderExec, "exec"},
		{"env", len(d.Env) > 0, !rfc, "exec and lego's providers"},
	} {
		if f.set && !f.want {
			r.add(path+"."+f.key, "only for provider %s, not %s", f.kind, d.Provider)
		}
	}
	for i, arg := range d.Exec {
		if arg == "" {
			r.add(indexPath(path+".exec", i), "empty")
		}
	}
	if len(d.Exec) > 0 && d.Exec[0] != "" && strings.Contains(d.Exec[0], "/") && !filepath.IsAbs(d.Exec[0]) {
		r.add(path+".exec", "%q is not an absolute path", d.Exec[0])
	}
}

func knownTSIG(alg string) bool {
	return slices.Contains(TSIGAlgorithms, strings.TrimSuffix(strings.ToLower(alg), "."))
}

// checkDNSProvider reports what certificate i asks of the dns sections
// that they do not provide.
func (c *Config) checkDNSProvider(r *reporter, i int, cert Certificate) {
	path := indexPath("certificates", i)
	if cert.DNSProvider == "" {
		if !c.DNS.InUse() {
			r.add(path+".challenge", "dns-01 needs dns.server, dns.tsig_key and dns.tsig_secret_file in %s, or another dns.provider", c.File)
		}
		return
	}
	if _, ok := c.DNSProviders[cert.DNSProvider]; !ok {
		names := make([]string, 0, len(c.DNSProviders))
		for n := range c.DNSProviders {
			names = append(names, n)
		}
		slices.Sort(names)
		have := "none"
		if len(names) > 0 {
			have = strings.Join(names, ", ")
		}
		r.add(path+".dns_provider", "%q is not in dns_providers of %s (it has: %s)", cert.DNSProvider, c.File, have)
	}
}
