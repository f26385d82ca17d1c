package etcdlab

import (
	"net/http"
	"testing"
	"time"
)

// TestLifecycle: etcd answers after Start and Restart, stops answering when
// frozen or stopped, and answers again when thawed.
func TestLifecycle(t *testing.T) {
	e := Start(t)
	hc := &http.Client{Timeout: 300 * time.Millisecond}
	if err := healthy(hc, e.ClientURL); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := healthy(hc, e.ClientURL); err == nil {
		t.Fatal("a frozen etcd answered")
	}
	if err := e.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := e.waitHealthy(); err != nil {
		t.Fatalf("after Thaw: %v", err)
	}
	e.Stop()
	if err := healthy(hc, e.ClientURL); err == nil {
		t.Fatal("a stopped etcd answered")
	}
	if err := e.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := healthy(hc, e.ClientURL); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
