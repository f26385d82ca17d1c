package integration

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// needTool finds a program the tests need. Under CI a missing tool fails the
// run; on a developer's machine it skips with the reason.
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if name == "haproxy" {
		if _, err := lab.FindHAProxy(); err == nil {
			return
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (CI=true: a missing dependency fails the run)", name)
	}
	t.Skipf("%s not installed", name)
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// haproxy wraps a lab instance with test-fatal helpers.
type haproxy struct {
	*lab.HAProxy
	t testing.TB
}

func startHAProxy(t testing.TB, challengePort int) *haproxy {
	t.Helper()
	return startHAProxyWith(t, lab.Options{Challenge: net.JoinHostPort("127.0.0.1", strconv.Itoa(challengePort))})
}

// startHAProxyWith starts an instance placed by o: a cluster's load
// balancer binds its own address.
func startHAProxyWith(t testing.TB, o lab.Options) *haproxy {
	t.Helper()
	needTool(t, "haproxy")
	h, err := lab.New(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		h.Stderr = os.Stderr
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return &haproxy{HAProxy: h, t: t}
}

func (h *haproxy) pid() int {
	h.t.Helper()
	p, err := h.Pid()
	if err != nil {
		h.t.Fatalf("show info: %v", err)
	}
	return p
}

func (h *haproxy) restart() {
	h.t.Helper()
	if err := h.Restart(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *haproxy) waitServed(sni, bundlePath string, timeout time.Duration) *x509.Certificate {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := h.WaitServed(ctx, sni, bundlePath)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}
