package daemon

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// rig runs a Daemon inside a synctest bubble, whose clock is the fake
// time.Now that the daemon is given.
type rig struct {
	d    *Daemon
	st   *fakeStore
	lbs  []*fakeHAProxy
	iss  *fakeIssuer
	stop func()
}

func startRig(t *testing.T, st *fakeStore, edit func(*Options), lbs ...*fakeHAProxy) *rig {
	t.Helper()
	if len(lbs) == 0 {
		lbs = []*fakeHAProxy{newFakeHAProxy("lb1")}
	}
	iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
	opt := Options{Issuer: iss, Store: st, Now: time.Now, Workers: 4}
	for _, l := range lbs {
		opt.HAProxies = append(opt.HAProxies, l)
	}
	if edit != nil {
		edit(&opt)
	}
	if fi, ok := opt.Issuer.(*fakeIssuer); ok {
		iss = fi
	}
	d := New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	r := &rig{d: d, st: st, lbs: lbs, iss: iss}
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return r
}

// settle lets every goroutine of the bubble run until all are blocked.
func settle() { synctest.Wait() }

func TestLoopIssuesPushesThenRests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, nil)
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test"), cert("b", "b.test", "www.b.test")))
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("orders = %d, want 2", n)
		}
		for _, n := range []string{"a", "b"} {
			rec := st.get(n)
			if rec == nil {
				t.Fatalf("%s not stored", n)
			}
			leaf, _ := bundle.Leaf(rec.Bundles["ecdsa-p256"].PEM)
			if got := r.lbs[0].served(n); got == nil || got.Cmp(leaf.SerialNumber) != 0 {
				t.Fatalf("%s: HAProxy serves %v, store holds %v", n, got, leaf.SerialNumber)
			}
			if rec.Ordering || rec.Attempts != 0 {
				t.Fatalf("%s: ordering=%v attempts=%d after success", n, rec.Ordering, rec.Attempts)
			}
		}
		pushes, _ := r.lbs[0].counts()
		puts := st.puts
		// Level triggered and idempotent: passes without a change do nothing.
		for range 5 {
			r.d.Kick()
			time.Sleep(10 * time.Minute)
			settle()
		}
		if n := r.iss.count(); n != 2 {
			t.Fatalf("passes without a change ordered again: %d orders", n)
		}
		if p, _ := r.lbs[0].counts(); p != pushes {
			t.Fatalf("passes without a change pushed again: %d pushes, want %d", p, pushes)
		}
		if st.puts != puts {
			t.Fatalf("passes without a change wrote the store: %d puts, want %d", st.puts, puts)
		}
		if st.lists != 1 {
			t.Fatalf("the store was listed %d times; the daemon should read it once and keep it", st.lists)
		}
		status := r.d.Status()
		if len(status) != 2 || status[0].State != "ok" || status[0].Loaded["lb1"] == "" {
			t.Fatalf("status = %+v", status)
		}
	})
}

func TestRestartWithValidCertificatesOrdersNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cert("a", "a.test"), cert("b", "b.test")
		ra, sa := validRecord(t, a, time.Now())
		rb, sb := validRecord(t, b, time.Now())
		lb := newFakeHAProxy("lb1")
		lb.serving = map[string]*bigInt{"a": sa, "b": sb}
		restarted := newFakeHAProxy("lb2") // lost what was pushed at runtime
		r := startRig(t, newFakeStore(ra, rb), nil, lb, restarted)
		defer r.stop()
		r.d.SetDesired(desired(a, b))
		settle()
		if n := r.iss.count(); n != 0 {
			t.Fatalf("a restart ordered %d certificates that are still valid", n)
		}
		if p, _ := lb.counts(); p != 0 {
			t.Fatalf("lb1 already served everything but got %d pushes", p)
		}
		if restarted.served("a").Cmp(sa) != 0 || restarted.served("b").Cmp(sb) != 0 {
			t.Fatalf("the restarted HAProxy did not get the stored certificates back: %v", restarted.serving)
		}
	})
}

