package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
)

// TestMetricsForAlerts: what the example alert rules read is on /metrics.
// A certificate has hotcert_certificate_ready from the first pass that sees
// it, 0 for one the CA refuses and 1 once every HAProxy serves it; an
// HAProxy that stops answering is down and its certificates are not ready
// until it answers again.
func TestMetricsForAlerts(t *testing.T) {
	e := newEnv(t, envOptions{ca: testca.Options{Blocklist: []string{"blocked.example.test"}}})
	e.writeDomains(`certificates:
  - name: shop
    domains: [shop.example.test]
  - name: refused
    domains: [blocked.example.test]
`)
	e.start()
	api := e.adminAPI(t)
	const (
		shopReady    = `hotcert_certificate_ready{name="shop"}`
		refusedReady = `hotcert_certificate_ready{name="refused"}`
		lbUp         = `hotcert_haproxy_up{haproxy="lb1"}`
	)
	eventually(t, 60*time.Second, "a first pass", func() error {
		if n := api.passes(); n < 1 {
			return fmt.Errorf("%v passes", n)
		}
		return nil
	})
	m := api.metrics()
	if got, ok := m[refusedReady]; !ok || got != 0 {
		t.Fatalf("after the first pass %s = %v (present %v), want 0", refusedReady, got, ok)
	}
	if _, ok := m[shopReady]; !ok {
		t.Fatalf("after the first pass %s is missing", shopReady)
	}
	checkBuildInfo(t, m)

	e.lbs[0].waitServed("shop.example.test", e.bundle(0, "shop"), 2*time.Minute)
	eventually(t, 60*time.Second, "the refusal recorded", func() error {
		for _, c := range api.certificates() {
			if c.Name == "refused" && strings.Contains(c.State, "refused by the CA") {
				return nil
			}
		}
		return fmt.Errorf("refused is not refused yet")
	})
	m = metricsAfterOnePass(t, e, api)
	wantMetrics(t, m, map[string]float64{shopReady: 1, refusedReady: 0, lbUp: 1})
	if _, ok := m[`hotcert_certificate_expiry_timestamp_seconds{name="refused"}`]; ok {
		t.Error("a certificate never issued has an expiry")
	}
	if _, ok := m[`hotcert_certificate_expiry_timestamp_seconds{name="shop"}`]; !ok {
		t.Error("an issued certificate has no expiry")
	}

	start := stopHAProxy(e.lbs[0])
	m = metricsAfterOnePass(t, e, api)
	wantMetrics(t, m, map[string]float64{lbUp: 0, shopReady: 0})
	start()
	// The stopped instance is asked again when its backoff (at most 30 s)
	// ends; no kick is needed.
	eventually(t, 90*time.Second, "lb1 up again and serving shop", func() error {
		m := api.metrics()
		if m[lbUp] != 1 || m[shopReady] != 1 {
			return fmt.Errorf("%s = %v, %s = %v", lbUp, m[lbUp], shopReady, m[shopReady])
		}
		return nil
	})
}

// metricsAfterOnePass scrapes /metrics once a pass that began after the
// call has completed.
func metricsAfterOnePass(t *testing.T, e *env, api *adminClient) map[string]float64 {
	t.Helper()
	e.twoPasses(t, api)
	return api.metrics()
}

func wantMetrics(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkBuildInfo: hotcert_build_info carries what `hotcert version` prints.
func checkBuildInfo(t *testing.T, m map[string]float64) {
	t.Helper()
	out, err := exec.Command(hotcertBin, "version").Output()
	if err != nil {
		t.Fatalf("hotcert version: %v", err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "hotcert ")
	if got := m[fmt.Sprintf(`hotcert_build_info{version=%q}`, v)]; got != 1 {
		t.Errorf("hotcert_build_info{version=%q} = %v, want 1", v, got)
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go collector (go_goroutines)")
	}
}
