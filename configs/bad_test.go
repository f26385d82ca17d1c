package configs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// problemStrings loads a bad file and returns its problems with the
// directory prefix removed, so that expectations read like `hotcert check`.
func problemStrings(t *testing.T, err error, dir string) []string {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T (%v), want Problems", err, err)
	}
	abs, _ := filepath.Abs(dir)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.TrimPrefix(p.String(), abs+string(filepath.Separator))
	}
	return out
}

func assertProblems(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadConfigBad(t *testing.T) {
	withHostname(t, "lb9", nil) // cluster.node's default, so that the host does not matter
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"bad_cluster.yaml", []string{
			`9:9: cluster.node: "lb/1" may contain only letters, digits, '.', '_' and '-'`,
			`11:5: cluster.etcd.key_file: required when cluster.etcd.cert_file is set`,
			`11:5: cluster.etcd.username: required when cluster.etcd.password_file is set`,
			`12:7: cluster.etcd.endpoints: mixes http and https; use one scheme for every endpoint`,
			`14:9: cluster.etcd.endpoints[2]: "10.0.0.3:2379" needs a scheme, as in https://10.0.0.3:2379`,
			`15:9: cluster.etcd.endpoints[3]: must be an http or https URL, not "unix:///run/etcd.sock"`,
			`16:9: cluster.etcd.endpoints[4]: "https://10.0.0.4" needs a port, such as https://10.0.0.4:2379`,
			`17:9: cluster.etcd.endpoints[5]: "https://root:xxxxx@10.0.0.5:2379": put the etcd user in cluster.etcd.username and its password in password_file, not in the URL`,
			`18:9: cluster.etcd.endpoints[6]: must be scheme://host:port alone, without a path or query, not "https://10.0.0.6:2379/v3/kv"`,
			`19:9: cluster.etcd.endpoints[7]: "https://10.0.0.7:0": the port must be between 1 and 65535`,
			`20:9: cluster.etcd.endpoints[8]: "https://:2379" has no host`,
			`21:13: cluster.etcd.prefix: must start and end with "/", such as /hotcert/, not "hotcert"`,
			`24:14: cluster.lease_ttl: must be at least 2s, etcd's shortest lease, not 1s`,
		}},
		{"bad_cluster_empty.yaml", []string{
			`8:10: cluster.etcd.endpoints: at least one etcd endpoint is required, such as https://10.0.0.1:2379`,
		}},
		{"bad_cluster_http.yaml", []string{
			`12:13: cluster.etcd.prefix: "/hotcert /" contains spaces or control characters`,
			`13:14: cluster.etcd.ca_file: applies to https endpoints only, and these use http: etcd would be reached without TLS`,
			`14:16: cluster.etcd.cert_file: applies to https endpoints only, and these use http: etcd would be reached without TLS`,
			`15:15: cluster.etcd.key_file: applies to https endpoints only, and these use http: etcd would be reached without TLS`,
			`16:14: cluster.lease_ttl: must be whole seconds, as etcd grants leases, not 2.5s`,
		}},
		{"bad_cluster_types.yaml", []string{
			`9:3: cluster.nodes: unknown key (did you mean "node"?)`,
			`11:5: cluster.etcd.cert_file: required when cluster.etcd.key_file is set`,
			`11:5: cluster.etcd.password_file: required when cluster.etcd.username is set`,
			`11:16: cluster.etcd.endpoints: must be a list, not "https://10.0.0.1:2379"`,
			`15:14: cluster.lease_ttl: must be a duration such as "30s" or "2m", not 10`,
		}},
		{"bad_empty.yaml", []string{
			`1:1: acme.accept_terms: must be true: the CA refuses to register an account without agreeing to its terms of service`,
			`1:1: haproxy: at least one HAProxy instance is required`,
		}},
		{"bad_syntax.yaml", []string{
			`5:1: invalid YAML: found unexpected end of stream`,
		}},
		{"bad_three.yaml", []string{
			`2:14: acme.directory: must use https; http is allowed only for a loopback host, not "acme.example.com"`,
			`3:17: acme.accept_terms: must be true: the CA refuses to register an account without agreeing to its terms of service`,
			`5:5: haproxy[0].crt_list: required`,
		}},
		{"bad_types.yaml", []string{
			`2:17: acme.accept_terms: must be true or false, not "yes please"`,
			`3:16: acme.concurrency: must be a whole number, not "many"`,
			`5:3: haproxy: must be a list, not a mapping`,
			`7:16: dns.nameservers: must be a list, not "127.0.0.1:53"`,
			`8:24: dns.propagation_timeout: must be a duration such as "30s" or "2m", not "soon"`,
		}},
		{"bad_unknown_key.yaml", []string{
			`3:3: acme.emial: unknown key (did you mean "email"?)`,
		}},
		{"bad_values.yaml", []string{
			`3:8: acme.eab.hmac_key: required when acme.eab.key_id is set (or hmac_key_file, a file holding it)`,
			`4:16: acme.concurrency: must be between 1 and 64, not 100`,
			`10:5: haproxy[1].socket: required`,
			`10:11: haproxy[1].name: "lb1" is already the name of haproxy[0]`,
			`14:18: challenge.http01_listen: must be host:port, such as 127.0.0.1:8402, not "8402"`,
			`16:3: dns.tsig_secret_file: required when dns.tsig_key is set`,
			`17:19: dns.tsig_algorithm: "hmac-md5" is not one of hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512`,
			`18:8: dns.ttl: must be positive, not -5`,
			`20:11: admin.listen: must be host:port, such as 127.0.0.1:8402, not "localhost"`,
			`22:18: safety.removal_limit: must be 0 (no limit) or more, not -1`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := LoadConfig(filepath.Join("testdata/config", tc.file))
			if (c == nil) != strings.HasPrefix(tc.file, "bad_syntax") {
				t.Errorf("config is %v; want nil only for a syntax error", c)
			}
			got := problemStrings(t, err, "testdata/config")
			for i := range tc.want {
				tc.want[i] = tc.file + ":" + tc.want[i]
			}
			assertProblems(t, got, tc.want)
		})
	}
}

