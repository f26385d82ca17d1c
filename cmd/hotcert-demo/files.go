package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotcert/hotcert/internal/lab"
	"github.com/hotcert/hotcert/internal/testca"
)

// writeFiles writes the demo's hotcert.yaml, domains.yaml and CA roots.
func writeFiles(dir string, h *lab.HAProxy, ca *testca.CA, challengePort int) (cfg, domains string, err error) {
	adminPort, err := lab.FreePort()
	if err != nil {
		return "", "", err
	}
	cfg = filepath.Join(dir, "hotcert.yaml")
	domains = filepath.Join(dir, "domains.yaml")
	files := map[string]string{
		filepath.Join(dir, "pebble-roots.pem"): string(ca.RootsPEM),
		cfg: fmt.Sprintf(`# hotcert demo config: an in-process Pebble CA and a local HAProxy.
acme:
  directory: %s
  email: demo@example.test
  accept_terms: true
  ca_roots: pebble-roots.pem
state_dir: state
domains_file: domains.yaml
challenge:
  http01_listen: 127.0.0.1:%d
admin:
  listen: 127.0.0.1:%d
haproxy:
  - name: demo
    socket: %s
    cert_dir: %s
    crt_list: %s
`, ca.DirectoryURL, challengePort, adminPort, h.Socket, h.CertDir, h.CrtList),
		domains: domainsYAML(),
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return "", "", err
		}
	}
	return cfg, domains, nil
}

func domainsYAML() string {
	var b strings.Builder
	b.WriteString("# Edit me: hotcert follows this file without a restart.\ncertificates:\n")
	for _, c := range demoCerts {
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s]\n    key_type: %s\n", c.name, strings.Join(c.domains, ", "), c.keyTypes)
	}
	return b.String()
}
