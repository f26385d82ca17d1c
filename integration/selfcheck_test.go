package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/daemon"
)

// TestSelfCheckCatchesAMissingRoute: with HAProxy's ACME route missing, the
// self-check fails the attempt before the CA is asked for anything, and
// status names the cause. Once the route is back, the certificate is
// issued at the next attempt, a minute later, with no operator action.
func TestSelfCheckCatchesAMissingRoute(t *testing.T) {
	e := newEnv(t, envOptions{noACMERoute: true})
	h := e.lbs[0]
	frontend := "127.0.0.1:" + strconv.Itoa(h.HTTPPort)
	e.challengeExtra = "  self_check: http://" + frontend + "\n"
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test, www.shop.example.test]\n")
	p := e.start()
	api := e.adminAPI(t)

	var failed daemon.CertStatus
	eventually(t, time.Minute, "status names the missing route", func() error {
		for _, c := range api.certificates() {
			if c.Name == "shop" && c.LastError != "" {
				failed = c
				return nil
			}
		}
		return fmt.Errorf("no last_error yet")
	})
	want := "self-check: HAProxy at " + frontend + " answered 503 for "
	if !strings.Contains(failed.LastError, want) || !strings.Contains(failed.LastError, "the ACME route is missing") {
		t.Fatalf("last_error %q, want it to contain %q and name the missing route", failed.LastError, want)
	}
	if out, errOut, code := runBin(t, "status", "-o", "json", "--config", e.cfgPath); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("hotcert status -o json: exit %d, stdout lacks %q:\n%s%s", code, want, out, errOut)
	}
	// The route is checked with a token of hotcert's own before the order:
	// the CA saw neither an order nor a validation.
	if n, o := e.ca.Challenges(), e.ca.Orders(); n != 0 || o != 0 {
		t.Fatalf("the CA saw %d orders and %d challenge validations while the route was missing", o, n)
	}
	// The short backoff: the first retry comes a minute later, not hours.
	if wait := time.Until(failed.NextAttempt); wait > time.Minute || failed.NextAttempt.IsZero() {
		t.Fatalf("next attempt in %s, want at most a minute", wait)
	}

	if err := h.SetACMERoute(true); err != nil {
		t.Fatal(err)
	}
	h.restart()
	// waitServed stops at the first certificate served; the fix is observed
	// as the served leaf, within the first retry plus an order.
	h.waitServed("shop.example.test", e.bundle(0, "shop"), 2*time.Minute)
	if e.ca.Challenges() == 0 || e.ca.Orders() != 1 {
		t.Fatalf("served after %d orders and %d validations, want one order", e.ca.Orders(), e.ca.Challenges())
	}
	logs := p.Logs()
	if !strings.Contains(logs, `reason="new certificate, attempt 2 after a failure"`) || strings.Contains(logs, "names changed") {
		t.Fatalf("the retry's reason is not that of a first order retried:\n%s", logs)
	}
}
