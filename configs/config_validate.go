package configs

import (
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// TSIGAlgorithms are the TSIG algorithms dns.tsig_algorithm accepts.
var TSIGAlgorithms = []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}

var haproxyName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// Validate reports every problem with c at once, as Problems, or nil.
func (c *Config) Validate() error {
	pos := c.pos
	if pos == nil {
		pos = positions{}
	}
	r := &reporter{file: c.File, pos: pos}
	c.ACME.validate(r)
	c.validateHAProxies(r)
	checkHostPort(r, "challenge.http01_listen", c.Challenge.HTTP01Listen)
	if c.Challenge.HAProxyMap != "" {
		checkAbsPath(r, "challenge.haproxy_map", c.Challenge.HAProxyMap)
	}
	if c.Challenge.SelfCheck != "" {
		checkSelfCheck(r, "challenge.self_check", c.Challenge.SelfCheck)
	}
	checkHostPort(r, "admin.listen", c.Admin.Listen)
	if c.DomainsDir != "" {
		checkDir(r, "domains_dir", c.DomainsDir)
	}
	c.validateDNS(r)
	if l := c.Safety.RemovalLimit; l != nil && *l < 0 {
		r.add("safety.removal_limit", "must be 0 (no limit) or more, not %d", *l)
	}
	c.Hooks.validate(r)
	if c.Cluster != nil {
		c.Cluster.validate(r)
	}
	return r.probs.err()
}

func (a *ACME) validate(r *reporter) {
	checkDirectory(r, "acme.directory", a.Directory)
	a.checkEAB(r)
	if !a.AcceptTerms {
		r.add("acme.accept_terms", "must be true: the CA refuses to register an account without agreeing to its terms of service")
	}
	if a.Email != "" && !plausibleEmail(a.Email) {
		r.add("acme.email", "%q is not an email address", a.Email)
	}
	if a.Concurrency < 1 || a.Concurrency > 64 {
		r.add("acme.concurrency", "must be between 1 and 64, not %d", a.Concurrency)
	}
	if strings.IndexFunc(a.Profile, notToken) >= 0 {
		r.add("acme.profile", "%q contains spaces or control characters", a.Profile)
	}
	a.EAB.validate(r)
}

