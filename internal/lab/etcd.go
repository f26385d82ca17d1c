package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoEtcd means no etcd binary was found.
var ErrNoEtcd = errors.New("etcd is not installed (apt-get install -y etcd-server)")

// Etcd is one etcd server, a cluster of one, listening for clients on
// 127.0.0.1 only. Its data stays in Dir across Stop and Start, as a
// restarted member's would.
type Etcd struct {
	Bin, Dir             string
	ClientPort, PeerPort int
	// Stderr receives etcd's log (warnings and errors only); nil discards.
	Stderr io.Writer
	// StartTimeout is how long Start waits for /health; 10 s when zero.
	StartTimeout time.Duration

	proc proc
}

// FindEtcd returns the etcd binary's path (Debian's etcd-server puts it
// in /usr/bin).
func FindEtcd() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	return "", ErrNoEtcd
}

// NewEtcd prepares a server whose data lives in dir, on free ports.
func NewEtcd(dir string) (*Etcd, error) {
	bin, err := FindEtcd()
	if err != nil {
		return nil, err
	}
	e := &Etcd{Bin: bin, Dir: dir}
	for _, p := range []*int{&e.ClientPort, &e.PeerPort} {
		if *p, err = FreePort(); err != nil {
			return nil, err
		}
	}
	return e, os.MkdirAll(dir, 0o700)
}

// Endpoint is the client URL, as hotcert.yaml's cluster.etcd.endpoints
// lists it.
func (e *Etcd) Endpoint() string { return "http://" + e.clientAddr() }

func (e *Etcd) clientAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.ClientPort)) }

// Start runs etcd and waits until /health says it has a leader (itself).
func (e *Etcd) Start() error {
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.PeerPort))
	return e.proc.start("etcd", e.Stderr, e.StartTimeout, e.Healthy, e.Bin,
		"--name", "lab",
		"--data-dir", filepath.Join(e.Dir, "data"),
		"--listen-client-urls", e.Endpoint(), "--advertise-client-urls", e.Endpoint(),
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "lab="+peer, "--initial-cluster-state", "new",
		// A member elects itself in half a second; leases can still be
		// as short as 750 ms (etcd's floor: 1.5 election timeouts).
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn")
}

// Healthy asks etcd's /health, with a short timeout: a frozen etcd
// accepts connections and never answers.
func (e *Etcd) Healthy() error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(e.Endpoint() + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"health":"true"`) {
		return fmt.Errorf("etcd /health: %s %s", resp.Status, b)
	}
	return nil
}

// Running reports whether the process started by Start is still alive.
func (e *Etcd) Running() bool { return e.proc.running() }

// Stop kills etcd (SIGKILL), frozen or not, and waits for it; Start runs
// it again on the same data and ports.
func (e *Etcd) Stop() { e.proc.stop() }

// Freeze stops etcd with SIGSTOP: its sockets accept connections and
// nothing answers, as with a hung or partitioned etcd. Thaw resumes it.
func (e *Etcd) Freeze() error { return e.proc.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen etcd with SIGCONT.
func (e *Etcd) Thaw() error { return e.proc.signal(syscall.SIGCONT) }
