package daemon

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// world is a store and what two HAProxy instances serve, for the removal
// policy's table.
type world struct {
	t    *testing.T
	now  time.Time
	recs map[string]*store.Record
	srv  served
}

func newWorld(t *testing.T) *world {
	return &world{t: t, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), recs: map[string]*store.Record{},
		srv: served{"lb1": {}, "lb2": {}}}
}

// issued stores c and has the named instances serve it ("" for none).
func (w *world) issued(c configs.Certificate, on ...string) *world {
	r, serial := validRecord(w.t, c, w.now)
	w.recs[c.Name] = r
	for _, inst := range on {
		w.srv[inst][c.Name] = serial
	}
	return w
}

func (w *world) removedAt(name string) *world {
	w.recs[name].RemovedAt = w.now.Add(-time.Hour)
	return w
}

func (w *world) silent(inst string) *world {
	w.srv[inst] = nil
	return w
}

func (w *world) stale(inst, name string) *world {
	w.srv[inst][name] = big.NewInt(1)
	return w
}

func TestPlanRemovals(t *testing.T) {
	a, b, c, dd := cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test"), cert("d", "d.test")
	both := []string{"lb1", "lb2"}
	renamed := cert("new", "a.test")
	for _, tc := range []struct {
		name    string
		world   func(w *world) *world
		desired []configs.Certificate
		letGo   []string
		limit   int
		want    string // name=verdict, sorted by name
		reason  string // a part of the first reason
	}{
		{name: "nothing left", limit: 2, desired: []configs.Certificate{a},
			world: func(w *world) *world { return w.issued(a, both...) }, want: ""},
		{name: "within the limit", limit: 2, desired: []configs.Certificate{c},
			world: func(w *world) *world { return w.issued(a, both...).issued(b, both...).issued(c, both...) },
			want:  "a=remove b=remove", reason: "no longer in the domains file"},
		{name: "over the limit: all held", limit: 2,
			world: func(w *world) *world { return w.issued(a, both...).issued(b, both...).issued(c, "lb1") },
			want:  "a=held b=held c=held", reason: "3 certificates left the domains file, more than safety.removal_limit (2)"},
		{name: "no limit", limit: 0,
			world: func(w *world) *world { return w.issued(a, both...).issued(b, both...).issued(c, both...) },
			want:  "a=remove b=remove c=remove"},
		{name: "confirmed ones are not counted again", limit: 2, letGo: []string{"a", "b"},
			world: func(w *world) *world {
				return w.issued(a, both...).issued(b, both...).issued(c, both...).issued(dd, both...)
			},
			want: "a=remove b=remove c=remove d=remove"},
		{name: "a bigger change after a confirmation is held again", limit: 1, letGo: []string{"a"},
			world: func(w *world) *world {
				return w.issued(a, both...).issued(b, both...).issued(c, both...)
			},
			want: "a=remove b=held c=held", reason: "no longer in the domains file"},
		{name: "not served anywhere: not counted", limit: 1,
			world: func(w *world) *world { return w.issued(a).issued(b).issued(c) },
			want:  "a=remove b=remove c=remove"},
		{name: "a silent HAProxy may serve them all", limit: 2,
			world: func(w *world) *world { return w.issued(a).issued(b).issued(c).silent("lb2") },
			want:  "a=held b=held c=held"},
		{name: "removed, served again by one: cleanup, not counted", limit: 2,
			world: func(w *world) *world {
				return w.issued(a, "lb1").removedAt("a").issued(b, both...).issued(c, both...).issued(dd).removedAt("d")
			},
			want: "a=remove b=remove c=remove"},
		{name: "rename: the new one is not issued yet", limit: 10, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...) },
			want:  "a=waiting", reason: "kept until new, which covers a.test, is served by every HAProxy: it is not issued yet"},
		{name: "rename: served by one HAProxy only", limit: 10, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...).issued(renamed, "lb1") },
			want:  "a=waiting", reason: "lb2 does not serve it yet"},
		{name: "rename: an old serial served", limit: 10, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...).issued(renamed, "lb1").stale("lb2", "new") },
			want:  "a=waiting", reason: "lb2 does not serve it yet"},
		{name: "rename: a silent HAProxy cannot show it", limit: 10, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...).issued(renamed, "lb1").silent("lb2") },
			want:  "a=waiting", reason: "lb2 does not answer"},
		{name: "rename: served everywhere", limit: 10, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...).issued(renamed, both...) },
			want:  "a=remove"},
		{name: "a name moved to a certificate that does not serve it yet", limit: 10,
			desired: []configs.Certificate{cert("b", "b.test", "a.test")},
			world:   func(w *world) *world { return w.issued(a, both...).issued(b, both...) },
			want:    "a=waiting", reason: "kept until b, which covers a.test"},
		{name: "a wildcard that covers the name", limit: 10, desired: []configs.Certificate{cert("wild", "*.x.test")},
			world: func(w *world) *world { return w.issued(cert("www", "www.x.test"), both...) },
			want:  "www=waiting", reason: "covers www.x.test"},
		{name: "a name the old wildcard covered", limit: 10, desired: []configs.Certificate{cert("www", "www.x.test")},
			world: func(w *world) *world { return w.issued(cert("wild", "*.x.test"), both...) },
			want:  "wild=waiting", reason: "kept until www, which covers *.x.test"},
		{name: "no overlap: no wait", limit: 10, desired: []configs.Certificate{cert("other", "a.other.test", "*.y.test")},
			world: func(w *world) *world { return w.issued(cert("www", "www.x.test", "x.test", "a.b.y.test"), both...) },
			want:  "www=remove"},
		{name: "held comes before waiting", limit: 1, desired: []configs.Certificate{renamed},
			world: func(w *world) *world { return w.issued(a, both...).issued(b, both...) },
			want:  "a=held b=held"},
		{name: "a dual certificate waits for both halves", limit: 10,
			desired: []configs.Certificate{dual("new", "a.test")},
			world: func(w *world) *world {
				w.issued(a, both...)
				r, serial := validRecord(t, dual("new", "a.test"), w.now)
				w.recs["new"] = r
				w.srv["lb1"]["new"], w.srv["lb2"]["new"] = serial, serial
				return w
			},
			want: "a=waiting", reason: "its rsa2048 bundle is not issued yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(newWorld(t))
			want := map[string]int{}
			for i, c := range tc.desired {
				want[c.Name] = i
			}
			letGo := map[string]bool{}
			for _, n := range tc.letGo {
				letGo[n] = true
			}
			rms := planRemovals(removalInput{desired: tc.desired, want: want, recs: w.recs, srv: w.srv, letGo: letGo, limit: tc.limit})
			var got []string
			for _, rm := range rms {
				got = append(got, fmt.Sprintf("%s=%s", rm.name, rm.verdict))
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("verdicts %v, want %s", got, tc.want)
			}
			if tc.reason != "" && !strings.Contains(rms[0].reason, tc.reason) {
				t.Fatalf("reason %q, want it to say %q", rms[0].reason, tc.reason)
			}
		})
	}
}

func dual(name string, domains ...string) configs.Certificate {
	c := cert(name, domains...)
	c.KeyTypes = []configs.KeyType{configs.ECDSAP256, configs.RSA2048}
	return c
}
