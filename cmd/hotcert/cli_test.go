package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpPrintsUsageAndExitsZero(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help", "-help"} {
		code, out, errOut := runCLI(arg)
		if code != 0 || !strings.HasPrefix(out, "usage: hotcert") || errOut != "" {
			t.Errorf("hotcert %s: exit %d, stdout %q, stderr %q; want usage on stdout, exit 0", arg, code, out, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "  "+c.name+" ") {
				t.Errorf("hotcert %s does not list %s:\n%s", arg, c.name, out)
			}
		}
	}
	code, out, _ := runCLI("help", "import")
	if code != 0 || !strings.Contains(out, "usage: hotcert import") || !strings.Contains(out, "-dry-run") {
		t.Errorf("hotcert help import: exit %d\n%s", code, out)
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCLI(args...)
		if code != 0 || out != "hotcert "+version+"\n" {
			t.Errorf("hotcert %v: exit %d, stdout %q", args, code, out)
		}
	}
}

func TestUnknownCommandIsNamed(t *testing.T) {
	code, out, errOut := runCLI("bogus")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, `hotcert: unknown command "bogus"`) || !strings.Contains(errOut, "usage: hotcert") {
		t.Errorf("hotcert bogus: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI("--bogus")
	if code != 2 || !strings.Contains(errOut, `unknown flag "--bogus"`) {
		t.Errorf("hotcert --bogus: exit %d, stderr %q", code, errOut)
	}
}

func TestCommandHelpOnceExitZero(t *testing.T) {
	for _, c := range commands() {
		code, out, errOut := runCLI(c.name, "--help")
		if code != 0 || strings.Count(out, "usage:") != 1 || !strings.Contains(out, "usage: hotcert "+c.name) || errOut != "" {
			t.Errorf("hotcert %s --help: exit %d, stdout %q, stderr %q; want its usage once on stdout", c.name, code, out, errOut)
		}
	}
}

func TestUnknownFlagIsNamed(t *testing.T) {
	code, _, errOut := runCLI("status", "--bogus")
	if code != 2 || !strings.Contains(errOut, "-bogus") || strings.Count(errOut, "usage:") != 1 {
		t.Errorf("hotcert status --bogus: exit %d, stderr %q", code, errOut)
	}
}

// Every command refuses positional arguments it does not take, whatever
// flags come after them, instead of dropping them and what follows.
func TestStrayArgumentsAreErrors(t *testing.T) {
	code, _, errOut := runCLI("run", "--config", "x.yaml", "extra", "--log-level=debug")
	if code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("run with a stray argument: exit %d, stderr %q", code, errOut)
	}
	for _, c := range commands() {
		args := []string{c.name, "one", "two", "three"}
		if c.name != "version" {
			args = append(args, "--config", "x.yaml")
		}
		if c.name == "import" {
			args = append(args, "--from", "pem")
		}
		code, _, errOut := runCLI(args...)
		if code != 2 || !regexp.MustCompile(`unexpected argument "(one|two)"`).MatchString(errOut) {
			t.Errorf("hotcert %v: exit %d, stderr %q; want exit 2 naming the argument", args, code, errOut)
		}
	}
}

func TestLogLevels(t *testing.T) {
	for _, lv := range []string{"debug", "info", "warn", "warning", "WARNING", "error"} {
		if _, err := newLogger(&bytes.Buffer{}, "text", lv); err != nil {
			t.Errorf("--log-level %s: %v", lv, err)
		}
	}
	code, _, errOut := runCLI("run", "--log-level", "loud", "--config", "x.yaml")
	if code != 1 || !strings.Contains(errOut, `--log-level "loud": want debug, info, warn (or warning) or error`) {
		t.Errorf("bad level: exit %d, stderr %q", code, errOut)
	}
}

func TestJSONLogDurationsAsText(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("backing off", "wait", 1500*time.Millisecond)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["wait"] != "1.5s" {
		t.Errorf("JSON log line %s: wait = %v, want \"1.5s\"", buf.Bytes(), line["wait"])
	}
}

func TestCheckMissingDomainsFileNamesTheField(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "domains_file: /nonexistent/domains.yaml\n")
	code, _, errOut := runCLI("check", "--config", cfg)
	want := cfg + ":8:15: domains_file: open /nonexistent/domains.yaml: no such file or directory"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check: exit %d, stderr %q; want %q", code, errOut, want)
	}
}