// TestTimerAimsAtTheEarliestRenewal: with a verify interval longer than the
// wait, the renewal still happens at its moment, not at the next poll.
func TestTimerAimsAtTheEarliestRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, func(o *Options) {
			o.Verify = 48 * time.Hour
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 6 * 24 * time.Hour}
		})
		defer r.stop()
		start := time.Now()
		r.d.SetDesired(desired(cert("short", "short.test"), cert("long", "long.test")))
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("orders = %d, want 2", n)
		}
		// Six-day certificates renew with half their lifetime left.
		time.Sleep(3*24*time.Hour - time.Second)
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("renewed early: %d orders", n)
		}
		time.Sleep(2 * time.Second)
		settle()
		if n := r.iss.count(); n != 4 {
			t.Fatalf("orders at the renewal time = %d, want 4", n)
		}
		if el := time.Since(start); el > 3*24*time.Hour+time.Second {
			t.Fatalf("renewed %v after issuance", el)
		}
	})
}

// TestQueueIsBoundedAndDeduplicated: many kicks while orders are running
// neither exceed the workers nor order a certificate twice.
func TestQueueIsBoundedAndDeduplicated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		r := startRig(t, newFakeStore(), func(o *Options) {
			o.Workers = 2
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour, gate: gate}
		})
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test"), cert("d", "d.test"), cert("e", "e.test")))
		for range 20 {
			r.d.Kick()
			time.Sleep(time.Second)
		}
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("%d orders running with 2 workers", n)
		}
		close(gate)
		settle()
		if n := r.iss.count(); n != 5 {
			t.Fatalf("orders = %d, want one per certificate (5)", n)
		}
		if r.iss.maxRun != 2 {
			t.Fatalf("at most %d orders ran at once, want 2", r.iss.maxRun)
		}
	})
}

func TestFailedOrderBacksOffAndPersistsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, func(o *Options) {
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour,
				fail: func(n int) error {
					if n == 1 {
						return errTransient
					}
					return nil
				}}
		})
		defer r.stop()
		t0 := time.Now()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		rec := st.get("a")
		if rec == nil || rec.Attempts != 1 || !rec.NextAttempt.Equal(t0.Add(time.Minute)) || rec.LastError == "" || rec.Ordering {
			t.Fatalf("after a failure the record is %+v", rec)
		}
		time.Sleep(59 * time.Second)
		settle()
		if n := r.iss.count(); n != 1 {
			t.Fatalf("retried during the backoff: %d orders", n)
		}
		time.Sleep(2 * time.Second)
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("orders after the backoff = %d, want 2", n)
		}
		if rec := st.get("a"); rec.Attempts != 0 || len(rec.Bundles) != 1 {
			t.Fatalf("after the retry succeeded: %+v", rec)
		}
		if s := r.d.Status(); s[0].LastError != "" {
			t.Fatalf("status still shows the old error %q", s[0].LastError)
		}
	})
}

// TestEditedDefinitionEscapesBackoff: a backoff belongs to the definition
// that failed; an edit is tried at once.
func TestEditedDefinitionEscapesBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, func(o *Options) {
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour,
				fail: func(n int) error {
					if n == 1 {
						return errTransient
					}
					return nil
				}}
		})
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		r.d.SetDesired(desired(cert("a", "a.test", "www.a.test")))
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("orders = %d; the edited certificate should be ordered at once", n)
		}
		if rec := st.get("a"); len(rec.Domains) != 2 {
			t.Fatalf("stored domains %v", rec.Domains)
		}
	})
}

func TestRemovedCertificateLeavesHAProxyAndIsForgottenLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cert("a", "a.test"), cert("b", "b.test")
		ra, sa := validRecord(t, a, time.Now())
		rb, sb := validRecord(t, b, time.Now())
		lb := newFakeHAProxy("lb1")
		lb.serving = map[string]*bigInt{"a": sa, "b": sb}
		st := newFakeStore(ra, rb)
		r := startRig(t, st, func(o *Options) { o.Retain = 24 * time.Hour }, lb)
		defer r.stop()
		r.d.SetDesired(desired(a))
		settle()
		if lb.served("b") != nil || lb.served("a") == nil {
			t.Fatalf("after removing b, HAProxy serves %v", lb.serving)
		}
		rec := st.get("b")
		if rec == nil || rec.RemovedAt.IsZero() || len(rec.Bundles) != 1 {
			t.Fatalf("removed certificate's key and state should stay: %+v", rec)
		}
		if len(r.d.Status()) != 1 {
			t.Fatalf("status lists %d certificates, want 1", len(r.d.Status()))
		}
		time.Sleep(23 * time.Hour)
		settle()
		if st.get("b") == nil {
			t.Fatal("forgotten before the retention period")
		}
		time.Sleep(2 * time.Hour)
		settle()
		if st.get("b") != nil {
			t.Fatal("still kept after the retention period")
		}
		if r.iss.count() != 0 {
			t.Fatalf("removal ordered %d certificates", r.iss.count())
		}
	})
}