func (e *EAB) validate(r *reporter) {
	switch {
	case e.HMACKey != "" && e.HMACKeyFile != "":
		r.add("acme.eab.hmac_key_file", "set acme.eab.hmac_key or hmac_key_file, not both")
	case e.KeyID != "" && e.HMACKey == "" && e.HMACKeyFile == "":
		r.add("acme.eab.hmac_key", "required when acme.eab.key_id is set (or hmac_key_file, a file holding it)")
	case e.KeyID == "" && e.HMACKey != "":
		r.add("acme.eab.key_id", "required when acme.eab.hmac_key is set")
	case e.KeyID == "" && e.HMACKeyFile != "":
		r.add("acme.eab.key_id", "required when acme.eab.hmac_key_file is set")
	case e.HMACKey != "" && !IsBase64URL(e.HMACKey):
		r.add("acme.eab.hmac_key", "must be base64url, as the CA shows it")
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") &&
		!strings.Contains(domain, "@") && strings.IndexFunc(s, notToken) < 0 && !strings.ContainsAny(s, ",;<>")
}

func notToken(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// IsBase64URL tells whether s is base64url, with or without padding, as CAs
// show EAB keys.
func IsBase64URL(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	return err == nil
}

func (c *Config) validateHAProxies(r *reporter) {
	if len(c.HAProxy) == 0 {
		r.add("haproxy", "at least one HAProxy instance is required")
	}
	firstByName, firstBySocket := map[string]int{}, map[string]int{}
	for i, h := range c.HAProxy {
		path := indexPath("haproxy", i)
		switch j, dup := firstByName[h.Name]; {
		case h.Name == "":
			r.add(path+".name", "required")
		case !haproxyName.MatchString(h.Name):
			r.add(path+".name", "%q may contain only letters, digits, '.', '_' and '-'", h.Name)
		case dup:
			r.add(path+".name", "%q is already the name of haproxy[%d]", h.Name, j)
		default:
			firstByName[h.Name] = i
		}
		switch j, dup := firstBySocket[h.Socket]; {
		case h.Socket == "":
			r.add(path+".socket", "required")
		case !isSocketPath(h.Socket):
			// The runtime client dials unix sockets only; a TCP stats socket
			// would pass check and then fail every command.
			r.add(path+".socket", "%q is a TCP address; hotcert talks to the unix stats socket of a local HAProxy "+
				"(for a remote one, run hotcert beside it, or forward its socket over SSH)", h.Socket)
		case dup:
			// HAProxy 2.6 has one certificate transaction per process: two
			// writers abort or update each other's.
			r.add(path+".socket", "%q is already the socket of haproxy[%d]; list each HAProxy once", h.Socket, j)
		default:
			firstBySocket[h.Socket] = i
		}
		checkAbsPath(r, path+".cert_dir", h.CertDir)
		checkAbsPath(r, path+".crt_list", h.CrtList)
		if h.BufSize != 0 && (h.BufSize < 1024 || h.BufSize > 1<<20) {
			r.add(path+".bufsize", "must be HAProxy's tune.bufsize, between 1024 and 1048576, not %d", h.BufSize)
		}
		if h.FileMode != "" {
			checkFileMode(r, path+".file_mode", h.FileMode)
		}
	}
	c.checkSharedPaths(r)
}

// checkSharedPaths accepts two HAProxy that share both cert_dir and crt_list,
// or neither. Sharing a crt_list only, each HAProxy loads the other's PEMs at
// restart and keeps serving them after hotcert renews or removes its own;
// sharing a cert_dir only, a removal while one HAProxy is down deletes a PEM
// that its crt-list still names, and it then fails to start.
func (c *Config) checkSharedPaths(r *reporter) {
	for j, b := range c.HAProxy {
		for i, a := range c.HAProxy[:j] {
			dir := a.CertDir != "" && filepath.Clean(a.CertDir) == filepath.Clean(b.CertDir)
			list := a.CrtList != "" && filepath.Clean(a.CrtList) == filepath.Clean(b.CrtList)
			switch {
			case dir && !list:
				r.add(indexPath("haproxy", j)+".cert_dir", "%q is also the cert_dir of haproxy[%d] but the crt_list differs; "+
					"HAProxy instances must share both or neither: removing a certificate while one is down would delete a PEM its crt-list still names", b.CertDir, i)
			case list && !dir:
				r.add(indexPath("haproxy", j)+".crt_list", "%q is also the crt_list of haproxy[%d] but the cert_dir differs; "+
					"HAProxy instances must share both or neither: each would load the other's certificates at restart and keep serving them after renewal or removal", b.CrtList, i)
			default:
				continue
			}
			break
		}
	}
}

func checkAbsPath(r *reporter, field, p string) {
	switch {
	case p == "":
		r.add(field, "required")
	case !filepath.IsAbs(p):
		r.add(field, "must be an absolute path, the one haproxy.cfg uses, not %q", p)
	default:
		checkCLIArg(r, field, p)
	}
}

// checkCLIArg refuses what would split a runtime API argument: HAProxy
// splits on spaces, runs what follows ';' as another command and reads '\'
// as an escape. The runtime refuses such paths at every push; say so here.
func checkCLIArg(r *reporter, field, p string) {
	if i := strings.IndexFunc(p, func(c rune) bool { return c <= ' ' || c == 0x7f || c == ';' || c == '\\' }); i >= 0 {
		r.add(field, "%q: HAProxy's runtime API cannot take a path with %q in it", p, []rune(p[i:])[0])
	}
}

// checkDir asks for an existing directory: a domains_dir that is missing
// would read as one that manages nothing.
func checkDir(r *reporter, field, dir string) {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		r.add(field, "%v", err)
	case !fi.IsDir():
		r.add(field, "%s is not a directory", dir)
	}
}

func checkHostPort(r *reporter, field, s string) {
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		r.add(field, "must be host:port, such as 127.0.0.1:8402, not %q", s)
	}
}
