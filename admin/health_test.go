package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A scrape loop hammering /healthz, which needs no token, must not send
// `show info` to every HAProxy per request: one probe answers for a second.
func TestHealthzBurstCostsOneProbe(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			resp, err := http.Get(r.srv.URL + "/healthz")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("healthy daemon answered %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := r.d.probeCount(); n != 1 {
		t.Fatalf("100 requests sent %d probes, want 1", n)
	}

	// A socket that goes away shows within the second.
	r.d.setDown(map[string]string{"lb2": "dial unix: no such file"})
	r.clock.Advance(999 * time.Millisecond)
	if resp, _ := r.do(t, http.MethodGet, "/healthz", "", "", nil); resp.StatusCode != http.StatusOK || r.d.probeCount() != 1 {
		t.Fatalf("within the second: %d after %d probes, want the cached 200 after 1", resp.StatusCode, r.d.probeCount())
	}
	r.clock.Advance(time.Millisecond)
	if resp, body := r.do(t, http.MethodGet, "/healthz", "", "", nil); resp.StatusCode != 503 || !strings.Contains(string(body), "lb2") {
		t.Fatalf("a second later: %d %s, want 503 naming lb2", resp.StatusCode, body)
	}
	if n := r.d.probeCount(); n != 2 {
		t.Fatalf("%d probes, want 2", n)
	}
}

// Requests that arrive while a slow probe runs wait for its answer instead
// of starting probes of their own.
func TestHealthzRequestsShareTheRunningProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDaemon{release: make(chan struct{})}
		h := New(Options{Daemon: d, Now: (&fakeClock{}).Now}).Handler()
		recs := make([]*httptest.ResponseRecorder, 100)
		for i := range recs {
			recs[i] = httptest.NewRecorder()
			go h.ServeHTTP(recs[i], httptest.NewRequest(http.MethodGet, "/healthz", nil))
		}
		synctest.Wait() // every request is waiting, one of them on the daemon
		if n := d.probeCount(); n != 1 {
			t.Errorf("100 waiting requests started %d probes, want 1", n)
		}
		close(d.release)
		synctest.Wait()
		for i, rec := range recs {
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ready"`) {
				t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
			}
		}
	})
}
