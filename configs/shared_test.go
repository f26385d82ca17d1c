package configs

import (
	"errors"
	"strings"
	"testing"
)

// Two HAProxy may share cert_dir and crt_list, or neither. Sharing one only
// breaks on real HAProxy 2.6: with a shared crt_list, each loads the other's
// PEMs at restart and keeps serving them after renewal or removal; with a
// shared cert_dir, a removal while one is down deletes a PEM its crt-list
// still names, and it no longer starts.
func TestHAProxySharePathsBothOrNeither(t *testing.T) {
	entry := func(name, dir, list string) string {
		return "  - name: " + name + "\n    socket: /run/" + name + ".sock\n    cert_dir: " + dir + "\n    crt_list: " + list + "\n"
	}
	head := "acme: {accept_terms: true}\nhaproxy:\n"
	for _, tc := range []struct {
		what, second, want string
	}{
		{"separate", entry("lb2", "/srv/lb2/certs", "/srv/lb2/certs.list"), ""},
		{"both shared", entry("lb2", "/srv/lb1/certs/", "/srv/lb1/certs.list"), ""},
		{"crt_list only", entry("lb2", "/srv/lb2/certs", "/srv/lb1/certs.list"), ":10:15: haproxy[1].crt_list: "},
		{"cert_dir only", entry("lb2", "/srv/lb1/certs", "/srv/lb2/certs.list"), ":9:15: haproxy[1].cert_dir: "},
	} {
		_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(head+entry("lb1", "/srv/lb1/certs", "/srv/lb1/certs.list")+tc.second))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want no problem", tc.what, err)
			}
			continue
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), tc.want) || !strings.Contains(ps[0].String(), "haproxy[0]") {
			t.Errorf("%s: %v; want one problem at %q naming haproxy[0]", tc.what, err, tc.want)
		}
	}
}

// Two entries for one socket are two writers on one HAProxy: 2.6 has one
// certificate transaction per process, and each would abort the other's.
func TestHAProxySocketOnce(t *testing.T) {
	data := "acme: {accept_terms: true}\nhaproxy:\n" +
		"  - name: lb1\n    socket: /run/haproxy/admin.sock\n    cert_dir: /srv/certs\n    crt_list: /srv/certs.list\n" +
		"  - name: lb2\n    socket: /run/haproxy/admin.sock\n    cert_dir: /srv/certs\n    crt_list: /srv/certs.list\n"
	_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), ":8:13: haproxy[1].socket: ") || !strings.Contains(ps[0].String(), "haproxy[0]") {
		t.Fatalf("one socket twice: %v; want one problem at haproxy[1].socket naming haproxy[0]", err)
	}
}
