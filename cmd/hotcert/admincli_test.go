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
