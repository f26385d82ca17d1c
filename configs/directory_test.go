package configs

import (
	"strings"
	"testing"
)

const minimalHAProxy = `haproxy:
  - name: lb1
    socket: /run/haproxy/admin.sock
    cert_dir: /etc/haproxy/certs
    crt_list: /etc/haproxy/certs.list
`

func TestDirectoryShorthands(t *testing.T) {
	for _, tc := range []struct{ written, want string }{
		{"letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"},
		{"letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
		{"https://ca.example.com/dir", "https://ca.example.com/dir"},
		{"", DefaultDirectory},
	} {
		c, err := ParseConfig("/etc/hotcert/hotcert.yaml",
			[]byte("acme:\n  accept_terms: true\n  directory: \""+tc.written+"\"\n"+minimalHAProxy))
		if err != nil {
			t.Fatalf("%q: %v", tc.written, err)
		}
		if c.ACME.Directory != tc.want {
			t.Errorf("directory %q became %q, want %q", tc.written, c.ACME.Directory, tc.want)
		}
	}
}

func TestDirectoryAndSelfCheckProblems(t *testing.T) {
	for _, tc := range []struct{ acme, challenge, want string }{
		{"directory: zerossl", "", `acme.eab: ZeroSSL registers accounts only with external account binding: set acme.eab.key_id and acme.eab.hmac_key`},
		{"directory: google-staging", "", `acme.eab: Google Trust Services staging registers accounts only with external account binding`},
		{"directory: https://dv.acme-v02.api.pki.goog/directory", "", `acme.eab: Google Trust Services registers accounts only`},
		{"directory: letsencrypt-stagin", "", `acme.directory: "letsencrypt-stagin" is neither a URL nor a shorthand (letsencrypt, letsencrypt-staging, zerossl, google, google-staging)`},
		{"", "self_check: https://127.0.0.1:443", `challenge.self_check: must be an http URL: the CA validates HTTP-01 over plain HTTP, not https`},
		{"", "self_check: 127.0.0.1:80", `challenge.self_check: "127.0.0.1:80" is not a URL such as http://127.0.0.1:80`},
		{"", "self_check: http://127.0.0.1:80/.well-known/", `challenge.self_check: must be http://host[:port] alone`},
		{"", "self_check: http://127.0.0.1:99999", `challenge.self_check: "http://127.0.0.1:99999": the port must be between 1 and 65535`},
	} {
		data := "acme:\n  accept_terms: true\n  " + tc.acme + "\n" + minimalHAProxy + "challenge:\n  " + tc.challenge + "\n"
		_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s%s: got %v, want a problem containing %q", tc.acme, tc.challenge, err, tc.want)
		}
	}
}

func TestDirectoryWithEABAndSelfCheckAccepted(t *testing.T) {
	data := "acme:\n  accept_terms: true\n  directory: zerossl\n  eab: {key_id: kid, hmac_key: c2VjcmV0}\n" +
		minimalHAProxy + "challenge:\n  self_check: http://127.0.0.1:80\n"
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACME.Directory != "https://acme.zerossl.com/v2/DV90" || c.Challenge.SelfCheck != "http://127.0.0.1:80" {
		t.Fatalf("directory %q, self_check %q", c.ACME.Directory, c.Challenge.SelfCheck)
	}
}
