package admin

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// TestAlertRulesNameRealMetrics: an alert on a misspelt metric never fires,
// so every hotcert_ name in the example rules must be one that is exported.
func TestAlertRulesNameRealMetrics(t *testing.T) {
	rules, err := os.ReadFile("../configs/examples/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics("test")
	m.Certificate("x", true, time.Unix(1, 0), time.Unix(1, 0))
	m.HAProxyUp("lb", true)
	m.Order("x", "failure", "p")
	m.Push("lb", nil)
	m.Challenge("hit")
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	used := regexp.MustCompile(`hotcert_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) < 6 {
		t.Fatalf("the rules use only %d hotcert metrics", len(used))
	}
	for _, name := range used {
		if !known[name] {
			t.Errorf("alerts.yaml uses %s, which hotcert does not export", name)
		}
	}
}

// TestAlertRulesFire runs promtool's unit tests of the example rules
// (configs/examples/alerts_test.yaml): each alert must fire where it should
// and stay quiet where it should not. promtool comes with Debian's
// prometheus package (make deps).
func TestAlertRulesFire(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; install Debian's prometheus package (make deps)")
		}
		t.Skip("promtool not found; install Debian's prometheus package (make deps)")
	}
	cmd := exec.CommandContext(t.Context(), promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = "../configs/examples"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertRuleIsTested: a rule without a case in alerts_test.yaml
// where it fires could be broken without anyone noticing.
func TestEveryAlertRuleIsTested(t *testing.T) {
	rules, err := os.ReadFile("../configs/examples/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("../configs/examples/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A firing case is an eval of the alert followed by an expected alert.
	fires := regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:`)
	tested := map[string]bool{}
	for _, m := range fires.FindAllStringSubmatch(string(tests), -1) {
		tested[m[1]] = true
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 6 {
		t.Fatalf("found only %d alerts in alerts.yaml", len(alerts))
	}
	for _, a := range alerts {
		if !tested[a[1]] {
			t.Errorf("alert %s has no case in alerts_test.yaml where it fires", a[1])
		}
	}
}
