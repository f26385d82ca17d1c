package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// safetyAPI answers plan and confirm-removals as a daemon would, and
// records the plan requests.
func safetyAPI(t *testing.T, plans *[]string) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/plan", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		*plans = append(*plans, r.URL.Query().Get("file")+"\n"+string(body))
		if strings.Contains(string(body), "bad") {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"status":422,"detail":"x","problems":["/c.yaml:2:5: certificates[0].domains[0]: bad","/c.yaml:3:5: certificates[1]: worse"]}`))
			return
		}
		w.Write([]byte(`{"certificates":[{"name":"a","action":"held","reason":"3 certificates left"},` +
			`{"name":"b","action":"issue","reason":"new certificate"},{"name":"c","action":"nothing"}],"counts":{"held":1,"issue":1,"nothing":1}}`))
	})
	mux.HandleFunc("POST /v1/removals/confirm", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"confirmed":["a","b"]}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg, _ := adminConfig(t, srv, "tok")
	return cfg
}

func TestPlanPrintsATableAndASummary(t *testing.T) {
	var plans []string
	cfg := safetyAPI(t, &plans)
	cand := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(cand, []byte("certificates: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"plan", "--config", cfg, "--domains", cand}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"NAME", "a     held     3 certificates left", "b     issue    new certificate",
		"plan: 1 to issue, 1 held, 1 with nothing to do.", "hotcert confirm-removals"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if len(plans) != 1 || plans[0] != cand+"\ncertificates: []\n" {
		t.Errorf("the daemon was asked %q, want the candidate and its name", plans)
	}
}

func TestPlanOfABadFilePrintsEachProblem(t *testing.T) {
	var plans []string
	cfg := safetyAPI(t, &plans)
	cand := filepath.Join(t.TempDir(), "next.yaml")
	if err := os.WriteFile(cand, []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"plan", "--domains", cand, "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr.String())
	}
	if got := stderr.String(); got != "/c.yaml:2:5: certificates[0].domains[0]: bad\n/c.yaml:3:5: certificates[1]: worse\n" {
		t.Errorf("stderr %q, want one problem per line", got)
	}
}

func TestConfirmRemovalsNamesWhatItConfirmed(t *testing.T) {
	var plans []string
	cfg := safetyAPI(t, &plans)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"confirm-removals", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	if got := stdout.String(); got != "confirmed 2 held removals; they are taken out of HAProxy now:\na\nb\n" {
		t.Errorf("stdout %q", got)
	}
	if code := run([]string{"confirm-removals", "extra", "--config", cfg}, &stdout, &stderr); code != 2 {
		t.Errorf("an extra argument: exit %d, want 2", code)
	}
}
