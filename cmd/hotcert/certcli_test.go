package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recorder is a fake admin API that remembers what it was asked.
type recorder struct {
	mu    sync.Mutex
	query []string
	body  []string
}

func (r *recorder) note(req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.query = append(r.query, req.Method+" "+req.URL.RequestURI())
	r.body = append(r.body, string(b))
}

func (r *recorder) last() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.query[len(r.query)-1], r.body[len(r.body)-1]
}

func fakeAPI(t *testing.T, routes map[string]http.HandlerFunc) (*recorder, string) {
	t.Helper()
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ready"}`)) })
	for pattern, h := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			rec.note(r)
			h(w, r)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg, _ := adminConfig(t, srv, "tok")
	return rec, cfg
}

func TestStatusShowsOnePageAndHowToSeeMore(t *testing.T) {
	rec, cfg := fakeAPI(t, map[string]http.HandlerFunc{"GET /v1/certificates": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Count", "250")
		if r.URL.Query().Get("limit") != "" {
			w.Header().Set("Link", `</v1/certificates?after=shop&limit=100&state=ok>; rel="next"`)
		}
		w.Write([]byte(`{"certificates":[{"name":"shop","domains":["shop.example.com"],"state":"ok","loaded":{}}]}`))
	}})
	code, out, errOut := runCLI("status", "--config", cfg, "--state", "ok")
	if q, _ := rec.last(); code != 0 || q != "GET /v1/certificates?limit=100&state=ok" {
		t.Fatalf("exit %d, asked %q: %s", code, q, errOut)
	}
	if !strings.Contains(out, "1 of 250 certificates shown, 249 more: hotcert status --after shop --state ok") {
		t.Errorf("no line saying how many more:\n%s", out)
	}
	code, out, errOut = runCLI("status", "--config", cfg, "-o", "json", "--limit", "1", "--after", "a")
	var list map[string]any
	if q, _ := rec.last(); code != 0 || q != "GET /v1/certificates?after=a&limit=1" || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("-o json: exit %d, asked %q, stdout %q", code, q, out)
	}
	if !strings.Contains(errOut, "more: hotcert status --after shop") {
		t.Errorf("-o json: stderr %q does not say more follow", errOut)
	}
	code, out, _ = runCLI("status", "--config", cfg, "--all")
	if q, _ := rec.last(); code != 0 || q != "GET /v1/certificates" || strings.Contains(out, "more") {
		t.Fatalf("--all: exit %d, asked %q:\n%s", code, q, out)
	}
	for _, args := range [][]string{{"--all", "--limit", "5"}, {"--limit", "0"}, {"shop", "--state", "ok"}} {
		if code, _, errOut := runCLI(append([]string{"status", "--config", cfg}, args...)...); code != 2 || errOut == "" {
			t.Errorf("status %v: exit %d, want 2 with a reason", args, code)
		}
	}
}

func TestPutAndDeleteCommands(t *testing.T) {
	answer := http.StatusCreated
	rec, cfg := fakeAPI(t, map[string]http.HandlerFunc{
		"PUT /v1/certificates/{name}": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(answer)
			w.Write([]byte(`{"name":"shop","state":"issue","serial":"ab","last_error":"rate limited"}`))
		},
		"DELETE /v1/certificates/{name}": func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("name") == "legacy" {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(`{"status":409,"field":"name","detail":"legacy: /etc/hotcert/domains.yaml:3: defined in a file the admin API did not write"}`))
				return
			}
			w.WriteHeader(http.StatusNoContent)
		},
	})
	code, out, errOut := runCLI("put", "shop", "--config", cfg, "--domains", "shop.example.com, www.shop.example.com", "--key-type", "ecdsa-p256,rsa2048")
	q, body := rec.last()
	if code != 0 || q != "PUT /v1/certificates/shop" || body != `{"domains":["shop.example.com","www.shop.example.com"],"key_type":["ecdsa-p256","rsa2048"]}` {
		t.Fatalf("put: exit %d, %s %s: %s", code, q, body, errOut)
	}
	if !strings.Contains(out, "shop: created") {
		t.Errorf("put said %q", out)
	}
	answer = http.StatusOK
	code, out, _ = runCLI("put", "shop", "--config", cfg, "--domains", "shop.example.com", "--wait", "--timeout", "2m")
	if q, _ := rec.last(); code != 0 || q != "PUT /v1/certificates/shop?timeout=2m0s&wait=served" || !strings.Contains(out, "replaced and served (serial ab)") {
		t.Fatalf("put --wait: exit %d, %s:\n%s", code, q, out)
	}
	answer = http.StatusAccepted
	code, out, _ = runCLI("put", "shop", "--config", cfg, "--domains", "shop.example.com", "--wait")
	if code != 1 || !strings.Contains(out, "not served by every HAProxy within 1m0s: state issue") || !strings.Contains(out, "rate limited") {
		t.Fatalf("put --wait, not served in time: exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{{"put", "shop"}, {"put", "shop", "--domains", "a.example.com", "--timeout", "1s"}, {"delete"}} {
		if code, _, _ := runCLI(append(args, "--config", cfg)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := runCLI("delete", "shop", "--config", cfg); code != 0 || !strings.Contains(out, "shop: deleted") {
		t.Fatalf("delete: exit %d %q", code, out)
	}
	if code, _, errOut := runCLI("delete", "legacy", "--config", cfg); code != 1 || !strings.Contains(errOut, "domains.yaml:3") {
		t.Fatalf("delete of a hand-written certificate: exit %d %q", code, errOut)
	}
}