// TestReAddedWithinRetentionCostsNoOrder: the kept key and state serve again.
func TestReAddedWithinRetentionCostsNoOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := cert("a", "a.test")
		ra, sa := validRecord(t, a, time.Now())
		ra.RemovedAt = time.Now().Add(-time.Hour)
		lb := newFakeHAProxy("lb1")
		r := startRig(t, newFakeStore(ra), nil, lb)
		defer r.stop()
		r.d.SetDesired(desired(a))
		settle()
		if r.iss.count() != 0 || lb.served("a").Cmp(sa) != 0 {
			t.Fatalf("re-added: %d orders, HAProxy serves %v", r.iss.count(), lb.served("a"))
		}
		if rec := r.st.get("a"); !rec.RemovedAt.IsZero() {
			t.Fatalf("re-added certificate still marked removed at %v", rec.RemovedAt)
		}
	})
}

func TestHAProxyDownIsReportedAndCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lb := newFakeHAProxy("lb1")
		lb.down = context.DeadlineExceeded
		r := startRig(t, newFakeStore(), nil, lb)
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		down, _ := r.d.Health()
		if down["lb1"] == "" {
			t.Fatalf("health does not report lb1 down: %v", down)
		}
		lb.mu.Lock()
		lb.down = nil
		lb.mu.Unlock()
		time.Sleep(31 * time.Second) // the verify interval
		settle()
		if lb.served("a") == nil {
			t.Fatal("lb1 did not get the certificate once it answered")
		}
		if down, _ := r.d.Health(); len(down) != 0 {
			t.Fatalf("health still reports %v", down)
		}
	})
}

func TestConfigErrorKeepsTheLastGoodSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, nil)
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		r.d.ConfigError(errTransient)
		r.d.Kick()
		settle()
		if r.d.ConfigErr() == nil {
			t.Fatal("ConfigErr lost the error")
		}
		if r.lbs[0].served("a") == nil || len(r.d.Status()) != 1 {
			t.Fatal("a rejected file changed what is served")
		}
		if _, removes := r.lbs[0].counts(); removes != 0 {
			t.Fatalf("a rejected file removed %d certificates", removes)
		}
	})
}

// TestInterruptedOrders: an order that a crash interrupted is retried at
// once the first times; a crash loop backs off.
func TestInterruptedOrders(t *testing.T) {
	cases := []struct {
		attempts int
		wantNow  bool
	}{{0, true}, {1, true}, {2, false}}
	for _, tc := range cases {
		synctest.Test(t, func(t *testing.T) {
			a := cert("a", "a.test")
			rec := &store.Record{Name: "a", Ordering: true, Attempts: tc.attempts, Spec: specOf(a), Bundles: map[string]store.Bundle{}}
			st := newFakeStore(rec)
			r := startRig(t, st, nil)
			defer r.stop()
			r.d.SetDesired(desired(a))
			settle()
			if got := r.iss.count() == 1; got != tc.wantNow {
				t.Fatalf("after %d interrupted orders, ordered at once = %v, want %v", tc.attempts+1, got, tc.wantNow)
			}
			if !tc.wantNow {
				got := st.get("a")
				if got.Attempts != tc.attempts+1 || got.Ordering || got.NextAttempt.IsZero() {
					t.Fatalf("interrupted record = %+v", got)
				}
				if wait := time.Until(got.NextAttempt); wait != interruptedBase {
					t.Fatalf("third interrupted order waits %v, want %v", wait, interruptedBase)
				}
				time.Sleep(interruptedBase + time.Second)
				settle()
				if r.iss.count() != 1 {
					t.Fatal("never retried after the backoff")
				}
			}
		})
	}
}

func TestInterruptedBackoffDoublesFromTenSeconds(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	for i, w := range want {
		if got := interruptedBackoff(i + 1); got != w {
			t.Errorf("interruptedBackoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := interruptedBackoff(40); got != 6*time.Hour {
		t.Errorf("interruptedBackoff(40) = %v, want the 6 h cap", got)
	}
}
