package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A line hotcert confirmed is not looked for again, but any edit of the
// file by someone else makes addLine read it again and put the line back.
func TestAddLineNoticesEditsBehindItsBack(t *testing.T) {
	list := filepath.Join(t.TempDir(), "certs.list")
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"), 0o600))
	a, b := "/etc/haproxy/certs/a.pem", "/etc/haproxy/certs/b.pem"
	must(t, addLine(list, a))
	must(t, addLine(list, b))
	if !listHas(list, a) || !listHas(list, b) {
		t.Fatal("confirmed lines are not remembered")
	}
	must(t, addLine(list, a)) // remembered: no duplicate
	if got, _ := os.ReadFile(list); strings.Count(string(got), a) != 1 {
		t.Fatalf("line written twice:\n%s", got)
	}

	// Someone rewrites the file in place without a's line.
	must(t, os.WriteFile(list, []byte("/etc/haproxy/default.pem\n"+b+"\n# edited\n"), 0o600))
	if listHas(list, a) {
		t.Fatal("an edit of the file did not drop what was remembered")
	}
	must(t, addLine(list, a))
	if got, _ := os.ReadFile(list); !strings.Contains(string(got), a+"\n") {
		t.Fatalf("a's line not put back after the edit:\n%s", got)
	}

	must(t, removeLine(list, b))
	if listHas(list, b) {
		t.Fatal("a removed line is still remembered")
	}
}
