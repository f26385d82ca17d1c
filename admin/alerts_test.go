package admin

import (
	"os"
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
	m := NewMetrics()
	m.Certificate("x", time.Unix(1, 0), time.Unix(1, 0))
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
