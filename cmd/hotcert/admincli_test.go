package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adminConfig writes a config whose admin API is srv and whose token file
// holds tok, and returns its path and the token file's.
func adminConfig(t *testing.T, srv *httptest.Server, tok string) (cfg, tokFile string) {
	t.Helper()
	dir := t.TempDir()
	tokFile = filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "hotcert.yaml")
	data := "acme: {accept_terms: true}\nhaproxy:\n  - name: lb1\n    socket: /run/haproxy/admin.sock\n" +
		"    cert_dir: /etc/haproxy/certs\n    crt_list: /etc/haproxy/certs.list\n" +
		"admin:\n  listen: " + strings.TrimPrefix(srv.URL, "http://") + "\n  token_file: " + tokFile + "\n"
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, tokFile
}

func TestRenewWithWrongTokenNamesTheTokenFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"detail":"a bearer token is required: Authorization: Bearer <contents of admin.token_file>"}`))
	}))
	defer srv.Close()
	cfg, tokFile := adminConfig(t, srv, "not-the-daemons")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"renew", "shop", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "refused the token in "+tokFile) || !strings.Contains(msg, "--config") {
		t.Errorf("stderr %q does not say the token in %s was refused", msg, tokFile)
	}
}

func TestStatusNamesHAProxyThatDoesNotAnswer(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/certificates", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"certificates":[{"name":"shop","domains":["shop.example.com"],"state":"ok","loaded":{"lb1":""}}]}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"unready","haproxy_down":{"lb1":"show info on lb1: dial unix /x.sock: no such file"}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg, _ := adminConfig(t, srv, "tok")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "HAProxy lb1 does not answer: show info on lb1: dial unix /x.sock") {
		t.Errorf("status does not say lb1 is down:\n%s", out)
	}
	if !strings.Contains(out, "shop") {
		t.Errorf("status lost the table:\n%s", out)
	}
}

func TestStatusQuietWhenEveryHAProxyAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/certificates", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"certificates":[]}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"status":"ready"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg, _ := adminConfig(t, srv, "tok")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "does not answer") || !strings.HasPrefix(stdout.String(), "NAME") {
		t.Errorf("status with every HAProxy up:\n%s", stdout.String())
	}
}

// Reading the status needs no token, so an operator without read access to
// the token file can still look.
func TestStatusNeedsNoTokenFile(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/certificates", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"certificates":[{"name":"shop","domains":["shop.example.com"],"state":"ok","loaded":{"lb1":"ab"}}]}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ready"}`)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg, tokFile := adminConfig(t, srv, "x")
	if err := os.Remove(tokFile); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--config", cfg}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "shop") {
		t.Fatalf("status without a token file: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"renew", "shop", "--config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("renew without a token file: exit %d, want 1", code)
	}
}
