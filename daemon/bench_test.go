package daemon

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// BenchmarkPassNoChange is the CPU time of a reconcile pass over 10,000
// certificates that are all valid and loaded: the pass every event and the
// verify timer cost when there is nothing to do. The goal is under 50 ms.
// The HAProxy is a fake whose Loaded answers from memory, so this measures
// the daemon alone; the runtime client's cost is measured in runtime.
func BenchmarkPassNoChange(b *testing.B) {
	const n = 10_000
	now := time.Now()
	lb := newFakeHAProxy("lb1")
	var recs []*store.Record
	var certs []configs.Certificate
	for i := range n {
		c := cert(fmt.Sprintf("c%05d", i), fmt.Sprintf("c%05d.example.test", i), fmt.Sprintf("www.c%05d.example.test", i))
		r, serial := validRecord(b, c, now)
		recs = append(recs, r)
		certs = append(certs, c)
		lb.serving[c.Name] = serial
	}
	st := newFakeStore(recs...)
	d := New(Options{Issuer: &fakeIssuer{tb: b, now: time.Now}, Store: st, HAProxies: []HAProxy{lb}, Now: time.Now})
	d.SetDesired(desired(certs...))
	ctx := context.Background()
	d.pass(ctx) // reads the store once, as the first pass after start-up does
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	passes := 0
	for b.Loop() {
		d.pass(ctx)
		passes++
	}
	b.StopTimer()
	// The machine may be shared: CPU time (GC included) says more than the
	// wall clock.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(passes), "cpu-ms/pass")
	if len(d.jobs) != 0 {
		b.Fatalf("a pass with nothing to do queued %d actions", len(d.jobs))
	}
	if st.lists != 1 {
		b.Fatalf("passes read the store %d times, want once", st.lists)
	}
	if s := d.Status(); len(s) != n || s[0].State != "ok" {
		b.Fatalf("status: %d rows, first %+v", len(s), s[0])
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
