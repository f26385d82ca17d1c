// Package etcdlab runs a real etcd (Debian's etcd-server, /usr/bin/etcd) on
// loopback ports with a throwaway data directory, for tests that need to
// kill, freeze and restart the store hotcert's clusters share. It speaks
// to etcd over its HTTP /health endpoint only, so that the etcd client stays
// the cluster package's one foreign dependency.
package etcdlab

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// ErrNoEtcd means no etcd binary was found.
var ErrNoEtcd = errors.New("etcd is not installed (apt-get install -y etcd-server)")

// startTimeout bounds how long a start waits for etcd to answer /health.
// A single member elects itself within one election timeout (500 ms here).
const startTimeout = 15 * time.Second

// Etcd is one single-member etcd process and its data directory.
type Etcd struct {
	Bin, Dir, Log      string
	ClientURL, PeerURL string

	cmd  *exec.Cmd
	done chan struct{}
}

// Find returns the etcd binary's path.
func Find() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", ErrNoEtcd
}

// Start runs etcd for the test and stops it when the test ends. Without an
// etcd binary the test is skipped, or fails when CI=true: a missing
// dependency must not turn a CI run green.
func Start(t testing.TB) *Etcd {
	t.Helper()
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: a missing dependency fails the run)", err)
		}
		t.Skip(err)
	}
	e := &Etcd{Bin: bin, Dir: t.TempDir()}
	e.Log = filepath.Join(e.Dir, "etcd.log")
	// A free port can be taken between the probe and etcd's bind; try
	// again with other ports rather than fail the test.
	for try := 0; ; try++ {
		if err = e.pickPorts(); err == nil {
			err = e.start()
		}
		if err == nil || try == 2 {
			break
		}
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("etcd log: %s", tail(e.Log, 2000))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Endpoints are the client URLs to give an etcd client.
func (e *Etcd) Endpoints() []string { return []string{e.ClientURL} }

func (e *Etcd) pickPorts() error {
	c, err := lab.FreePort()
	if err != nil {
		return err
	}
	p, err := lab.FreePort()
	if err != nil {
		return err
	}
	e.ClientURL = fmt.Sprintf("http://127.0.0.1:%d", c)
	e.PeerURL = fmt.Sprintf("http://127.0.0.1:%d", p)
	return nil
}

func (e *Etcd) args() []string {
	return []string{
		"--name", "lab",
		"--data-dir", filepath.Join(e.Dir, "data"),
		"--listen-client-urls", e.ClientURL,
		"--advertise-client-urls", e.ClientURL,
		"--listen-peer-urls", e.PeerURL,
		"--initial-advertise-peer-urls", e.PeerURL,
		"--initial-cluster", "lab=" + e.PeerURL,
		"--initial-cluster-state", "new",
		// Shorter than the defaults so that a start elects in half a
		// second; leases can still be as short as 2 s (etcd's floor is
		// 1.5 election timeouts).
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
	}
}

// start runs etcd on the current ports and data directory and waits until
// it answers.
func (e *Etcd) start() error {
	log, err := os.OpenFile(e.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(e.Bin, e.args()...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	e.cmd, e.done = cmd, done
	if err := e.waitHealthy(); err != nil {
		e.Stop()
		return err
	}
	return nil
}

func (e *Etcd) waitHealthy() error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	last := errors.New("no answer yet")
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			return fmt.Errorf("etcd exited at start: %s", tail(e.Log, 800))
		default:
		}
		if last = healthy(hc, e.ClientURL); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("etcd did not answer within %s: %w", startTimeout, last)
}

func healthy(hc *http.Client, url string) error {
	resp, err := hc.Get(url + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"health":"true"`) {
		return fmt.Errorf("etcd /health: %d %s", resp.StatusCode, b)
	}
	return nil
}

// Stop kills etcd with SIGKILL, as a crash or a power cut would, and waits
// for it to exit. A frozen etcd is killed too.
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Kill()
	<-e.done
	e.cmd = nil
}

// Freeze stops etcd with SIGSTOP: its ports stay open and connections
// hang, as with a machine that stopped answering.
func (e *Etcd) Freeze() error { return e.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen etcd.
func (e *Etcd) Thaw() error { return e.signal(syscall.SIGCONT) }

func (e *Etcd) signal(s syscall.Signal) error {
	if e.cmd == nil {
		return errors.New("etcd is not running")
	}
	return e.cmd.Process.Signal(s)
}

// Restart kills etcd if it runs and starts it again on the same ports and
// data directory, so everything it had committed is back.
func (e *Etcd) Restart() error {
	e.Stop()
	return e.start()
}

// tail returns up to n bytes from the end of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
