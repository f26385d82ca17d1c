package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withHostname makes the default cluster.node name, err for the test.
func withHostname(t *testing.T, name string, err error) {
	t.Helper()
	old := hostname
	hostname = func() (string, error) { return name, err }
	t.Cleanup(func() { hostname = old })
}

func TestClusterAbsentMeansAlone(t *testing.T) {
	c, err := LoadConfig("testdata/config/good_minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != nil {
		t.Errorf("no cluster section, but Cluster = %+v", c.Cluster)
	}
	c, err = ParseConfig("/etc/hotcert/hotcert.yaml", []byte(clusterHead+"cluster:\n"))
	if err != nil || c.Cluster != nil {
		t.Errorf("an empty cluster key: %v, %+v; want a config that runs alone", err, c.Cluster)
	}
}

func TestClusterDefaults(t *testing.T) {
	withHostname(t, "lb7", nil)
	c, err := LoadConfig("testdata/config/good_cluster_minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Cluster{Node: "lb7", Etcd: Etcd{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/hotcert/"},
		LeaseTTL: Duration(10 * time.Second), nodeFromHost: true}
	if got := *c.Cluster; !clusterEqual(got, want) {
		t.Errorf("cluster %+v, want %+v", got, want)
	}
}

func TestClusterFull(t *testing.T) {
	c, err := LoadConfig("testdata/config/good_full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata/config")
	want := Cluster{Node: "lb-1.example", LeaseTTL: Duration(15 * time.Second), Etcd: Etcd{
		Endpoints: []string{"https://10.0.0.1:2379", "https://[2001:db8::2]:2379", "https://etcd3.example.com:2379/"},
		Prefix:    "/prod/hotcert/",
		CAFile:    filepath.Join(dir, "etcd/ca.pem"), CertFile: "/etc/hotcert/etcd/client.pem",
		KeyFile: filepath.Join(dir, "etcd/client.key"), Username: "hotcert", PasswordFile: filepath.Join(dir, "etcd/password"),
	}}
	if got := *c.Cluster; !clusterEqual(got, want) {
		t.Errorf("cluster\n got %+v\nwant %+v", got, want)
	}
}

func clusterEqual(a, b Cluster) bool {
	return a.Node == b.Node && a.LeaseTTL == b.LeaseTTL && a.nodeFromHost == b.nodeFromHost &&
		strings.Join(a.Etcd.Endpoints, " ") == strings.Join(b.Etcd.Endpoints, " ") &&
		a.Etcd.Prefix == b.Etcd.Prefix && a.Etcd.CAFile == b.Etcd.CAFile && a.Etcd.CertFile == b.Etcd.CertFile &&
		a.Etcd.KeyFile == b.Etcd.KeyFile && a.Etcd.Username == b.Etcd.Username && a.Etcd.PasswordFile == b.Etcd.PasswordFile
}

const clusterHead = "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n" +
	"    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\n"

// TestClusterValues checks one cluster value at a time; want is the
// problem's field and the start of its message, or "" for none.
func TestClusterValues(t *testing.T) {
	withHostname(t, "lb7", nil)
	for _, tc := range []struct{ cluster, want string }{
		{"{etcd: {endpoints: [https://e1:2379, https://e2:2379]}}", ""},
		{"{etcd: {endpoints: [http://127.0.0.1:2379], prefix: /}}", ""},
		{"{etcd: {endpoints: [https://e:2379], ca_file: ca.pem}}", ""},
		{"{etcd: {endpoints: [https://e:2379], cert_file: c.pem, key_file: c.key}}", ""},
		{"{etcd: {endpoints: [http://e:2379], username: u, password_file: p}}", ""},
		{"{etcd: {endpoints: [https://e:2379]}, lease_ttl: 2s}", ""},
		{"{etcd: {endpoints: [https://e:2379]}, lease_ttl: 1m}", ""},
		{"{etcd: {endpoints: [https://e:2379]}, lease_ttl: 1999ms}", "cluster.lease_ttl: must be at least 2s"},
		{"{etcd: {endpoints: [https://e:2379]}, lease_ttl: 3500ms}", "cluster.lease_ttl: must be whole seconds"},
		{"{etcd: {endpoints: [https://e:2379]}, lease_ttl: -5s}", "cluster.lease_ttl: must be at least 2s"},
		{"{etcd: {endpoints: []}}", "cluster.etcd.endpoints: at least one"},
		{"{etcd: {endpoints: [https://e:2379], prefix: /hotcert}}", `cluster.etcd.prefix: must start and end with "/"`},
		{"{etcd: {endpoints: [https://e:2379], prefix: hotcert/}}", `cluster.etcd.prefix: must start and end with "/"`},
		{"{etcd: {endpoints: [https://e:2379]}, node: \"a b\"}", `cluster.node: "a b" may contain only`},
		{"{etcd: {endpoints: [https://e:2379]}, node: ../x}", `cluster.node: "../x" may contain only`},
		{"{etcd: {endpoints: [\"https://e:2379?x=1\"]}}", "cluster.etcd.endpoints[0]: must be scheme://host:port alone"},
		{"{etcd: {endpoints: [https://e:http]}}", `cluster.etcd.endpoints[0]: "https://e:http" is not a URL`},
		{"{etcd: {endpoints: [https://e:2379], cluster: x}}", `cluster.etcd.cluster: unknown key`},
	} {
		_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(clusterHead+"cluster: "+tc.cluster+"\n"))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want no problem", tc.cluster, err)
			}
			continue
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), ":7:") ||
			!strings.Contains(ps[0].String(), ": "+tc.want) {
			t.Errorf("%s: %v; want one problem on line 7: %s...", tc.cluster, err, tc.want)
		}
	}
}

func TestClusterNodeFromHostname(t *testing.T) {
	data := []byte(clusterHead + "cluster:\n  etcd: {endpoints: [https://e:2379]}\n")
	for _, tc := range []struct {
		host string
		err  error
		want string
	}{
		{"lb2.example.com", nil, ""},
		{"", errors.New("no uts"), "/etc/hotcert/hotcert.yaml:8:3: cluster.node: required: the host name could not be read to default it"},
		{"lb 2", nil, `/etc/hotcert/hotcert.yaml:8:3: cluster.node: the host name "lb 2" may not name a node: use only letters, digits, '.', '_' and '-'; set cluster.node`},
	} {
		withHostname(t, tc.host, tc.err)
		c, err := ParseConfig("/etc/hotcert/hotcert.yaml", data)
		if tc.want == "" {
			if err != nil || c.Cluster.Node != tc.host {
				t.Errorf("host %q: node %q, %v", tc.host, c.Cluster.Node, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("host %q, %v: %v\nwant %s", tc.host, tc.err, err, tc.want)
		}
	}
}

// The example's cluster section is commented out; uncommented, it must be
// a valid config too.
func TestExampleClusterSection(t *testing.T) {
	data, err := os.ReadFile("examples/hotcert.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		in = in || line == "#cluster:"
		if in && strings.HasPrefix(line, "#") {
			line = line[1:]
		}
		out = append(out, line)
	}
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(strings.Join(out, "\n")))
	if err != nil {
		t.Fatalf("the example with its cluster section uncommented: %v", err)
	}
	if c.Cluster == nil || c.Cluster.Node != "lb1" || len(c.Cluster.Etcd.Endpoints) != 3 || c.Cluster.Etcd.Prefix != "/hotcert/" {
		t.Errorf("example cluster read as %+v", c.Cluster)
	}
}
