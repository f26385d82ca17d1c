package configs

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

const baseHAProxy = "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n" +
	"    cert_dir: /etc/haproxy/hotcert/certs\n    crt_list: /etc/haproxy/hotcert/certs.list\n"

func oneProblem(t *testing.T, data, want string) {
	t.Helper()
	_, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), want) {
		t.Errorf("got %v\nwant one problem containing %q", err, want)
	}
}

func TestHAProxyFileMode(t *testing.T) {
	for in, want := range map[string]os.FileMode{"": 0o600, "0640": 0o640, "440": 0o440, "0o600": 0o600} {
		data := baseHAProxy
		if in != "" {
			data += "    file_mode: " + in + "\n"
		}
		c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
		if err != nil {
			t.Fatalf("file_mode %q: %v", in, err)
		}
		if got := c.HAProxy[0].FilePerm(); got != want {
			t.Errorf("file_mode %q: %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"0844":  `7:16: haproxy[0].file_mode: "0844" is not an octal file mode`,
		"01640": `7:16: haproxy[0].file_mode: "01640" is not an octal file mode`,
		"rw-r":  `7:16: haproxy[0].file_mode: "rw-r" is not an octal`,
		"0644":  "haproxy[0].file_mode: 0644 gives other users access to private keys",
		"0660":  "haproxy[0].file_mode: 0660 lets the group write",
		"0040":  "haproxy[0].file_mode: 0040: the owner must be able to read it",
	} {
		oneProblem(t, baseHAProxy+"    file_mode: "+in+"\n", want)
	}
}

// someGroup is a group of this host other than 0: the current user's
// primary group, or, for root, one that Debian always has.
func someGroup(t *testing.T) (name string, gid int) {
	t.Helper()
	candidates := []string{}
	if u, err := user.Current(); err == nil {
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			candidates = append(candidates, g.Name)
		}
	}
	for _, n := range append(candidates, "daemon", "nogroup", "users", "adm") {
		if g, err := user.LookupGroup(n); err == nil && g.Gid != "0" {
			gid, _ := strconv.Atoi(g.Gid)
			return n, gid
		}
	}
	t.Skip("no group other than 0 on this host")
	return "", 0
}

func TestHAProxyFileGroup(t *testing.T) {
	name, gid := someGroup(t)
	for _, in := range []string{name, strconv.Itoa(gid)} {
		c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(baseHAProxy+"    file_group: \""+in+"\"\n"))
		if err != nil || c.HAProxy[0].FileGID != gid {
			t.Errorf("file_group %q: %v, gid %d, want %d", in, err, c.HAProxy[0].FileGID, gid)
		}
	}
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(baseHAProxy+"    file_group: 4242\n"))
	if err != nil || c.HAProxy[0].FileGID != 4242 {
		t.Errorf("file_group 4242: %v, gid %d; a number is taken as it is", err, c.HAProxy[0].FileGID)
	}
	oneProblem(t, baseHAProxy+"    file_group: no-such-group-hc\n", `7:17: haproxy[0].file_group: no group "no-such-group-hc" on this host`)
	oneProblem(t, baseHAProxy+"    file_group: root\n", `haproxy[0].file_group: "root" is group 0`)
}

func TestEABKeyFile(t *testing.T) {
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte("acme:\n  accept_terms: true\n  eab: {key_id: kid, hmac_key_file: eab.hmac}\n"+baseHAProxy[len("acme: {accept_terms: true}\n"):]))
	if err != nil || c.ACME.EAB.HMACKeyFile != "/etc/hotcert/eab.hmac" {
		t.Fatalf("hmac_key_file: %v, %q; want it relative to the config", err, c.ACME.EAB.HMACKeyFile)
	}
	rest := baseHAProxy[len("acme: {accept_terms: true}\n"):]
	oneProblem(t, "acme:\n  accept_terms: true\n  eab: {key_id: kid, hmac_key: abc, hmac_key_file: eab.hmac}\n"+rest,
		"acme.eab.hmac_key_file: set acme.eab.hmac_key or hmac_key_file, not both")
	oneProblem(t, "acme:\n  accept_terms: true\n  eab: {hmac_key_file: eab.hmac}\n"+rest,
		"acme.eab.key_id: required when acme.eab.hmac_key_file is set")
	oneProblem(t, "acme:\n  accept_terms: true\n  eab: {key_id: kid}\n"+rest,
		"acme.eab.hmac_key: required when acme.eab.key_id is set (or hmac_key_file")
}

// ${CREDENTIALS_DIRECTORY} in a *_file path is systemd's LoadCredential=
// directory; unset, the path stays as written for its reader to explain.
func TestCredentialsDirectory(t *testing.T) {
	data := "acme:\n  accept_terms: true\n  eab: {key_id: kid, hmac_key_file: \"${CREDENTIALS_DIRECTORY}/eab-hmac\"}\n" +
		baseHAProxy[len("acme: {accept_terms: true}\n"):] +
		"dns:\n  server: 127.0.0.1:53\n  tsig_key: hotcert.\n  tsig_secret_file: $CREDENTIALS_DIRECTORY/tsig\n"
	t.Setenv(CredentialsVar, "/run/credentials/hotcert.service")
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACME.EAB.HMACKeyFile != "/run/credentials/hotcert.service/eab-hmac" || c.DNS.TSIGSecretFile != "/run/credentials/hotcert.service/tsig" {
		t.Errorf("expanded to %q and %q", c.ACME.EAB.HMACKeyFile, c.DNS.TSIGSecretFile)
	}
	t.Setenv(CredentialsVar, "")
	c, err = ParseConfig("/etc/hotcert/hotcert.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACME.EAB.HMACKeyFile != "${CREDENTIALS_DIRECTORY}/eab-hmac" || !NeedsCredentials(c.DNS.TSIGSecretFile) {
		t.Errorf("unset: %q and %q, want them as written", c.ACME.EAB.HMACKeyFile, c.DNS.TSIGSecretFile)
	}
}
