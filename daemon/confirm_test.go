package daemon

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// heldGauge records what the daemon reports as hotcert_removals_held.
type heldGauge struct {
	nopMetrics
	mu   sync.Mutex
	sets []int
}

func (g *heldGauge) RemovalsHeld(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sets = append(g.sets, n)
}

func (g *heldGauge) values() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sets)
}

// logLines keeps the messages the daemon logs, to count them.
type logLines struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogLines() logLines { return logLines{mu: &sync.Mutex{}, msgs: new([]string)} }

func (l logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logLines) WithGroup(string) slog.Handler            { return l }

func (l logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.msgs = append(*l.msgs, r.Message)
	return nil
}

// count is how many messages began with prefix.
func (l logLines) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range *l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// servedRig starts a daemon whose store holds certs, each served by lb1,
// with a removal limit.
func servedRig(t *testing.T, limit int, certs ...configs.Certificate) (*rig, *heldGauge, logLines) {
	lb := newFakeHAProxy("lb1")
	var recs []*store.Record
	for _, c := range certs {
		r, serial := validRecord(t, c, time.Now())
		recs = append(recs, r)
		lb.serving[c.Name] = serial
	}
	g, logs := &heldGauge{}, newLogLines()
	r := startRig(t, newFakeStore(recs...), func(o *Options) {
		o.RemovalLimit, o.Metrics = limit, g
		o.Logger = slog.New(logs)
	}, lb)
	r.d.SetDesired(desired(certs...))
	settle()
	return r, g, logs
}

func (r *rig) serving(names ...string) []string {
	var out []string
	for _, n := range names {
		if r.lbs[0].served(n) != nil {
			out = append(out, n)
		}
	}
	return out
}

// pairs prints name=state for each item, to compare with a want string.
func pairs[T any](items []T, pair func(T) (string, string)) string {
	out := make([]string, len(items))
	for i, it := range items {
		k, v := pair(it)
		out[i] = k + "=" + v
	}
	return strings.Join(out, " ")
}

func states(list []RemovalStatus) string {
	return pairs(list, func(s RemovalStatus) (string, string) { return s.Name, s.State })
}

func TestEmptiedFileHoldsRemovalsUntilConfirmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test")
		r, gauge, logs := servedRig(t, 2, a, b, c)
		defer r.stop()
		r.d.SetDesired(desired())
		for range 3 { // passes that see the same hold log it once
			settle()
			time.Sleep(time.Minute)
			r.d.Kick()
		}
		settle()
		if got := r.serving("a", "b", "c"); len(got) != 3 {
			t.Fatalf("an emptied file removed certificates over the limit; still served: %v", got)
		}
		if got := states(r.d.Removals()); got != "a=held b=held c=held" {
			t.Fatalf("removals %s, want all three held", got)
		}
		if got := gauge.values(); !slices.Equal(got, []int{3}) {
			t.Fatalf("hotcert_removals_held set to %v, want [3]", got)
		}
		if n := logs.count("removals held"); n != 1 {
			t.Fatalf("the hold was logged %d times, want once", n)
		}

		if got := r.d.ConfirmRemovals(); strings.Join(got, " ") != "a b c" {
			t.Fatalf("ConfirmRemovals = %v", got)
		}
		settle()
		if got := r.serving("a", "b", "c"); len(got) != 0 {
			t.Fatalf("confirmed removals still served: %v", got)
		}
		if got := gauge.values(); !slices.Equal(got, []int{3, 0}) {
			t.Fatalf("hotcert_removals_held set to %v, want [3 0]", got)
		}
		if got := r.d.Removals(); len(got) != 0 {
			t.Fatalf("removals after they were done: %+v", got)
		}
		if got := r.d.ConfirmRemovals(); len(got) != 0 {
			t.Fatalf("nothing held, yet ConfirmRemovals confirmed %v", got)
		}
	})
}

// A confirmation covers what was held when it was given: a bigger removal
// decided later is held again.
func TestConfirmationDoesNotCoverALaterRemoval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		certs := []configs.Certificate{cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test"), cert("d", "d.test"), cert("e", "e.test")}
		r, _, _ := servedRig(t, 1, certs...)
		defer r.stop()
		r.lbs[0].down = errTransient // removals cannot finish: the confirmed ones stay under way
		r.d.SetDesired(desired(certs[2:]...))
		time.Sleep(time.Minute)
		settle()
		if got := states(r.d.Removals()); got != "a=held b=held" {
			t.Fatalf("removals %s, want a and b held", got)
		}
		r.d.ConfirmRemovals()
		r.d.SetDesired(desired(certs[4]))
		time.Sleep(time.Minute)
		settle()
		got := states(r.d.Removals())
		if !strings.Contains(got, "c=held d=held") || strings.Contains(got, "a=held") || strings.Contains(got, "b=held") {
			t.Fatalf("removals %s, want a and b under way, c and d held", got)
		}
	})
}

func TestChangeWithinTheLimitAppliesHeldRemovals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c, d := cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test"), cert("d", "d.test")
		r, gauge, _ := servedRig(t, 2, a, b, c, d)
		defer r.stop()
		r.d.SetDesired(desired())
		settle()
		if got := r.serving("a", "b", "c", "d"); len(got) != 4 {
			t.Fatalf("served %v, want all four held", got)
		}
		r.d.SetDesired(desired(c, d)) // the operator put two back
		settle()
		if got := r.serving("a", "b", "c", "d"); strings.Join(got, " ") != "c d" {
			t.Fatalf("served %v, want c and d: a and b are within the limit now", got)
		}
		if got := gauge.values(); !slices.Equal(got, []int{4, 0}) {
			t.Fatalf("hotcert_removals_held set to %v, want [4 0]", got)
		}
	})
}

// A renamed certificate keeps its old store until the new one is served.
func TestRenameKeepsTheOldStoreUntilTheNewIsServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := cert("old", "shop.test", "www.shop.test")
		r, _, logs := servedRig(t, 10, old)
		defer r.stop()
		r.iss.gate = make(chan struct{})
		r.d.SetDesired(desired(cert("new", "www.shop.test")))
		for range 3 {
			time.Sleep(time.Minute)
			r.d.Kick()
			settle()
		}
		if r.lbs[0].served("old") == nil {
			t.Fatal("the old store was removed while its replacement was still being ordered")
		}
		if got := r.d.Removals(); len(got) != 1 || got[0].State != "waiting" || !strings.Contains(got[0].Reason, "kept until new") {
			t.Fatalf("removals %+v, want old waiting for new", got)
		}
		if n := logs.count("removal waits"); n != 1 {
			t.Fatalf("the wait was logged %d times, want once", n)
		}
		close(r.iss.gate)
		settle()
		if r.lbs[0].served("new") == nil || r.lbs[0].served("old") != nil {
			t.Fatalf("after the order: new served %v, old served %v; want new only", r.lbs[0].served("new"), r.lbs[0].served("old"))
		}
	})
}