func TestLoadDomainsBad(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"bad_comment_only.yaml", []string{
			"1:1: certificates: missing; write `certificates: []` to manage nothing",
		}},
		{"bad_domains.yaml", []string{
			`3:9: certificates[0].domains[0]: "a b.example.com": must not contain ' '`,
			`4:9: certificates[0].domains[1]: "192.0.2.1": IP addresses are not supported, only domain names`,
			`5:9: certificates[0].domains[2]: wildcard "*.example.com" requires challenge: dns-01`,
			`6:9: certificates[0].domains[3]: "foo.*.example.com": a wildcard is allowed only as the whole leftmost label, as in *.example.com`,
			`7:9: certificates[0].domains[4]: "-lead.example.com": not a valid internationalised domain name: idna: invalid label "-lead"`,
			`8:9: certificates[0].domains[5]: "path/x.example.com": must not contain '/'`,
			`10:9: certificates[0].domains[7]: "x.example.com" is listed twice in this certificate, first as certificates[0].domains[6]`,
			`11:9: certificates[0].domains[8]: "localhost": must have at least two labels, as in example.com`,
			`12:9: certificates[0].domains[9]: "too..dots.example.com": empty label`,
			`13:9: certificates[0].domains[10]: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": label "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is longer than 63 characters`,
			`15:15: certificates[1].domains[0]: "x.example.com" is already in certificates[0].domains[6] (line 9); a domain may be in only one certificate`,
			`16:11: certificates[2].name: "second" is already the name of certificates[1] (line 14)`,
			`17:14: certificates[2].domains: at least one domain is required`,
		}},
		{"bad_dup_key.yaml", []string{
			`3:5: certificates[0].domains: duplicate key`,
		}},
		{"bad_empty.yaml", []string{
			"1:1: certificates: missing; write `certificates: []` to manage nothing",
		}},
		{"bad_keys.yaml", []string{
			`3:15: certificates[0].key_type: at most one ECDSA and one RSA key type`,
			`4:15: certificates[0].key_file: only with a single key type; this certificate has 3`,
			`6:15: certificates[1].key_type: name at least one key type, or leave key_type out for ecdsa-p256`,
			`7:16: certificates[1].challenge: "tls-alpn-01" is not one of http-01, dns-01`,
			`9:25: certificates[2].key_type[1]: "dsa" is not one of ecdsa-p256, ecdsa-p384, rsa2048, rsa3072, rsa4096`,
			`10:11: certificates[2].name: "..c" must be lower case letters, digits, '.', '_' and '-', starting with a letter, digit or '_', without ".."`,
			`11:5: certificates[2].extra: unknown key`,
		}},
		{"bad_missing.yaml", []string{
			`2:1: other: unknown key`,
			"2:1: certificates: missing; write `certificates: []` to manage nothing",
		}},
		{"bad_store_names.yaml", []string{
			`5:11: certificates[1].name: "shop.rsa2048" would share its HAProxy store with the rsa2048 key of "shop" at certificates[0] (line 2); choose another name`,
			`7:11: certificates[2].name: "api.ecdsa-p384" would share its HAProxy store with the ecdsa-p384 key of "api" at certificates[3] (line 9); choose another name`,
		}},
		{"bad_syntax.yaml", []string{
			`2:1: invalid YAML: did not find expected ',' or ']'`,
		}},
		{"bad_three.yaml", []string{
			`3:33: certificates[0].domains[1]: "bad;name.example.com": must not contain ';'`,
			`4:15: certificates[0].key_type: "rsa1024" is not one of ecdsa-p256, ecdsa-p384, rsa2048, rsa3072, rsa4096`,
			`5:11: certificates[1].name: "Shop!" must be lower case letters, digits, '.', '_' and '-', starting with a letter, digit or '_', without ".."`,
		}},
		{"bad_types.yaml", []string{
			`2:3: certificates: must be a list, not a mapping`,
		}},
		{"bad_types2.yaml", []string{
			`2:14: certificates[0].domains: must be a list, not "a.example.com"`,
			`3:11: certificates[0].name: must be a string, not a list`,
			`4:15: certificates[0].key_type: must be a list, not a mapping`,
			`5:5: certificates[1]: must be a mapping of keys to values, not "just a string"`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := LoadDomains(filepath.Join("testdata/domains", tc.file))
			if d != nil {
				t.Errorf("got domains with problems")
			}
			got := problemStrings(t, err, "testdata/domains")
			for i := range tc.want {
				tc.want[i] = tc.file + ":" + tc.want[i]
			}
			assertProblems(t, got, tc.want)
		})
	}
}
