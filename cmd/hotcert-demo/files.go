package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
)

// clusterLeaseTTL is short for a demo: a node killed while ordering is
// taken over within seconds.
const clusterLeaseTTL = 5 * time.Second

// writeFiles writes a node's hotcert.yaml (with cluster, a cluster:
// section), domains.yaml and CA roots into its directory.
func writeFiles(n *node, ca *testca.CA, challengePort, adminPort int, cluster string) (cfg, domains string, err error) {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return "", "", err
	}
	cfg = filepath.Join(n.dir, "hotcert.yaml")
	domains = filepath.Join(n.dir, "domains.yaml")
	files := map[string]string{
		filepath.Join(n.dir, "pebble-roots.pem"): string(ca.RootsPEM),
		cfg: fmt.Sprintf(`# hotcert demo config: an in-process Pebble CA and a local HAProxy.
acme:
  directory: %s
  email: demo@example.test
  accept_terms: true
  ca_roots: pebble-roots.pem
state_dir: state
domains_file: domains.yaml
challenge:
  http01_listen: %s
  self_check: http://%s      # this node's HAProxy HTTP frontend
admin:
  listen: %s
haproxy:
  - name: %s
    socket: %s
    cert_dir: %s
    crt_list: %s
%s`, ca.DirectoryURL, hostPort(n.addr, challengePort), hostPort(n.h.Addr, n.h.HTTPPort), hostPort(n.addr, adminPort),
			n.name, n.h.Socket, n.h.CertDir, n.h.CrtList, cluster),
		domains: domainsYAML(),
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return "", "", err
		}
	}
	return cfg, domains, nil
}

// clusterSection puts a node in the demo's cluster.
func clusterSection(node, endpoint string) string {
	return fmt.Sprintf(`cluster:
  node: %s
  etcd:
    endpoints: [%s]
    prefix: /hotcert-demo/
  lease_ttl: %s
`, node, endpoint, clusterLeaseTTL)
}

func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

func domainsYAML() string {
	var b strings.Builder
	b.WriteString("# Edit me: hotcert follows this file without a restart.\ncertificates:\n")
	for _, c := range demoCerts {
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s]\n    key_type: %s\n", c.name, strings.Join(c.domains, ", "), c.keyTypes)
	}
	return b.String()
}
