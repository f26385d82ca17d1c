package integration

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotcert/hotcert/daemon"
)

// safeEnv serves names, one certificate each named after it, through a
// hotcert whose safety.removal_limit is limit, and returns the serials.
func safeEnv(t *testing.T, limit int, names ...string) (*env, *adminClient, map[string]*big.Int) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	e := newEnv(t, envOptions{})
	e.extraConfig = fmt.Sprintf("safety:\n  removal_limit: %d\n", limit)
	e.writeDomains(domainsYAML(names, nil))
	e.start()
	serials := map[string]*big.Int{}
	for _, n := range names {
		serials[n] = e.lbs[0].waitServed(n+".example.test", e.bundle(0, n), 120*time.Second).SerialNumber
	}
	return e, e.adminAPI(t), serials
}

// stillServed checks that each certificate is served with its serial and
// listed in the crt-list.
func stillServed(t *testing.T, e *env, serials map[string]*big.Int) {
	t.Helper()
	h := e.lbs[0]
	list, err := os.ReadFile(h.CrtList)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range serials {
		if got := servedSerial(t, h, n+".example.test"); got.Cmp(want) != 0 {
			t.Fatalf("%s is served with serial %x, want %x", n, got, want)
		}
		if !strings.Contains(string(list), e.bundle(0, n)) {
			t.Fatalf("the crt-list no longer names %s:\n%s", n, list)
		}
	}
}

// statusJSON is `hotcert status -o json`, run as an operator would.
func statusJSON(t *testing.T, e *env) (certs []daemon.CertStatus, removals []daemon.RemovalStatus) {
	t.Helper()
	out, errOut, code := runBin(t, "status", "-o", "json", "--config", e.cfgPath)
	var list struct {
		Certificates []daemon.CertStatus
		Removals     []daemon.RemovalStatus
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("hotcert status -o json: exit %d %v\n%s%s", code, err, out, errOut)
	}
	return list.Certificates, list.Removals
}

