package configs

import (
	"errors"
	"strings"
	"testing"
)

func TestHAProxyBufSize(t *testing.T) {
	base := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\n"
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(base+"    bufsize: 32768\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HAProxy[0].BufSize != 32768 {
		t.Fatalf("bufsize = %d, want 32768", c.HAProxy[0].BufSize)
	}
	_, err = ParseConfig("/etc/hotcert/hotcert.yaml", []byte(base+"    bufsize: 100\n"))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), ":7:") || !strings.Contains(ps[0].String(), "haproxy[0].bufsize") {
		t.Fatalf("bufsize 100: %v; want one problem on line 7 naming haproxy[0].bufsize", err)
	}
}

// HAProxy knows cert_dir, crt_list and the map by the path in haproxy.cfg,
// so a relative one is a problem, not a guess.
func TestHAProxyPathsMustBeAbsolute(t *testing.T) {
	data := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: admin.sock\n    cert_dir: certs\n    crt_list: certs.list\nchallenge:\n  haproxy_map: acme.map\n"
	_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 3 {
		t.Fatalf("relative HAProxy paths: %v; want three problems", err)
	}
	for i, f := range []string{"haproxy[0].cert_dir", "haproxy[0].crt_list", "challenge.haproxy_map"} {
		if !strings.Contains(ps[i].String(), f+": must be an absolute path, the one haproxy.cfg uses") {
			t.Errorf("problem %d = %q, want one about %s", i, ps[i], f)
		}
	}
}

func TestTCPStatsSocketIsRefused(t *testing.T) {
	for _, sock := range []string{"ipv4@127.0.0.1:9999", "127.0.0.1:9999"} {
		data := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: " + sock + "\n    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\n"
		_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), "haproxy[0].socket") || !strings.Contains(ps[0].String(), "unix stats socket") {
			t.Errorf("socket %s: %v; want one problem naming haproxy[0].socket", sock, err)
		}
	}
}
