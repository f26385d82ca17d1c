package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/daemon"
)

// TestAdminPutAndDelete adds, replaces and deletes a certificate through
// the admin API, as a platform's signup code would, beside a hand-written
// domains file whose certificate the API may neither replace nor delete.
func TestAdminPutAndDelete(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	dir := filepath.Join(e.dir, "domains.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.extraConfig = "domains_dir: domains.d\n"
	e.writeDomains("certificates:\n  - name: legacy\n    domains: [legacy.example.test]\n")
	p := e.start()
	api := e.adminAPI(t)
	h.waitServed("legacy.example.test", e.bundle(0, "legacy"), 120*time.Second)

	// A new certificate: 201 once HAProxy serves it, the serial it answers
	// with the one a TLS handshake gets.
	st, code := api.put(t, "shop", `{"domains": ["shop.example.test"]}`)
	if code != http.StatusCreated || !st.Ready || st.Loaded["lb1"] != st.Serial {
		t.Fatalf("PUT ?wait=served of a new certificate: %d %+v", code, st)
	}
	first := servedSerial(t, h, "shop.example.test")
	if first.Text(16) != st.Serial {
		t.Fatalf("PUT answered serial %s, HAProxy serves %x", st.Serial, first)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop.yaml")); err != nil {
		t.Fatalf("PUT wrote no file of its own: %v", err)
	}

	// The same name again replaces it: 200 once the new names are served.
	st, code = api.put(t, "shop", `{"domains": ["shop.example.test", "www.shop.example.test"], "key_type": "ecdsa-p384"}`)
	if code != http.StatusOK || !st.Ready || !slices.Equal(st.Domains, []string{"shop.example.test", "www.shop.example.test"}) {
		t.Fatalf("PUT ?wait=served replacing it: %d %+v", code, st)
	}
	c, err := h.Served("www.shop.example.test", nil)
	if err != nil || c.SerialNumber.Text(16) != st.Serial || c.SerialNumber.Cmp(first) == 0 {
		t.Fatalf("after the replacement HAProxy serves %v (%v), want serial %s", c, err, st.Serial)
	}

	if out, errOut, code := runBin(t, "status", "shop", "--config", e.cfgPath); code != 0 || !strings.Contains(out, st.Serial) {
		t.Fatalf("hotcert status shop: exit %d\n%s%s", code, out, errOut)
	}

	t.Run("bad input names the field and writes nothing", func(t *testing.T) { checkPutRefused(t, e, api, dir) })

	// DELETE takes it out of HAProxy; a second DELETE finds nothing.
	if code, _, body := api.do(http.MethodDelete, "/v1/certificates/shop", api.token, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "the deleted certificate is no longer served", func() error {
		return servesPlaceholder(h, "shop.example.test")
	})
	if _, err := os.Stat(filepath.Join(dir, "shop.yaml")); !os.IsNotExist(err) {
		t.Fatalf("DELETE left its file: %v", err)
	}
	if prob := api.problem(t, http.MethodDelete, "/v1/certificates/shop", "", http.StatusNotFound); prob.Field != "name" {
		t.Fatalf("second DELETE: %+v", prob)
	}
	servedSerial(t, h, "legacy.example.test") // still there
	p.stop(t)
}

// checkPutRefused: a malformed or invalid body, and the certificate of a
// hand-written file, are refused with the field named, and change nothing.
func checkPutRefused(t *testing.T, e *env, api *adminClient, dir string) {
	before, err := os.ReadFile(filepath.Join(dir, "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, name, body string
		code               int
		field, detail      string
	}{
		{http.MethodPut, "shop", `{"domains": ["shop.example.test"], "colour": "red"}`, 400, "colour", "colour"},
		{http.MethodPut, "shop", `{"domains": ["shop.example.test", 7]}`, 400, "domains[1]", "domains[1]"},
		{http.MethodPut, "shop", `{"domains": ["shop.example.test", "not a domain"]}`, 422, "domains[1]", "domains[1]"},
		{http.MethodPut, "shop", `{"domains": ["legacy.example.test"]}`, 422, "domains[0]", "domains.yaml"},
		{http.MethodPut, "legacy", `{"domains": ["legacy.example.test"]}`, 409, "name", e.domainsPath + ":2"},
		{http.MethodDelete, "legacy", "", 409, "name", e.domainsPath + ":2"},
	} {
		prob := api.problem(t, tc.method, "/v1/certificates/"+tc.name, tc.body, tc.code)
		if prob.Field != tc.field || !strings.Contains(prob.Detail, tc.detail) {
			t.Errorf("%s %s %s: field %q, detail %q; want field %q and %q in the detail", tc.method, tc.name, tc.body, prob.Field, prob.Detail, tc.field, tc.detail)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "shop.yaml")); string(after) != string(before) {
		t.Fatalf("a refused PUT changed shop.yaml:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(dir, "legacy.yaml")); !os.IsNotExist(err) {
		t.Fatalf("a refused PUT of legacy wrote a file: %v", err)
	}
	out, errOut, code := runBin(t, "delete", "legacy", "--config", e.cfgPath)
	if code != 1 || !strings.Contains(errOut, e.domainsPath+":2") {
		t.Fatalf("hotcert delete legacy: exit %d\n%s%s", code, out, errOut)
	}
}

// put is PUT /v1/certificates/{name}?wait=served: the status and code.
func (c *adminClient) put(t *testing.T, name, body string) (daemon.CertStatus, int) {
	t.Helper()
	code, _, b := c.do(http.MethodPut, "/v1/certificates/"+name+"?wait=served&timeout=100s", c.token, "application/json", strings.NewReader(body))
	var st daemon.CertStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("PUT %s: %d %v %s", name, code, err, b)
	}
	return st, code
}

// problem sends a request that must fail with code and returns its problem.
func (c *adminClient) problem(t *testing.T, method, path, body string, code int) admin.Problem {
	t.Helper()
	got, hdr, b := c.do(method, path, c.token, "application/json", strings.NewReader(body))
	var p admin.Problem
	if err := json.Unmarshal(b, &p); err != nil || got != code || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s %s: %d %s %v, want a %d problem: %s", method, path, got, hdr.Get("Content-Type"), err, code, b)
	}
	return p
}
