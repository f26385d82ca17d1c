package daemon

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// statusDaemon holds n statuses, cert-00000 to cert-(n-1); every third is
// waiting, the rest ok; every hundredth has a push error.
func statusDaemon(n int) *Daemon {
	d := &Daemon{status: make(map[string]*certStatus, n)}
	for i := range n {
		name := fmt.Sprintf("cert-%05d", i)
		st := "ok"
		if i%3 == 0 {
			st = "waiting: backoff"
		}
		cs := &certStatus{CertStatus: CertStatus{Name: name, State: st, Loaded: map[string]string{"lb1": "ab"}}, pushErr: map[string]string{}}
		if i%100 == 0 {
			cs.pushErr["lb1"] = "x"
		}
		d.status[name] = cs
	}
	return d
}

func names(page []CertStatus) []string {
	out := make([]string, len(page))
	for i, s := range page {
		out[i] = s.Name
	}
	return out
}

func TestStatusPageWalksEveryMatchOnceInOrder(t *testing.T) {
	d := statusDaemon(1000)
	for _, state := range []string{"", "ok", "waiting"} {
		var all []string
		after, pages := "", 0
		for {
			page, total, rest := d.StatusPage(StatusQuery{State: state, After: after, Limit: 70})
			want := map[string]int{"": 1000, "ok": 666, "waiting": 334}[state]
			if total != want {
				t.Fatalf("state %q: total %d, want %d", state, total, want)
			}
			all = append(all, names(page)...)
			pages++
			if rest == 0 {
				break
			}
			if len(page) != 70 || rest != want-len(all) {
				t.Fatalf("state %q page %d: %d rows, %d more; seen %d of %d", state, pages, len(page), rest, len(all), want)
			}
			after = page[len(page)-1].Name
		}
		full, _, _ := d.StatusPage(StatusQuery{State: state})
		if !slices.IsSorted(all) || !slices.Equal(all, names(full)) {
			t.Fatalf("state %q: pages give %d names, the full list %d, or out of order", state, len(all), len(full))
		}
	}
}

func TestStatusPageCopiesPushErrors(t *testing.T) {
	d := statusDaemon(3)
	page, _, _ := d.StatusPage(StatusQuery{Limit: 1})
	page[0].PushErrors["lb1"] = "changed"
	if d.status["cert-00000"].pushErr["lb1"] != "x" {
		t.Fatal("a page shares its push errors with the daemon")
	}
	one, ok := d.StatusOf("cert-00000")
	if !ok || one.Name != "cert-00000" || one.PushErrors["lb1"] != "x" {
		t.Fatalf("StatusOf: %+v %v", one, ok)
	}
	if _, ok := d.StatusOf("nope"); ok {
		t.Fatal("StatusOf an unknown name")
	}
}

// BenchmarkStatusPage is one page of 100 at 100,000 certificates, against
// Status's full copy and sort.
func BenchmarkStatusPage(b *testing.B) {
	d := statusDaemon(100000)
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			d.StatusPage(StatusQuery{State: "ok", After: "cert-50000", Limit: 100})
		}
	})
	b.Run("status", func(b *testing.B) {
		for b.Loop() {
			d.Status()
		}
	})
}

// TestStatusReadyFollowsWhatIsServed: StatusOf's Ready is the value behind
// hotcert_certificate_ready, false while an HAProxy does not answer.
func TestStatusReadyFollowsWhatIsServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMetrics()
		lb := newFaultyHAProxy("lb1")
		r := startRigWith(t, newFakeStore(), func(o *Options) { o.Metrics = m }, lb)
		defer r.stop()
		r.d.SetDesired(desired(cert("ok", "ok.test")))
		settle()
		wantReady := func(want bool) {
			t.Helper()
			st, ok := r.d.StatusOf("ok")
			got, _ := m.get("ok")
			if !ok || st.Ready != want || got.ready != want {
				t.Fatalf("ready: status %v (%v), metric %v; want %v", st.Ready, ok, got.ready, want)
			}
		}
		wantReady(true)
		lb.set(nil, errDown)
		time.Sleep(31 * time.Second) // the verify interval
		settle()
		wantReady(false)
	})
}
