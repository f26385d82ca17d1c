package daemon

import (
	"math/big"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// fakeHooks records the events it is given; full makes Run refuse them.
type fakeHooks struct {
	mu     sync.Mutex
	events []HookEvent
	full   bool
}

func (h *fakeHooks) Run(e HookEvent) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full {
		return false
	}
	h.events = append(h.events, e)
	return true
}

func (h *fakeHooks) got() []HookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func TestOpensslSerial(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{{0, "00"}, {0x0f, "0F"}, {0x80ab, "80AB"}, {0x1234, "1234"}, {0x10000, "010000"}} {
		if got := opensslSerial(big.NewInt(tc.in)); got != tc.want {
			t.Errorf("%#x: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDeployedDue(t *testing.T) {
	now := time.Now()
	c := cert("a", "a.test")
	rec, serial := validRecord(t, c, now)
	hex := opensslSerial(serial)
	other := big.NewInt(7)
	reported := rec.Clone()
	reported.Deployed = map[string]string{"ecdsa-p256": hex}
	renamed := rec.Clone()
	renamed.Domains = []string{"old.test"}
	dual := c
	dual.KeyTypes = []configs.KeyType{"ecdsa-p256", "rsa2048"}
	dualRec := rec.Clone()
	rsaPEM, rsaSerial := makeBundle(t, c.Domains, now, now.Add(time.Hour))
	dualRec.Bundles["rsa2048"] = store.Bundle{KeyType: "rsa2048", PEM: rsaPEM}
	dualRec.Deployed = map[string]string{"ecdsa-p256": hex}
	rsaName := bundle.Name("a", 1, "rsa2048")
	for _, tc := range []struct {
		what string
		c    configs.Certificate
		rec  *store.Record
		srv  served
		want []int
	}{
		{"served everywhere, never reported", c, rec, served{"lb1": {"a": serial}, "lb2": {"a": serial}}, []int{0}},
		{"already reported", c, reported, served{"lb1": {"a": serial}}, nil},
		{"one instance serves an older serial", c, rec, served{"lb1": {"a": serial}, "lb2": {"a": other}}, nil},
		{"one instance does not answer", c, rec, served{"lb1": {"a": serial}, "lb2": nil}, nil},
		{"no record", c, nil, served{"lb1": {"a": serial}}, nil},
		{"names changed, not issued yet", c, renamed, served{"lb1": {"a": serial}}, nil},
		{"no instance", c, rec, served{}, nil},
		{"dual: only the new half", dual, dualRec, served{"lb1": {"a": serial, rsaName: rsaSerial}}, []int{1}},
		{"dual: a half not served yet", dual, dualRec, served{"lb1": {"a": serial}}, nil},
	} {
		if got := deployedDue(tc.c, tc.rec, tc.srv); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, got, tc.want)
		}
	}
}

// The deployed hook runs once per new serial once HAProxy serves it: not
// again at later passes, nor after a restart, and again after a renewal.
func TestDeployedRunsOncePerSerial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		hooks := &fakeHooks{}
		withHooks := func(o *Options) { o.Hooks = hooks }
		r := startRig(t, st, withHooks)
		c := cert("a", "a.test")
		r.d.SetDesired(desired(c))
		settle()
		time.Sleep(2 * time.Minute) // several verification passes
		settle()
		ev := hooks.got()
		leaf, _ := bundle.Leaf(st.get("a").Bundles["ecdsa-p256"].PEM)
		if len(ev) != 1 || ev[0].Name != HookDeployed || ev[0].Cert != "a" || ev[0].Serial != opensslSerial(leaf.SerialNumber) ||
			!ev[0].NotAfter.Equal(leaf.NotAfter) || ev[0].Store != "a" || ev[0].KeyType != "ecdsa-p256" || !slices.Equal(ev[0].Domains, c.Domains) {
			t.Fatalf("events %+v, want one deployed for serial %s", ev, opensslSerial(leaf.SerialNumber))
		}
		if got := st.get("a").Deployed["ecdsa-p256"]; got != ev[0].Serial {
			t.Fatalf("recorded %q, want %s", got, ev[0].Serial)
		}
		r.stop()

		again := &fakeHooks{}
		r = startRig(t, st, func(o *Options) { o.Hooks = again }, r.lbs...)
		r.d.SetDesired(desired(c))
		settle()
		time.Sleep(time.Minute)
		settle()
		if ev := again.got(); len(ev) != 0 {
			t.Fatalf("a restart ran the hook again: %+v", ev)
		}
		if err := r.d.Renew("a"); err != nil {
			t.Fatal(err)
		}
		settle()
		if ev := again.got(); len(ev) != 1 || ev[0].Serial == hooks.got()[0].Serial {
			t.Fatalf("after a renewal: %+v, want one deployed for the new serial", ev)
		}
		r.stop()
	})
}

// A full queue defers the deployed hook to a later pass instead of losing
// it, and records nothing meanwhile.
func TestDeployedOfferedAgainWhenRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		hooks := &fakeHooks{full: true}
		r := startRig(t, st, func(o *Options) { o.Hooks = hooks })
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		if d := st.get("a").Deployed; len(d) != 0 {
			t.Fatalf("recorded %v for a hook that did not run", d)
		}
		hooks.mu.Lock()
		hooks.full = false
		hooks.mu.Unlock()
		time.Sleep(31 * time.Second)
		settle()
		if ev := hooks.got(); len(ev) != 1 {
			t.Fatalf("events %+v, want the deferred one", ev)
		}
	})
}

// The failed hook runs once per failed attempt, with the error; a never
// issued certificate has no bundle to describe.
func TestFailedHookPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		hooks := &fakeHooks{}
		r := startRig(t, st, func(o *Options) {
			o.Hooks = hooks
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour,
				fail: func(n int) error {
					if n <= 2 {
						return errTransient
					}
					return nil
				}}
		})
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		time.Sleep(10 * time.Minute)
		settle()
		var failed, deployed int
		for _, e := range hooks.got() {
			switch e.Name {
			case HookFailed:
				failed++
				if e.Error == "" || e.Serial != "" || e.Store != "" || !e.NotAfter.IsZero() || e.Cert != "a" {
					t.Errorf("failed event %+v", e)
				}
			case HookDeployed:
				deployed++
			}
		}
		if failed != 2 || deployed != 1 || r.iss.count() != 3 {
			t.Fatalf("%d failed and %d deployed hooks for %d orders, want 2, 1 and 3", failed, deployed, r.iss.count())
		}
	})
}
