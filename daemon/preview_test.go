package daemon

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/configs"
)

func entries(p *Plan) string {
	return pairs(p.Certificates, func(e PlanEntry) (string, string) { return e.Name, e.Action })
}

// Plan says what a pass would do with a candidate file and does none of it.
func TestPlanChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := cert("a", "a.test"), cert("b", "b.test"), cert("c", "c.test")
		r, gauge, _ := servedRig(t, 1, a, b, c)
		defer r.stop()
		pushes, removes := r.lbs[0].counts()
		status := r.d.Status()

		for _, tc := range []struct {
			name string
			doms []configs.Certificate
			want string
		}{
			{"an edit", []configs.Certificate{a, b, cert("new", "new.test"), cert("renamed", "c.test")},
				"a=nothing b=nothing c=waiting new=issue renamed=issue"},
			{"a removal within the limit", []configs.Certificate{a, b}, "a=nothing b=nothing c=remove"},
			{"an emptied file", nil, "a=held b=held c=held"},
		} {
			p, err := r.d.Plan(context.Background(), desired(tc.doms...))
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(p); got != tc.want {
				t.Errorf("%s: plan %s, want %s", tc.name, got, tc.want)
			}
		}
		p, _ := r.d.Plan(context.Background(), desired())
		if p.Counts["held"] != 3 || !strings.Contains(p.Certificates[0].Reason, "safety.removal_limit (1)") {
			t.Errorf("plan of an emptied file: %+v", p)
		}
		time.Sleep(time.Minute)
		settle()
		if n := r.iss.count(); n != 0 {
			t.Fatalf("a plan placed %d orders", n)
		}
		if p, rm := r.lbs[0].counts(); p != pushes || rm != removes {
			t.Fatalf("a plan pushed %d and removed %d", p-pushes, rm-removes)
		}
		if len(r.d.Removals()) != 0 || len(gauge.values()) != 0 || len(r.d.Status()) != len(status) {
			t.Fatalf("a plan changed the loop's state: removals %+v, held gauge %v", r.d.Removals(), gauge.values())
		}
	})
}

// A certificate backing off after a failure shows why, and a fault hold
// keeps a removal back, as in a pass.
func TestPlanShowsWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := cert("a", "a.test")
		r, _, _ := servedRig(t, 0, a)
		defer r.stop()
		rec := r.st.get("a")
		rec.Attempts, rec.Spec, rec.NextAttempt = 1, specOf(cert("a", "a.test", "www.a.test")), time.Now().Add(time.Hour)
		rec.LastError = "boom"
		if err := r.d.memo.Put(rec); err != nil {
			t.Fatal(err)
		}
		p, err := r.d.Plan(context.Background(), desired(cert("a", "a.test", "www.a.test")))
		if err != nil {
			t.Fatal(err)
		}
		if e := p.Certificates[0]; e.Action != "nothing" || e.Reason != "backing off after a failure" {
			t.Fatalf("plan %+v, want a wait for the backoff", e)
		}
	})
}
