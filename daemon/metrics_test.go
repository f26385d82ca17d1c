package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// TestMetricsShowWhatAlertsNeed: a certificate has a ready series from its
// first pass, 0 until every HAProxy serves it (also when the CA refuses it),
// an expiry only once issued, and none once it leaves the file, even when
// it never got a record; an HAProxy that stops answering is down.
func TestMetricsShowWhatAlertsNeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFakeMetrics()
		st := newFakeStore()
		ok, refused, held := cert("ok", "ok.test"), cert("refused", "refused.test"), cert("held", "held.test")
		lb := newFaultyHAProxy("lb1")
		r := startRigWith(t, st, func(o *Options) {
			o.Metrics = m
			o.Issuer = &refusingIssuer{fakeIssuer: o.Issuer.(*fakeIssuer), domain: "refused.test"}
			o.Store = &failingPuts{fakeStore: st, name: "held"}
		}, lb)
		defer r.stop()
		r.d.SetDesired(desired(ok, refused, held))
		settle()
		m.want(t, "ok", certMetric{ready: true, issued: true})
		m.want(t, "refused", certMetric{ready: false})
		m.want(t, "held", certMetric{ready: false})
		if up, seen := m.up("lb1"); !up || !seen {
			t.Fatalf("lb1 up = %v (reported %v) while it answers", up, seen)
		}

		lb.set(nil, errDown)
		time.Sleep(31 * time.Second) // the verify interval
		settle()
		if up, _ := m.up("lb1"); up {
			t.Fatal("lb1 still up after it stopped answering")
		}
		m.want(t, "ok", certMetric{ready: false, issued: true})
		lb.set(nil, nil)
		time.Sleep(time.Minute)
		settle()
		if up, _ := m.up("lb1"); !up {
			t.Fatal("lb1 not up again after it answered")
		}
		m.want(t, "ok", certMetric{ready: true, issued: true})

		r.d.SetDesired(desired(ok))
		settle()
		for _, n := range []string{"refused", "held"} {
			if _, present := m.get(n); present {
				t.Errorf("%s left the file but still has series", n)
			}
		}
	})
}

type certMetric struct {
	ready, issued bool
}

// fakeMetrics keeps the last value of each certificate's and instance's
// series, as a registry does.
type fakeMetrics struct {
	nopMetrics
	mu      sync.Mutex
	certs   map[string]certMetric
	haproxy map[string]bool
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{certs: map[string]certMetric{}, haproxy: map[string]bool{}}
}

func (m *fakeMetrics) Certificate(name string, ready bool, expiry, renewal time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.certs[name] = certMetric{ready: ready, issued: !expiry.IsZero() && !renewal.IsZero()}
}

func (m *fakeMetrics) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.certs, name)
}

func (m *fakeMetrics) HAProxyUp(name string, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.haproxy[name] = up
}

func (m *fakeMetrics) get(name string) (certMetric, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.certs[name]
	return c, ok
}

func (m *fakeMetrics) up(name string) (up, seen bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	up, seen = m.haproxy[name]
	return up, seen
}

func (m *fakeMetrics) want(t *testing.T, name string, want certMetric) {
	t.Helper()
	if got, ok := m.get(name); !ok || got != want {
		t.Fatalf("%s: metrics %+v (present %v), want %+v", name, got, ok, want)
	}
}

// refusingIssuer is a CA that refuses one domain for good.
type refusingIssuer struct {
	*fakeIssuer
	domain string
}

func (r *refusingIssuer) Issue(ctx context.Context, req issuer.Request) (*issuer.Bundle, error) {
	if slices.Contains(req.Domains, r.domain) {
		return nil, &issuer.Error{Cert: req.Name, Domain: r.domain, Permanent: true,
			Problem: "urn:ietf:params:acme:error:rejectedIdentifier", Err: errors.New("policy forbids")}
	}
	return r.fakeIssuer.Issue(ctx, req)
}

// failingPuts is a store that cannot write one certificate's record, so it
// never gets one.
type failingPuts struct {
	*fakeStore
	name string
}

func (s *failingPuts) Put(r *store.Record) error {
	if r.Name == s.name {
		return errors.New("disk full")
	}
	return s.fakeStore.Put(r)
}
