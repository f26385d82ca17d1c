package runtime

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

const haproxyBin = "/usr/sbin/haproxy"

// haproxy is a real HAProxy child process on free loopback ports.
type haproxy struct {
	dir, certDir, crtList, mapFile, sock, cfg string
	https, http                               string   // host:port
	placeholder                               []byte   // bundle of the default certificate
	placeholderSerial                         *big.Int // what an unknown SNI gets
	cmd                                       *exec.Cmd
	log                                       *bytes.Buffer
	startLimit                                time.Duration // how long start waits for the socket; default 1 min
}

func needHAProxy(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(haproxyBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("haproxy required in CI: %v", err)
		}
		t.Skip("haproxy not installed")
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	p, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// shortTempDir keeps the stats socket path under the 108-byte unix limit,
// which t.TempDir's long names can exceed.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startHAProxy(t testing.TB, ca *testCA) *haproxy {
	t.Helper()
	h := newHAProxy(t, ca)
	h.start(t)
	return h
}

// newHAProxy prepares the files of an HAProxy without starting it.
func newHAProxy(t testing.TB, ca *testCA) *haproxy {
	t.Helper()
	needHAProxy(t)
	dir := shortTempDir(t)
	h := &haproxy{
		dir: dir, certDir: filepath.Join(dir, "certs"), crtList: filepath.Join(dir, "certs.list"),
		mapFile: filepath.Join(dir, "acme.map"), sock: filepath.Join(dir, "admin.sock"),
		cfg: filepath.Join(dir, "haproxy.cfg"), https: freePort(t), http: freePort(t),
	}
	h.placeholder, h.placeholderSerial = ca.leaf(t, "ecdsa", "placeholder.invalid")
	placeholder := filepath.Join(dir, "placeholder.pem")
	must(t, os.Mkdir(h.certDir, 0o700))
	must(t, os.WriteFile(placeholder, h.placeholder, 0o600))
	must(t, os.WriteFile(h.crtList, []byte(placeholder+"\n"), 0o644))
	must(t, os.WriteFile(h.mapFile, nil, 0o644))
	must(t, os.WriteFile(h.cfg, []byte(h.config()), 0o644))
	return h
}

func (h *haproxy) config() string {
	m := h.mapFile
	return fmt.Sprintf(`global
    noreuseport
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend https
    bind %s ssl crt-list %s
    http-request return status 200 content-type text/plain string ok
frontend http
    bind %s
    http-request return status 200 content-type text/plain lf-string "%%[path,field(-1,/),map(%s)]" if { path_beg /.well-known/acme-challenge/ } { path,field(-1,/),map(%s) -m found }
    http-request return status 404
`, h.sock, h.https, h.crtList, h.http, m, m)
}

// start runs HAProxy in the foreground, with extra command-line arguments.
func (h *haproxy) start(t testing.TB, extra ...string) {
	t.Helper()
	h.log = new(bytes.Buffer)
	h.cmd = exec.Command(haproxyBin, append([]string{"-f", h.cfg, "-db"}, extra...)...)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	must(t, h.cmd.Start())
	cmd := h.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(cmp.Or(h.startLimit, time.Minute)) // 10,000 certificates take seconds
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", h.sock); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("haproxy did not open %s:\n%s", h.sock, h.log)
}

// stop kills HAProxy and waits for it; the Cleanup of start then does nothing.
func (h *haproxy) stop() {
	h.cmd.Process.Kill()
	h.cmd.Wait()
}

func (h *haproxy) restart(t testing.TB) {
	t.Helper()
	h.cmd.Process.Kill()
	h.cmd.Wait()
	os.Remove(h.sock)
	h.start(t)
}

func (h *haproxy) client(name string) *Client {
	return New(Options{Name: name, Socket: h.sock, CertDir: h.certDir, CrtList: h.crtList, Timeout: 5 * time.Second})
}

// raw sends one command line on the stats socket, bypassing the client.
func (h *haproxy) raw(t testing.TB, cmd string) string {
	t.Helper()
	c, err := net.Dial("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(c)
	return b.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