// TestEmptiedDomainsFileRemovesNothing: a domains file emptied by mistake,
// with more certificates than safety.removal_limit, takes none of them out
// of HAProxy and says so (log, status, metric) until an operator confirms.
func TestEmptiedDomainsFileRemovesNothing(t *testing.T) {
	names := []string{"one", "two", "three"}
	e, api, serials := safeEnv(t, 2, names...)
	e.writeDomains("certificates: []\n")
	eventually(t, 60*time.Second, "hotcert_removals_held reports the three removals", func() error {
		if got := api.metrics()["hotcert_removals_held"]; got != 3 {
			return fmt.Errorf("hotcert_removals_held = %v", got)
		}
		return nil
	})
	e.twoPasses(t, api) // passes that see the same hold remove nothing and log nothing more
	stillServed(t, e, serials)
	if n := strings.Count(e.proc.Logs(), "removals held"); n != 1 {
		t.Fatalf("the hold was logged %d times, want once", n)
	}
	_, removals := statusJSON(t, e)
	if len(removals) != 3 || removals[0].State != "held" || !strings.Contains(removals[0].Reason, "safety.removal_limit (2)") {
		t.Fatalf("status -o json shows removals %+v, want three held", removals)
	}
	out, errOut, code := runBin(t, "status", "--config", e.cfgPath)
	if code != 0 || !strings.Contains(out, "3 removals held: `hotcert confirm-removals` applies them") || !regexp.MustCompile(`(?m)^three +held +3 certificates left`).MatchString(out) {
		t.Fatalf("hotcert status does not show the held removals: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = runBin(t, "confirm-removals", "--config", e.cfgPath)
	if code != 0 || !strings.HasPrefix(out, "confirmed 3 held removals") {
		t.Fatalf("hotcert confirm-removals: exit %d\n%s%s", code, out, errOut)
	}
	for _, n := range names {
		eventually(t, 30*time.Second, n+" leaves HAProxy and the crt-list", func() error {
			if err := servesPlaceholder(e.lbs[0], n+".example.test"); err != nil {
				return err
			}
			if list, _ := os.ReadFile(e.lbs[0].CrtList); strings.Contains(string(list), e.bundle(0, n)) {
				return fmt.Errorf("the crt-list still names it:\n%s", list)
			}
			return nil
		})
	}
	if got := api.metrics()["hotcert_removals_held"]; got != 0 {
		t.Fatalf("after the confirmation hotcert_removals_held = %v", got)
	}
	if _, removals := statusJSON(t, e); len(removals) != 0 {
		t.Fatalf("after the removals status still shows %+v", removals)
	}
}

// sniPoll polls what HAProxy serves for sni until stop is closed.
type sniPoll struct {
	mu      sync.Mutex
	serials []string // in order, each change once
	count   int
	bad     []string // handshakes that got no certificate for the name
}

func (hs *sniPoll) done() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.count
}

func pollHandshakes(h *haproxy, sni string, stop <-chan struct{}) (*sniPoll, *sync.WaitGroup) {
	hs := &sniPoll{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := h.Served(sni, nil)
			hs.mu.Lock()
			hs.count++
			switch {
			case err != nil:
				hs.bad = append(hs.bad, err.Error())
			case c.VerifyHostname(sni) != nil:
				hs.bad = append(hs.bad, fmt.Sprintf("a certificate for %v (serial %x)", c.DNSNames, c.SerialNumber))
			case len(hs.serials) == 0 || hs.serials[len(hs.serials)-1] != c.SerialNumber.Text(16):
				hs.serials = append(hs.serials, c.SerialNumber.Text(16))
			}
			hs.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	return hs, &wg
}

// TestRenameNeverLeavesNamesUnserved: a certificate renamed in the file
// keeps its old store served until the new one is, so that every handshake
// for its names gets a certificate for them, the old one and then the new.
func TestRenameNeverLeavesNamesUnserved(t *testing.T) {
	e, _, serials := safeEnv(t, 10, "shop")
	h, sni := e.lbs[0], "shop.example.test"
	stop := make(chan struct{})
	hs, wg := pollHandshakes(h, sni, stop)
	e.writeDomains("certificates:\n  - name: shop-v2\n    domains: [shop.example.test]\n")
	renamed := h.waitServed(sni, e.bundle(0, "shop-v2"), 120*time.Second)
	eventually(t, 60*time.Second, "the old store leaves HAProxy, cert_dir and the crt-list", func() error {
		if list, _ := os.ReadFile(h.CrtList); strings.Contains(string(list), e.bundle(0, "shop")) {
			return fmt.Errorf("the crt-list still names it:\n%s", list)
		}
		if _, err := os.Stat(e.bundle(0, "shop")); !os.IsNotExist(err) {
			return fmt.Errorf("%s is still there (%v)", e.bundle(0, "shop"), err)
		}
		out, err := h.CLI("show ssl cert")
		if err != nil || strings.Contains(out, e.bundle(0, "shop")+"\n") {
			return fmt.Errorf("HAProxy still holds it (%v):\n%s", err, out)
		}
		return nil
	})
	after := hs.done()
	eventually(t, 30*time.Second, "a few handshakes after the removal", func() error {
		if n := hs.done() - after; n < 3 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if hs.count < 10 || len(hs.bad) > 0 {
		t.Fatalf("of %d handshakes during the rename, %d got no certificate for %s: %v", hs.count, len(hs.bad), sni, hs.bad)
	}
	want := []string{serials["shop"].Text(16), renamed.SerialNumber.Text(16)}
	if fmt.Sprint(hs.serials) != fmt.Sprint(want) {
		t.Fatalf("handshakes got serials %v in turn, want the old then the new %v", hs.serials, want)
	}
	if n := strings.Count(e.proc.Logs(), "removal waits"); n != 1 {
		t.Fatalf("why the removal waits was logged %d times, want once", n)
	}
}

// TestPlan: hotcert plan shows what a candidate file would do, and the
// daemon does none of it.
func TestPlan(t *testing.T) {
	e, api, serials := safeEnv(t, 2, "keep", "drop", "also")
	ordered := api.metrics()[`hotcert_orders_total{result="success"}`]
	cand := filepath.Join(t.TempDir(), "next.yaml")
	plan := func(content string) (string, string, int) {
		writeFile(t, cand, content)
		return runBin(t, "plan", "--config", e.cfgPath, "--domains", cand)
	}

	out, errOut, code := plan(domainsYAML([]string{"keep", "also", "fresh"}, nil))
	for _, want := range []string{"keep   nothing  served; renewal due", "drop   remove   no longer in the domains file",
		"fresh  issue    new certificate", "plan: 1 to issue, 1 to remove, 2 with nothing to do."} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("plan of an edit: exit %d, lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	out, errOut, code = plan("certificates: []\n")
	if code != 0 || strings.Count(out, " held ") != 3 || !strings.Contains(out, "plan: 3 held.") {
		t.Fatalf("plan of an emptied file: exit %d, want three held:\n%s%s", code, out, errOut)
	}
	writeFile(t, cand, domainsYAML([]string{"keep"}, nil))
	out, errOut, code = runBin(t, "plan", "-o", "json", "--config", e.cfgPath, "--domains", cand)
	var p daemon.Plan
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.Counts["remove"] != 2 || p.Counts["nothing"] != 1 {
		t.Fatalf("plan -o json: exit %d %v\n%s%s", code, err, out, errOut)
	}
	out, errOut, code = plan("certificates:\n  - name: keep\n    domains: [keep.example.test]\n    key_type: dsa\n")
	if code != 1 || !strings.HasPrefix(errOut, cand+":4:15: certificates[0].key_type") {
		t.Fatalf("plan of a bad file: exit %d, want 1 and FILE:LINE:COL naming it:\n%s%s", code, out, errOut)
	}
	// Without --domains it plans the file in force: nothing to do.
	out, errOut, code = runBin(t, "plan", "--config", e.cfgPath)
	if code != 0 || !strings.Contains(out, "plan: 3 with nothing to do.") {
		t.Fatalf("plan of the file in force: exit %d\n%s%s", code, out, errOut)
	}

	e.twoPasses(t, api) // passes after the plans: they act on the file in force only
	stillServed(t, e, serials)
	if got := api.metrics()[`hotcert_orders_total{result="success"}`]; got != ordered {
		t.Fatalf("orders went from %v to %v after plans", ordered, got)
	}
	if err := servesPlaceholder(e.lbs[0], "fresh.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "certs", "fresh")); !os.IsNotExist(err) {
		t.Fatalf("a planned certificate has state: %v", err)
	}
	if certs, removals := statusJSON(t, e); len(certs) != 3 || len(removals) != 0 {
		t.Fatalf("after plans status shows %d certificates and removals %+v", len(certs), removals)
	}
}
