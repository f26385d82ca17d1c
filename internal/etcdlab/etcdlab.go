// Package etcdlab gives tests a real etcd (Debian's etcd-server) that they
// can kill, freeze and restart: lab.Etcd, the one etcd runner the demo
// shares, with the test's lifetime, its temporary directory and CI's rule
// that a missing dependency fails rather than skips. It speaks to etcd over
// HTTP only, so that the etcd client stays the cluster package's one
// foreign dependency.
package etcdlab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// Etcd is one single-member etcd process for one test.
type Etcd struct {
	*lab.Etcd
	// Log is the file that holds etcd's warnings and errors.
	Log string
}

// Start runs etcd for the test and stops it when the test ends. Without an
// etcd binary the test is skipped, or fails when CI=true: a missing
// dependency must not turn a CI run green.
func Start(t testing.TB) *Etcd {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "etcd.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	// A port drawn free can still be taken before etcd binds it; start
	// again on other ports rather than fail the test.
	var e *lab.Etcd
	for try := 0; try < 3; try++ {
		e, err = lab.NewEtcd(filepath.Join(dir, "etcd"))
		if errors.Is(err, lab.ErrNoEtcd) {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%v (CI=true: a missing dependency fails the run)", err)
			}
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Stderr, e.StartTimeout = logFile, 15*time.Second
		if err = e.Start(); err == nil {
			break
		}
	}
	l := &Etcd{Etcd: e, Log: logPath}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("etcd log: %s", tail(logPath, 2000))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Endpoints are the client URLs to give an etcd client.
func (e *Etcd) Endpoints() []string { return []string{e.Endpoint()} }

// Restart kills etcd if it runs and starts it again on the same ports and
// data directory, so everything it had committed is back.
func (e *Etcd) Restart() error {
	e.Stop()
	return e.Start()
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
