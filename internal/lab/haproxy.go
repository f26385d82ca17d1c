// Package lab runs a real HAProxy from a generated config on loopback
// addresses and ports, laid out as the README asks operators to lay out theirs: a
// crt-list whose first line is a placeholder default certificate, and ACME
// challenges on the HTTP frontend answered from a map or routed to hotcert.
// The integration tests and `make demo` share it; it never touches the
// system's own HAProxy or /etc/haproxy.
package lab

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"
)

// ErrNoHAProxy means no haproxy binary was found.
var ErrNoHAProxy = errors.New("haproxy is not installed (apt-get install -y haproxy)")

// HAProxy is one running instance and its files.
type HAProxy struct {
	Bin, Dir, Config, Socket, CertDir, CrtList, MapFile string
	// Addr is the address both frontends bind, 127.0.0.1 unless Options
	// chose another.
	Addr                string
	HTTPSPort, HTTPPort int
	// Stderr receives HAProxy's own output; nil discards it.
	Stderr io.Writer
	// StartTimeout is how long Start waits for the stats socket; 10 s when
	// zero. Loading 10,000 certificates on a busy machine takes longer.
	StartTimeout time.Duration

	proc      proc
	challenge string // hotcert's HTTP-01 listener, as Options.Challenge
	noRoute   bool   // the HTTP frontend lacks the ACME route
}

// FindHAProxy returns the haproxy binary's path.
func FindHAProxy() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoHAProxy
}

// Options places an instance. The zero value is the single-host layout:
// both frontends on 127.0.0.1, on ports the kernel picks.
type Options struct {
	// Addr is the address the HTTPS and HTTP frontends bind; 127.0.0.1
	// when empty. Any address of 127.0.0.0/8 works on Linux.
	Addr string
	// HTTPSPort and HTTPPort are the frontends' ports; free ones are
	// picked when zero. A cluster gives every instance the same ports on
	// its own address, as load balancers behind one name have.
	HTTPSPort, HTTPPort int
	// Challenge is hotcert's HTTP-01 listener (host:port) that the
	// hotcert_acme backend sends /.well-known/acme-challenge/ to.
	Challenge string
	// NoACMERoute leaves the ACME route out of the HTTP frontend, the most
	// common mistake of a first setup: challenges then get HAProxy's 503.
	NoACMERoute bool
}

// NewHAProxy writes a config into dir (a placeholder default certificate as
// the crt-list's first line, the HTTP frontend routing ACME challenges to
// 127.0.0.1:challengePort and answering from a map) and checks it with
// haproxy -c. Both frontends bind 127.0.0.1 on free ports.
func NewHAProxy(dir string, challengePort int) (*HAProxy, error) {
	return New(dir, Options{Challenge: net.JoinHostPort("127.0.0.1", strconv.Itoa(challengePort))})
}

// New is NewHAProxy with the addresses and ports of o.
func New(dir string, o Options) (*HAProxy, error) {
	bin, err := FindHAProxy()
	if err != nil {
		return nil, err
	}
	h := &HAProxy{Bin: bin, Dir: dir, Socket: filepath.Join(dir, "admin.sock"), CertDir: filepath.Join(dir, "certs"),
		CrtList: filepath.Join(dir, "certs.list"), MapFile: filepath.Join(dir, "acme.map"), Config: filepath.Join(dir, "haproxy.cfg"),
		Addr: cmp.Or(o.Addr, "127.0.0.1"), HTTPSPort: o.HTTPSPort, HTTPPort: o.HTTPPort,
		challenge: o.Challenge, noRoute: o.NoACMERoute}
	for _, p := range []*int{&h.HTTPSPort, &h.HTTPPort} {
		if *p == 0 {
			if *p, err = FreePortOn(h.Addr); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(h.CertDir, 0o700); err != nil {
		return nil, err
	}
	def := filepath.Join(dir, "default.pem")
	if err := writePlaceholder(def); err != nil {
		return nil, err
	}
	files := map[string]string{h.CrtList: def + "\n", h.MapFile: ""}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return nil, err
		}
	}
	if err := h.writeConfig(); err != nil {
		return nil, err
	}
	return h, nil
}

// SetACMERoute puts the ACME route into the HTTP frontend's config, or
// takes it out; HAProxy applies it at its next start (Restart).
func (h *HAProxy) SetACMERoute(on bool) error {
	h.noRoute = !on
	return h.writeConfig()
}

func (h *HAProxy) writeConfig() error {
	if err := os.WriteFile(h.Config, []byte(h.config()), 0o600); err != nil {
		return err
	}
	if out, err := exec.Command(h.Bin, "-c", "-f", h.Config).CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	return nil
}

// acmeRoute is what routes challenges: answers from the map, else hotcert.
const acmeRoute = `    http-request return status 200 content-type text/plain lf-string "%%[path,field(-1,/),map(%[5]s)]" if { path_beg /.well-known/acme-challenge/ } { path,field(-1,/),map(%[5]s) -m found }
    acl acme path_beg /.well-known/acme-challenge/
    # As configs/examples/haproxy.cfg: every test's validation passes this redirect.
    http-request redirect scheme https code 301 unless acme
    use_backend hotcert_acme if acme
`

