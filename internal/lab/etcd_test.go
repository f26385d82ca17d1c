package lab

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestEtcdStartsStopsAndFreezes: etcd answers /health once started, not
// while frozen with SIGSTOP, again after SIGCONT, and after a kill and a
// start on the same data.
func TestEtcdStartsStopsAndFreezes(t *testing.T) {
	e, err := NewEtcd(t.TempDir())
	if errors.Is(err, ErrNoEtcd) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := e.Healthy(); err == nil {
		t.Error("a frozen etcd answered /health")
	}
	if err := e.Thaw(); err != nil {
		t.Fatal(err)
	}
	// A thawed member may report no leader until its next election tick,
	// which a loaded machine delays: it must become healthy, not be so at once.
	deadline := time.Now().Add(15 * time.Second)
	for err := e.Healthy(); err != nil; err = e.Healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after SIGCONT: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.Stop()
	if e.Running() {
		t.Fatal("running after Stop")
	}
	if err := e.Start(); err != nil {
		t.Fatalf("start again on the same data: %v", err)
	}
}