func TestCheckWarnsAboutNonLoopbackAdmin(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "admin:\n  listen: 0.0.0.0:8403\n")
	code, out, errOut := runCLI("check", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("check: exit %d, stdout %q, stderr %q; want ok with a warning", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, cfg+":9:11: admin.listen: warning: 0.0.0.0:8403 is not a loopback address") ||
		!strings.Contains(errOut, "clear text") {
		t.Errorf("stderr %q", errOut)
	}
	cfg = writeCheckConfig(t, dir, "", "admin:\n  listen: 127.0.0.1:8403\n")
	if code, _, errOut := runCLI("check", "--config", cfg); code != 0 || errOut != "" {
		t.Errorf("loopback admin: exit %d, stderr %q", code, errOut)
	}
}

// statusServer answers /v1/certificates with certs (JSON) and /healthz.
func statusServer(t *testing.T, certs string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/certificates", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"certificates":` + certs + `}`))
	})
	mux.HandleFunc("GET /v1/certificates/{name}", func(w http.ResponseWriter, r *http.Request) {
		var list []json.RawMessage
		json.Unmarshal([]byte(certs), &list)
		for _, one := range list {
			var st struct{ Name string }
			if json.Unmarshal(one, &st) == nil && st.Name == r.PathValue("name") {
				w.Write(append(one, '\n'))
				return
			}
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"status":404,"field":"name","detail":"no such certificate"}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ready"}`)) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg, _ := adminConfig(t, srv, "tok")
	return cfg
}

const longError = "order shop (attempt 3): acme: urn:ietf:params:acme:error:unauthorized: 203.0.113.7: Invalid response from " +
	"http://shop.example.com/.well-known/acme-challenge/abc: 404: the ACME route is missing"

const failing = `[{"name":"shop","domains":["shop.example.com"],"key_types":["ecdsa-p256"],"state":"backing off",` +
	`"attempts":3,"next_attempt":"2026-12-03T22:10:00Z","last_error":"` + longError + `","loaded":{"lb1":""},` +
	`"future_field":"kept"},{"name":"blog","domains":["blog.example.com"],"state":"ok","serial":"ab12","loaded":{"lb1":"ab12"}}]`

func TestStatusShowsWholeLastErrorAndNextAttempt(t *testing.T) {
	cfg := statusServer(t, failing)
	code, out, errOut := runCLI("status", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, longError) || !strings.Contains(out, "next attempt 2026-12-03 22:10Z") {
		t.Errorf("status lacks the whole error or the next attempt:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^shop .*2026-12-03 22:10Z`).MatchString(out) {
		t.Errorf("the table row lacks the next attempt:\n%s", out)
	}
}

func TestStatusOfOneCertificate(t *testing.T) {
	cfg := statusServer(t, failing)
	code, out, errOut := runCLI("status", "shop", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name:", "shop", "domains:", "shop.example.com", "attempts:", "3", "next attempt:",
		"2026-12-03 22:10Z", longError, "served by lb1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status shop lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "blog") {
		t.Errorf("status shop shows another certificate:\n%s", out)
	}
	code, out, _ = runCLI("status", "-o", "json", "shop", "--config", cfg)
	var one map[string]any
	if err := json.Unmarshal([]byte(out), &one); code != 0 || err != nil || one["name"] != "shop" || one["future_field"] != "kept" {
		t.Errorf("status -o json shop: exit %d, %v\n%s", code, err, out)
	}
	code, _, errOut = runCLI("status", "nope", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, `no certificate "nope"`) {
		t.Errorf("status nope: exit %d, stderr %q", code, errOut)
	}
}

func TestRunWarnsAboutNonLoopbackAdmin(t *testing.T) {
	cfg, err := configs.LoadConfig(writeCheckConfig(t, t.TempDir(), "", "admin:\n  listen: 0.0.0.0:8403\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, _ := newLogger(&buf, "text", "info")
	warnConfig(log, cfg)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "field=admin.listen") || !strings.Contains(buf.String(), "clear text") {
		t.Errorf("run logged %q", buf.String())
	}
}