func (h *HAProxy) config() string {
	route := acmeRoute
	if h.noRoute {
		route = "    # no ACME route: challenges get HAProxy's 503\n"
	}
	return fmt.Sprintf(`global
    stats socket %[1]s mode 600 level admin
    stats timeout 30s
    # A port clash must fail loudly, not share traffic with another instance.
    noreuseport
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend https
    bind %[2]s ssl crt-list %[3]s
    http-request return status 200 content-type text/plain string "served by HAProxy"
frontend http
    bind %[4]s
`+route+`backend hotcert_acme
    server hotcert %[6]s
`, h.Socket, h.hostPort(h.HTTPSPort), h.CrtList, h.hostPort(h.HTTPPort), h.MapFile, h.challenge)
}

func (h *HAProxy) hostPort(port int) string { return net.JoinHostPort(h.Addr, strconv.Itoa(port)) }

// Start runs HAProxy in the foreground (-db) and waits for its socket.
func (h *HAProxy) Start() error {
	os.Remove(h.Socket)
	return h.proc.start("haproxy", h.Stderr, h.StartTimeout, func() error {
		_, err := h.CLI("show info")
		return err
	}, h.Bin, "-db", "-f", h.Config)
}

// Running reports whether the process started by Start is still alive.
func (h *HAProxy) Running() bool { return h.proc.running() }

// Stop kills HAProxy and waits for it.
func (h *HAProxy) Stop() { h.proc.stop() }

// Restart stops HAProxy and starts it from the same files, as a reboot
// would: whatever it serves afterwards came from disk.
func (h *HAProxy) Restart() error {
	h.Stop()
	return h.Start()
}

// CLI runs one command on the stats socket and returns the reply.
func (h *HAProxy) CLI(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.Socket, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// HTTPRequests is how many HTTP requests the HTTP frontend has taken
// since HAProxy started (req_tot in show stat), whether hotcert's backend
// or the map answered them. Only the CA's validations reach it in the
// tests, so it shows which load balancers the CA reached.
func (h *HAProxy) HTTPRequests() (int, error) {
	out, err := h.CLI("show stat")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(out, "\n")
	head := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := slices.Index(head, "req_tot")
	if col < 0 {
		return 0, fmt.Errorf("no req_tot in show stat: %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) > col && f[0] == "http" && f[1] == "FRONTEND" {
			return strconv.Atoi(f[col])
		}
	}
	return 0, fmt.Errorf("no http frontend in show stat: %q", out)
}

// Pid is the worker's pid as HAProxy reports it in show info.
func (h *HAProxy) Pid() (int, error) {
	out, err := h.CLI("show info")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pid: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Pid in show info: %q", out)
}

// Served does a TLS handshake with SNI and returns the leaf HAProxy sent.
func (h *HAProxy) Served(sni string, cfg *tls.Config) (*x509.Certificate, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName, cfg.InsecureSkipVerify = sni, true
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", h.hostPort(h.HTTPSPort), cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// WaitServed waits until HAProxy serves, for sni, the leaf of the bundle at
// path, and returns it.
func (h *HAProxy) WaitServed(ctx context.Context, sni, bundlePath string) (*x509.Certificate, error) {
	return h.WaitServedEvery(ctx, sni, bundlePath, 100*time.Millisecond)
}

// WaitServedEvery is WaitServed looking every interval: a benchmark that
// times the wait needs a finer grain than a test that only needs the end.
func (h *HAProxy) WaitServedEvery(ctx context.Context, sni, bundlePath string, every time.Duration) (*x509.Certificate, error) {
	last := "nothing yet"
	for {
		want, err := LeafFile(bundlePath)
		if err == nil {
			got, serr := h.Served(sni, nil)
			if serr == nil && got.SerialNumber.Cmp(want.SerialNumber) == 0 {
				return got, nil
			}
			last = fmt.Sprintf("served %v (%v), bundle serial %x", serialOf(got), serr, want.SerialNumber)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("HAProxy never served %s from %s: %s", sni, bundlePath, last)
		case <-time.After(every):
		}
	}
}

func serialOf(c *x509.Certificate) string {
	if c == nil {
		return "nothing"
	}
	return fmt.Sprintf("serial %x", c.SerialNumber)
}

// LeafFile parses the first certificate of a PEM file.
func LeafFile(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	leaf, err := bundle.Leaf(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return leaf, nil
}

// writePlaceholder writes the self-signed default certificate that the first
// crt-list line needs: an empty crt-list is a fatal config error.
func writePlaceholder(path string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "placeholder.invalid"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		DNSNames: []string{"placeholder.invalid"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...)
	return os.WriteFile(path, out, 0o600)
}
