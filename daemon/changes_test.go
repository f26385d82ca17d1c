package daemon

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// clock is a time the test sets by hand.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// servedDaemon is a daemon over n valid certificates that lb serves,
// after its first (full) pass. edit, when not nil, changes each record.
func servedDaemon(t *testing.T, n int, clk *clock, edit func(i int, r *store.Record)) (*Daemon, []configs.Certificate, *fakeHAProxy) {
	t.Helper()
	lb := newFakeHAProxy("lb1")
	var recs []*store.Record
	var certs []configs.Certificate
	for i := range n {
		c := cert(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d.example.test", i))
		r, serial := validRecord(t, c, clk.Now())
		if edit != nil {
			edit(i, r)
		}
		recs = append(recs, r)
		certs = append(certs, c)
		lb.serving[c.Name] = serial
	}
	d := New(Options{Issuer: &fakeIssuer{tb: t, now: clk.Now}, Store: newFakeStore(recs...), HAProxies: []HAProxy{lb},
		Now: clk.Now, Verify: 24 * time.Hour})
	d.SetDesired(desired(certs...))
	return d, certs, lb
}

func (d *Daemon) decidedLast() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changes.decided
}

// queued takes the actions a pass queued, as "name=action".
func queued(d *Daemon) []string {
	var out []string
	for {
		select {
		case j := <-d.jobs:
			out = append(out, j.cert.Name+"="+j.action.String())
			d.mu.Lock()
			delete(d.inflight, j.cert.Name)
			d.mu.Unlock()
		default:
			return out
		}
	}
}

// A pass after an edit, a record written or an operator's request decides
// for that certificate alone; one with nothing new decides for none, and a
// restarted HAProxy (its Epoch moved) makes the pass look at every one.
func TestIncrementalPassDecidesOnlyWhatChanged(t *testing.T) {
	clk := newClock(time.Now())
	const n = 50
	d, certs, lb := servedDaemon(t, n, clk, nil)
	ctx := t.Context()
	d.pass(ctx)
	if got := d.decidedLast(); got != n {
		t.Fatalf("the first pass decided %d certificates, want all %d", got, n)
	}
	step := func(what string, want int, wantJobs ...string) {
		t.Helper()
		d.pass(ctx)
		if got := d.decidedLast(); got != want {
			t.Fatalf("%s: the pass decided %d certificates, want %d", what, got, want)
		}
		if got := fmt.Sprint(queued(d)); got != fmt.Sprint(wantJobs) {
			t.Fatalf("%s: queued %v, want %v", what, got, wantJobs)
		}
	}
	step("nothing changed", 0)

	edited := append([]configs.Certificate(nil), certs...)
	edited[7] = cert("c7", "c7.example.test", "www.c7.example.test")
	d.SetDesired(desired(edited...))
	step("one certificate edited", 1, "c7=issue")
	d.SetDesired(desired(edited...))
	step("the same set again", 0)

	// The catalog's PUT of a new certificate appends to the set it handed
	// over, in the same memory: the new entry alone is looked at, and it
	// is found.
	base := make([]configs.Certificate, len(edited), len(edited)+1)
	copy(base, edited)
	d.SetDesired(desired(base...))
	step("the same set in new memory", 0)
	d.SetDesired(desired(append(base, cert("new", "new.example.test"))...))
	step("one certificate appended in the same memory", 1, "new=issue")
	d.SetDesired(desired(edited...))
	step("the appended certificate, never issued, removed", 0)

	r, _ := validRecord(t, certs[3], clk.Now())
	r.LastError = "written by an action"
	if err := d.opt.Store.Put(r); err != nil {
		t.Fatal(err)
	}
	lb.questions()
	step("one record written", 1, "c3=push")
	// The pass asked HAProxy for c3's stores alone, not for every store.
	if all, of := lb.questions(); all != 0 || len(of) != 1 || !slices.Equal(of[0], bundle.Names("c3")) {
		t.Fatalf("an incremental pass asked for every store %d times, and for %v; want only c3's stores %v", all, of, bundle.Names("c3"))
	}
	if s, ok := d.StatusOf("c3"); !ok || s.LastError != "written by an action" || s.Ready {
		t.Fatalf("StatusOf(c3) = %+v, %v; want the new record, not ready", s, ok)
	}

	if err := d.Renew("c5"); err != nil {
		t.Fatal(err)
	}
	step("one renewal asked for", 1, "c5=renew")

	d.SetDesired(desired(edited[:n-1]...))
	step("one certificate removed", 0, fmt.Sprintf("c%d=remove", n-1))

	lb.mu.Lock()
	clear(lb.serving) // a restart that lost every certificate
	lb.mu.Unlock()
	lb.questions()
	d.pass(ctx)
	if all, _ := lb.questions(); all == 0 {
		t.Fatal("the full pass after a restart did not ask HAProxy for every store")
	}
	if got := d.decidedLast(); got != n-1 {
		t.Fatalf("after HAProxy restarted: the pass decided %d certificates, want all %d", got, n-1)
	}
	// Every certificate has an action again: a push for each, but c5's
	// renewal and c7's order, which never ran; and c49's removal.
	pushes := 0
	jobs := queued(d)
	for _, j := range jobs {
		if strings.HasSuffix(j, "=push") {
			pushes++
		}
	}
	if pushes != n-3 || len(jobs) != n {
		t.Fatalf("after HAProxy restarted: queued %v, want %d pushes of %d actions", jobs, n-3, n)
	}
}

