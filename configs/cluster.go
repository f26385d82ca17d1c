package configs

import (
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Cluster joins this hotcert to the others that share an etcd: each node
// serves the certificates of its own domains file, and a certificate that
// several nodes list is ordered once for all of them. Config.Cluster is nil
// when hotcert.yaml has no cluster section; hotcert then runs alone with its
// state in state_dir.
type Cluster struct {
	Node     string   `yaml:"node"` // unique in the cluster; default: the host name
	Etcd     Etcd     `yaml:"etcd"`
	LeaseTTL Duration `yaml:"lease_ttl"` // how long a dead node's claims stay in force; default 10s

	nodeFromHost bool // Node was left out and is the host name
}

// Etcd is how this node reaches the cluster's etcd. The file paths are
// absolute after ParseConfig, resolved against the config file's directory.
type Etcd struct {
	Endpoints    []string `yaml:"endpoints"`     // required; scheme://host:port each, all http or all https
	Prefix       string   `yaml:"prefix"`        // every key hotcert writes is under it; default "/hotcert/"
	CAFile       string   `yaml:"ca_file"`       // optional PEM bundle to trust for etcd's certificate
	CertFile     string   `yaml:"cert_file"`     // optional client certificate, with KeyFile
	KeyFile      string   `yaml:"key_file"`      // its key
	Username     string   `yaml:"username"`      // optional etcd user, with PasswordFile
	PasswordFile string   `yaml:"password_file"` // the user's password; a trailing newline is not part of it
}

// Cluster defaults, applied by ParseConfig when a cluster section is present.
const (
	DefaultEtcdPrefix = "/hotcert/"
	DefaultLeaseTTL   = Duration(10 * time.Second)
	// MinLeaseTTL is the shortest lease_ttl accepted. etcd grants no lease
	// shorter than 1.5 election timeouts' worth of heartbeats, rounded up to
	// whole seconds (2s with its default 100ms heartbeat and 10-tick
	// election), and silently raises a shorter one to that. The client
	// renews a lease every TTL/3, so a shorter lease would also leave a
	// node's claims one slow keepalive away from expiring.
	MinLeaseTTL = Duration(2 * time.Second)
)

// hostname gives the default cluster.node; tests replace it.
var hostname = os.Hostname

func (c *Cluster) applyDefaults() {
	if c.Node == "" {
		if h, err := hostname(); err == nil {
			c.Node, c.nodeFromHost = h, true
		}
	}
	setDefault(&c.Etcd.Prefix, DefaultEtcdPrefix)
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
}

func (c *Cluster) resolvePaths(dir string) {
	e := &c.Etcd
	for _, p := range []*string{&e.CAFile, &e.CertFile, &e.KeyFile, &e.PasswordFile} {
		*p = resolve(dir, expandCredentials(*p))
	}
}

func (c *Cluster) validate(r *reporter) {
	switch {
	case c.Node == "":
		r.add("cluster.node", "required: the host name could not be read to default it")
	case !haproxyName.MatchString(c.Node) && c.nodeFromHost:
		r.add("cluster.node", "the host name %q may not name a node: use only letters, digits, '.', '_' and '-'; set cluster.node", c.Node)
	case !haproxyName.MatchString(c.Node):
		r.add("cluster.node", "%q may contain only letters, digits, '.', '_' and '-'", c.Node)
	}
	c.Etcd.validate(r)
	switch {
	case c.LeaseTTL < MinLeaseTTL:
		r.add("cluster.lease_ttl", "must be at least %s, etcd's shortest lease, not %s", MinLeaseTTL, c.LeaseTTL)
	case time.Duration(c.LeaseTTL)%time.Second != 0:
		r.add("cluster.lease_ttl", "must be whole seconds, as etcd grants leases, not %s", c.LeaseTTL)
	}
}

func (e *Etcd) validate(r *reporter) {
	if len(e.Endpoints) == 0 {
		r.add("cluster.etcd.endpoints", "at least one etcd endpoint is required, such as https://10.0.0.1:2379")
	}
	schemes := map[string]bool{}
	for i, ep := range e.Endpoints {
		if scheme := checkEndpoint(r, indexPath("cluster.etcd.endpoints", i), ep); scheme != "" {
			schemes[scheme] = true
		}
	}
	if schemes["http"] && schemes["https"] {
		// The etcd client dials every endpoint with the credentials of
		// the first one's scheme.
		r.add("cluster.etcd.endpoints", "mixes http and https; use one scheme for every endpoint")
	}
	switch {
	case !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/"):
		r.add("cluster.etcd.prefix", "must start and end with \"/\", such as /hotcert/, not %q", e.Prefix)
	case strings.IndexFunc(e.Prefix, notToken) >= 0:
		r.add("cluster.etcd.prefix", "%q contains spaces or control characters", e.Prefix)
	}
	switch {
	case e.CertFile != "" && e.KeyFile == "":
		r.add("cluster.etcd.key_file", "required when cluster.etcd.cert_file is set")
	case e.CertFile == "" && e.KeyFile != "":
		r.add("cluster.etcd.cert_file", "required when cluster.etcd.key_file is set")
	}
	switch {
	case e.Username != "" && e.PasswordFile == "":
		r.add("cluster.etcd.password_file", "required when cluster.etcd.username is set")
	case e.Username == "" && e.PasswordFile != "":
		r.add("cluster.etcd.username", "required when cluster.etcd.password_file is set")
	}
	if schemes["http"] && !schemes["https"] {
		// The etcd client drops TLS for http endpoints.
		for _, f := range []struct{ field, path string }{{"ca_file", e.CAFile}, {"cert_file", e.CertFile}, {"key_file", e.KeyFile}} {
			if f.path != "" {
				r.add("cluster.etcd."+f.field, "applies to https endpoints only, and these use http: etcd would be reached without TLS")
			}
		}
	}
}

// checkEndpoint reports what is wrong with one etcd endpoint and returns
// its scheme when it is usable.
func checkEndpoint(r *reporter, field, s string) string {
	u, err := url.Parse(s)
	switch {
	case !strings.Contains(s, "://"):
		r.add(field, "%q needs a scheme, as in https://%s", s, s)
	case err != nil:
		r.add(field, "%q is not a URL such as https://10.0.0.1:2379", s)
	case u.Scheme != "http" && u.Scheme != "https":
		r.add(field, "must be an http or https URL, not %q", s)
	case u.Hostname() == "":
		r.add(field, "%q has no host", s)
	case u.User != nil:
		r.add(field, "%q: put the etcd user in cluster.etcd.username and its password in password_file, not in the URL", u.Redacted())
	case u.Port() == "":
		// gRPC would dial port 443 for both schemes.
		r.add(field, "%q needs a port, such as %s://%s", s, u.Scheme, net.JoinHostPort(u.Hostname(), "2379"))
	case !validPort(u.Port()):
		r.add(field, "%q: the port must be between 1 and 65535", s)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		r.add(field, "must be scheme://host:port alone, without a path or query, not %q", s)
	default:
		return u.Scheme
	}
	return ""
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}
