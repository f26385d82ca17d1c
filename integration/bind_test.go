package integration

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// bind is a real BIND 9 started by a test: authoritative for its zones on a loopback
// port, accepting dynamic updates of TXT records signed with one TSIG key, and
// recursive for loopback so that Pebble's VA, which sends one query and follows no
// CNAMEs itself, gets a CNAME into another of its zones answered in full.
type bind struct {
	Addr    string // 127.0.0.1:<port>, TCP and UDP
	KeyName string
	Secret  string // base64
	dir     string
	cmd     *exec.Cmd
	done    chan struct{}
}

// bindZone is one zone served by the test BIND; records are zone-file lines.
type bindZone struct {
	name    string
	records []string
}

func findNamed(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"named", "/usr/sbin/named"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("named (bind9) not installed (CI=true: a missing dependency fails the run)")
	}
	t.Skip("named (bind9) not installed")
	return ""
}

func startBIND(t testing.TB, zones ...bindZone) *bind {
	t.Helper()
	named := findNamed(t)
	b := &bind{KeyName: "hotcert.", Secret: randomSecret(t), dir: t.TempDir(), done: make(chan struct{})}
	for _, z := range zones {
		writeFile(t, filepath.Join(b.dir, z.name+".db"), zoneFile(z))
	}
	var lastErr error
	for range 5 { // the port is free when picked, but someone may take it before named binds
		b.Addr = freeDNSPort(t)
		conf := filepath.Join(b.dir, "named.conf")
		writeFile(t, conf, b.config(zones))
		if lastErr = b.run(t, named, conf); lastErr == nil {
			return b
		}
	}
	t.Fatalf("start named: %v", lastErr)
	return nil
}

func (b *bind) run(t testing.TB, named, conf string) error {
	b.cmd = exec.Command(named, "-g", "-c", conf)
	log := &strings.Builder{}
	b.cmd.Stdout, b.cmd.Stderr = log, log
	if testing.Verbose() {
		b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := b.cmd.Start(); err != nil {
		return err
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-b.done:
			return fmt.Errorf("named exited: %s", log)
		default:
		}
		if b.answers() {
			t.Cleanup(b.stop)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.stop()
	return fmt.Errorf("named did not answer within 20 s: %s", log)
}

func (b *bind) answers() bool {
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	for _, network := range []string{"udp", "tcp"} {
		r, _, err := (&dns.Client{Net: network, Timeout: time.Second}).Exchange(m, b.Addr)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			return false
		}
	}
	return true
}

func (b *bind) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

func (b *bind) config(zones []bindZone) string {
	host, port, _ := net.SplitHostPort(b.Addr)
	var sb strings.Builder
	fmt.Fprintf(&sb, `options {
	directory %[1]q;
	pid-file %[2]q;
	listen-on port %[3]s { %[4]s; };
	listen-on-v6 { none; };
	recursion yes;
	allow-recursion { 127.0.0.1; };
	dnssec-validation no;
	allow-transfer { 127.0.0.1; };
	notify no;
	session-keyfile none;
	managed-keys-directory %[1]q;
};
controls { };
key %[5]q { algorithm hmac-sha256; secret %[6]q; };
`, b.dir, filepath.Join(b.dir, "named.pid"), port, host, b.KeyName, b.Secret)
	for _, z := range zones {
		fmt.Fprintf(&sb, "zone %q { type primary; file %q; update-policy { grant %s zonesub TXT; }; };\n",
			z.name, filepath.Join(b.dir, z.name+".db"), b.KeyName)
	}
	return sb.String()
}

func zoneFile(z bindZone) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1 admin 1 60 60 600 60\n@ IN NS ns1\nns1 IN A 127.0.0.1\n", z.name)
	for _, r := range z.records {
		sb.WriteString(r + "\n")
	}
	return sb.String()
}

// records lists a zone's records by zone transfer, as the server holds them now.
func (b *bind) records(t testing.TB, zone string) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(dns.Fqdn(zone))
	ch, err := (&dns.Transfer{}).In(m, b.Addr)
	if err != nil {
		t.Fatalf("AXFR %s: %v", zone, err)
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("AXFR %s: %v", zone, env.Error)
		}
		out = append(out, env.RR...)
	}
	return out
}

// challengeTXT lists the TXT records under _acme-challenge names of zone.
func (b *bind) challengeTXT(t testing.TB, zone string) []string {
	t.Helper()
	var out []string
	for _, rr := range b.records(t, zone) {
		if rr.Header().Rrtype == dns.TypeTXT && strings.Contains(rr.Header().Name, "_acme-challenge") {
			out = append(out, rr.String())
		}
	}
	return out
}

func randomSecret(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// freeDNSPort is a loopback port free for both TCP and UDP when picked.
func freeDNSPort(t testing.TB) string {
	t.Helper()
	for range 20 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no loopback port free for TCP and UDP")
	return ""
}