// A certificate whose timer is due is decided at the pass that the timer
// asks for, and no other is.
func TestDueTimerWakesExactlyItsCertificate(t *testing.T) {
	clk := newClock(time.Now())
	wake := clk.Now().Add(5 * time.Minute)
	d, _, _ := servedDaemon(t, 20, clk, func(i int, r *store.Record) {
		if i == 4 {
			r.ARICheckAt = wake
		}
	})
	ctx := t.Context()
	if next := d.pass(ctx); !next.Equal(wake) {
		t.Fatalf("the next pass is due at %v, want c4's renewal information check at %v", next, wake)
	}
	clk.add(time.Minute)
	d.pass(ctx)
	if got, jobs := d.decidedLast(), queued(d); got != 0 || len(jobs) != 0 {
		t.Fatalf("a pass before the timer decided %d certificates and queued %v", got, jobs)
	}
	clk.set(wake)
	d.pass(ctx)
	if got, jobs := d.decidedLast(), queued(d); got != 1 || fmt.Sprint(jobs) != "[c4=refresh-ari]" {
		t.Fatalf("the due pass decided %d certificates and queued %v, want c4 alone to refresh", got, jobs)
	}
}

func TestTimersKeepTheLatestTimeOfEachName(t *testing.T) {
	t0 := time.Now()
	tm := newTimers()
	for i := range 200 {
		tm.set("moving", t0.Add(time.Duration(200-i)*time.Second)) // each set leaves a dead entry
	}
	tm.set("b", t0.Add(150*time.Second))
	tm.set("c", t0.Add(10*time.Second))
	tm.drop("c")
	if got := tm.next(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("next = %v, want moving's last time", got.Sub(t0))
	}
	if len(tm.h) > 2*len(tm.at)+64 {
		t.Fatalf("%d entries for %d names: dead ones are not compacted", len(tm.h), len(tm.at))
	}
	if got := tm.due(t0.Add(150*time.Second), nil); fmt.Sprint(got) != "[moving b]" {
		t.Fatalf("due = %v, want moving then b", got)
	}
	if got := tm.next(); !got.IsZero() {
		t.Fatalf("next after all were due = %v", got)
	}
}

// What every certificate depends on makes the pass look at every one: an
// instance that stops answering, one without an Epoch, and the safety full
// pass after fullEvery.
func TestFullPassWhenWhatAllDependOnChanges(t *testing.T) {
	clk := newClock(time.Now())
	const n = 10
	d, _, lb := servedDaemon(t, n, clk, nil)
	ctx := t.Context()
	pass := func(what string, want int) {
		t.Helper()
		d.pass(ctx)
		if got := d.decidedLast(); got != want {
			t.Fatalf("%s: the pass decided %d certificates, want %d", what, got, want)
		}
	}
	pass("first pass", n)
	pass("nothing changed", 0)
	lb.mu.Lock()
	lb.down = errTransient
	lb.mu.Unlock()
	pass("the instance stopped answering", n)
	pass("the instance is held back", 0)
	clk.add(fullEvery)
	pass("the safety pass is due", n)

	d2, _, lb2 := servedDaemon(t, n, clk, nil)
	d2.opt.HAProxies = []HAProxy{noEpoch{lb2}}
	for range 2 {
		d2.pass(ctx)
		if got := d2.decidedLast(); got != n {
			t.Fatalf("an HAProxy without Epoch: the pass decided %d certificates, want all %d", got, n)
		}
	}
}
