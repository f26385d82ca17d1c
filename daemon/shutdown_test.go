package daemon

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestShutdownStartsNoQueuedAction: once ctx is done, a worker that finishes
// its action must not take another from the queue. Each one would cost up
// to pushTimeout against a hung HAProxy (past the 15 s shutdown), and an
// order started then is marked ordering=true and counted as interrupted at
// the next start. The worker's select is random when both are ready, so the
// check is repeated.
func TestShutdownStartsNoQueuedAction(t *testing.T) {
	for i := range 20 {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			r := startRig(t, newFakeStore(), func(o *Options) {
				o.Workers = 1
				o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour, gate: gate}
			})
			d := desired()
			for n := range 10 {
				name := fmt.Sprintf("c%d", n)
				d.Certificates = append(d.Certificates, cert(name, name+".test"))
			}
			r.d.SetDesired(d)
			settle()
			if n := r.iss.count(); n != 1 {
				t.Fatalf("%d orders running with 1 worker", n)
			}
			r.stop()
			if n := r.iss.count(); n != 1 {
				t.Fatalf("run %d: %d orders placed, want only the one running at shutdown", i, n)
			}
			ordering := 0
			for _, c := range d.Certificates {
				if rec := r.st.get(c.Name); rec != nil && rec.Ordering {
					ordering++
				}
			}
			if ordering != 1 {
				t.Fatalf("run %d: %d records marked ordering, want 1", i, ordering)
			}
		})
	}
}
