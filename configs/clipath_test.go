package configs

import (
	"strings"
	"testing"
)

// cert_dir, crt_list and haproxy_map end up as arguments of runtime API
// commands; a space splits the argument, ';' starts another command. The
// runtime refuses such a path at every push, so check must refuse it first.
func TestPathsSentToTheCLIMustBeOneArgument(t *testing.T) {
	for _, tc := range []struct{ field, yaml string }{
		{"haproxy[0].cert_dir", "    cert_dir: /etc/haproxy/my certs\n    crt_list: /etc/haproxy/certs.list\n"},
		{"haproxy[0].crt_list", "    cert_dir: /etc/haproxy/certs\n    crt_list: \"/etc/haproxy/certs.list;show info\"\n"},
		{"haproxy[0].crt_list", "    cert_dir: /etc/haproxy/certs\n    crt_list: \"/etc/haproxy/certs\\\\.list\"\n"},
		{"challenge.haproxy_map", "    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\nchallenge:\n  haproxy_map: \"/etc/haproxy/acme\\tx.map\"\n"},
	} {
		data := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n" + tc.yaml
		_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: ParseConfig = %v, want a problem naming %s", tc.field, err, tc.field)
		}
	}
	good := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\nchallenge:\n  haproxy_map: /etc/haproxy/acme.map\n"
	if _, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(good)); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}
