package integration

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
	"github.com/hotcert/hotcert/internal/testca"
)

// hotcertBin is built once by TestMain: the tests run the real binary, so
// that a kill is a real kill and a restart a real restart.
var hotcertBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hotcert-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hotcertBin = filepath.Join(dir, "hotcert")
	flag.Parse()
	args := []string{"build", "-o", hotcertBin}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		// Tests run the binary with the race detector; benchmarks measure
		// the binary an operator would run.
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/hotcert/hotcert/cmd/hotcert")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hotcert: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's world: a CA, HAProxy instances and hotcert's files.
type env struct {
	t           testing.TB
	ca          *testca.CA
	lbs         []*haproxy
	dir         string
	cfgPath     string
	domainsPath string
	stateDir    string
	challenge   int
	admin       int
	proc        *process
	extraConfig string
	// acmeExtra is appended inside the acme: section (two-space indent).
	acmeExtra string
	// haproxyExtra is appended to every haproxy: entry (four-space indent).
	haproxyExtra string
	// challengeExtra is appended inside the challenge: section; listen,
	// when set, moves hotcert's HTTP-01 listener away from the port
	// HAProxy's challenge backend points at.
	challengeExtra string
	listen         int
	// directory replaces the CA's directory URL in hotcert.yaml, to put a
	// proxy between hotcert and the CA.
	directory string
	// host is the address hotcert's HTTP-01 and admin listeners bind,
	// 127.0.0.1 when empty (a cluster node listens on its own).
	host string
	// name prefixes hotcert's log lines on stderr under -v, to tell the
	// nodes of a cluster apart.
	name string
}

type envOptions struct {
	instances int
	ca        testca.Options
	// noACMERoute leaves the ACME route out of every HAProxy's HTTP frontend.
	noACMERoute bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.instances == 0 {
		o.instances = 1
	}
	e := &env{t: t, dir: t.TempDir(), challenge: freePort(t), admin: freePort(t)}
	for range o.instances {
		e.lbs = append(e.lbs, startHAProxyWith(t, lab.Options{
			Challenge: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.challenge)), NoACMERoute: o.noACMERoute}))
	}
	o.ca.HTTPPort = e.lbs[0].HTTPPort
	ca, err := testca.Start(o.ca)
	if err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() { ca.Close() })
	e.ca = ca
	e.layout()
	return e
}

// layout names hotcert's files in e.dir and writes the CA's roots there.
func (e *env) layout() {
	e.stateDir = filepath.Join(e.dir, "state")
	e.domainsPath = filepath.Join(e.dir, "domains.yaml")
	e.cfgPath = filepath.Join(e.dir, "hotcert.yaml")
	writeFile(e.t, filepath.Join(e.dir, "ca.pem"), string(e.ca.RootsPEM))
}

// hostPort is the address of one of hotcert's listeners, on port.
func (e *env) hostPort(port int) string {
	return net.JoinHostPort(cmp.Or(e.host, "127.0.0.1"), strconv.Itoa(port))
}

func (e *env) writeConfig() {
	var b strings.Builder
	fmt.Fprintf(&b, `acme:
  directory: %s
  email: ops@example.test
  accept_terms: true
  ca_roots: ca.pem
%sstate_dir: state
domains_file: domains.yaml
challenge:
  http01_listen: %s
%sadmin:
  listen: %s
haproxy:
`, cmp.Or(e.directory, e.ca.DirectoryURL), e.acmeExtra, e.hostPort(cmp.Or(e.listen, e.challenge)), e.challengeExtra, e.hostPort(e.admin))
	for i, h := range e.lbs {
		fmt.Fprintf(&b, "  - name: lb%d\n    socket: %s\n    cert_dir: %s\n    crt_list: %s\n%s", i+1, h.Socket, h.CertDir, h.CrtList, e.haproxyExtra)
	}
	b.WriteString(e.extraConfig)
	writeFile(e.t, e.cfgPath, b.String())
}

// process is a running hotcert.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
	name string
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if testing.Verbose() {
		if p.name != "" {
			os.Stderr.WriteString(p.name + ": ")
		}
		os.Stderr.Write(b)
	}
	return p.logs.Write(b)
}

// Logs is everything hotcert has logged so far.
func (p *process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (e *env) start() *process {
	e.t.Helper()
	if _, err := os.Stat(e.cfgPath); err != nil {
		e.writeConfig()
	}
	p := &process{done: make(chan error, 1), name: e.name}
	p.cmd = exec.Command(hotcertBin, "run", "--config", e.cfgPath, "--log-level", "debug")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start hotcert: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	e.proc = p
	e.t.Cleanup(func() { p.kill() })
	return p
}

// stop sends SIGTERM and expects a clean exit within 15 s.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hotcert exited with %v after SIGTERM; logs:\n%s", err, p.Logs())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("hotcert did not exit within 15 s of SIGTERM; logs:\n%s", p.Logs())
	}
}

func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	}
}

func (e *env) writeDomains(content string) {
	e.t.Helper()
	writeFile(e.t, e.domainsPath, content)
}

// bundle is where hotcert writes a certificate for HAProxy instance i.
func (e *env) bundle(i int, name string) string {
	return filepath.Join(e.lbs[i].CertDir, name+".pem")
}
