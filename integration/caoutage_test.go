package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStartsWhileCAUnreachable: an ACME CA that is down at start-up does not
// keep hotcert from running. The certificates it holds stay managed and
// visible, HAProxy gets them back after a restart, and a new certificate
// waits with a transient error instead of stopping the daemon.
func TestStartsWhileCAUnreachable(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	e.writeDomains("certificates:\n  - domains: [kept.example.test]\n")
	p := e.start()
	leaf := h.waitServed("kept.example.test", e.bundle(0, "kept.example.test"), 2*time.Minute)
	p.stop(t)

	e.ca.Close() // the CA is gone
	h.restart()  // and HAProxy restarted meanwhile
	e.writeDomains("certificates:\n  - domains: [kept.example.test]\n  - domains: [new.example.test]\n")
	p = e.start()
	api := e.adminAPI(t)
	eventually(t, time.Minute, "the held certificate listed and served, the new one failing", func() error {
		var kept, fresh bool
		for _, c := range api.certificates() {
			kept = kept || c.Name == "kept.example.test" && c.Serial == leaf.SerialNumber.Text(16)
			fresh = fresh || c.Name == "new.example.test" && c.LastError != ""
		}
		if !kept || !fresh {
			return fmt.Errorf("status: kept=%v, new with last_error=%v", kept, fresh)
		}
		return nil
	})
	if code, _, body := api.do(http.MethodGet, "/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("/healthz = %d %s; the CA being down is not hotcert being unready", code, body)
	}
	served, err := h.Served("kept.example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if served.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("after HAProxy restarted it serves serial %x, want %x", served.SerialNumber, leaf.SerialNumber)
	}
	if !strings.Contains(p.Logs(), "starting anyway") {
		t.Fatalf("no warning that the CA is unreachable:\n%s", p.Logs())
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("hotcert exited")
	}
}
