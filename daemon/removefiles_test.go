package daemon

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestRemovedCertificateNotLoadedLeavesDiskToo: a certificate whose last
// push wrote its PEM and crt-list line but never reached HAProxy's memory
// (a foreign transaction, a timeout mid-push) is not in Loaded. Removing it
// from the domains file must still remove it from each instance (crt-list
// line and PEM), or the next HAProxy reload serves it again.
func TestRemovedCertificateNotLoadedLeavesDiskToo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cert("a", "a.test"), cert("b", "b.test")
		ra, sa := validRecord(t, a, time.Now())
		rb, _ := validRecord(t, b, time.Now())
		lb := newFakeHAProxy("lb1")
		lb.serving = map[string]*bigInt{"a": sa} // b is on disk only
		st := newFakeStore(ra, rb)
		r := startRig(t, st, nil, lb)
		defer r.stop()
		r.d.SetDesired(desired(a))
		settle()
		lb.mu.Lock()
		removes := slices.Clone(lb.removes)
		lb.mu.Unlock()
		if !slices.Contains(removes, "b") {
			t.Fatalf("removes = %q, want b removed from lb1 although it was not loaded", removes)
		}
		if rec := st.get("b"); rec == nil || rec.RemovedAt.IsZero() {
			t.Fatalf("b not marked removed: %+v", rec)
		}
	})
}
