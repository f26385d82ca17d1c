package integration

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/runtime"
)

// adminClient talks to the running daemon's admin API as an operator would.
type adminClient struct {
	t     testing.TB
	base  string
	token string
}

func (e *env) adminAPI(t testing.TB) *adminClient {
	t.Helper()
	c := &adminClient{t: t, base: "http://" + e.hostPort(e.admin)}
	path := filepath.Join(e.stateDir, "admin.token")
	eventually(t, 60*time.Second, "admin token file and API", func() error {
		tok, err := admin.ReadToken(path)
		if err != nil {
			return err
		}
		c.token = tok
		// A bound: a node whose etcd is frozen must still answer.
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(c.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	assertMode(t, path, 0o600)
	return c
}

func (c *adminClient) do(method, path, token, ctype string, body io.Reader) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{Timeout: 120 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (c *adminClient) certificates() []daemon.CertStatus {
	c.t.Helper()
	code, _, body := c.do(http.MethodGet, "/v1/certificates", "", "", nil)
	var list struct{ Certificates []daemon.CertStatus }
	if err := json.Unmarshal(body, &list); err != nil || code != 200 {
		c.t.Fatalf("GET /v1/certificates: %d %v %s", code, err, body)
	}
	return list.Certificates
}

func (c *adminClient) metrics() map[string]float64 {
	c.t.Helper()
	code, _, body := c.do(http.MethodGet, "/metrics", "", "", nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if code != 200 || err != nil {
		c.t.Fatalf("GET /metrics: %d, does not parse as Prometheus text: %v\n%s", code, err, body)
	}
	return flattenMetrics(fams)
}

// passes is how many reconcile passes hotcert has completed.
func (c *adminClient) passes() float64 {
	c.t.Helper()
	return c.metrics()["hotcert_reconcile_passes_total"]
}

// statusAfterTwoPasses returns the certificates' status once hotcert has
// completed two reconcile passes more than when it was called. The second
// began after the call, so its decisions, which the status shows, take in
// everything that happened before. SIGHUP asks for the passes, so that this
// takes moments rather than the 30 s verify interval; it also has hotcert
// ask the CA for renewal information, which orders nothing by itself.
func (e *env) statusAfterTwoPasses(t testing.TB, api *adminClient) []daemon.CertStatus {
	t.Helper()
	e.twoPasses(t, api)
	return api.certificates()
}

// twoPasses returns once hotcert has completed two reconcile passes more
// than when it was called, as statusAfterTwoPasses, asking only /metrics.
func (e *env) twoPasses(t testing.TB, api *adminClient) {
	t.Helper()
	from := api.passes()
	eventually(t, 60*time.Second, "two more reconcile passes", func() error {
		if n := api.passes(); n < from+2 {
			e.proc.Kick(t)
			return fmt.Errorf("%v passes since, want 2", n-from)
		}
		return nil
	})
}

// ordering names the certificates whose last pass decided to order them.
func ordering(list []daemon.CertStatus) []string {
	var out []string
	for _, st := range list {
		if st.State == "issue" || st.State == "renew" { // the states status shows
			out = append(out, st.Name)
		}
	}
	return out
}

func flattenMetrics(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key, sep := name, "{"
			for _, l := range m.Label {
				key += fmt.Sprintf("%s%s=%q", sep, l.GetName(), l.GetValue())
				sep = ","
			}
			if sep == "," {
				key += "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// eventually polls f quickly until it succeeds or the generous limit passes.
func eventually(t testing.TB, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdminAPI runs every admin endpoint against a running daemon with a
// real HAProxy and Pebble.
func TestAdminAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n")
	p := e.start()
	leaf := h.waitServed("shop.example.test", e.bundle(0, "shop"), 120*time.Second)
	api := e.adminAPI(t)
	serial := leaf.SerialNumber.Text(16)

	var st daemon.CertStatus
	eventually(t, 60*time.Second, "status shows the served certificate", func() error {
		list := api.certificates()
		if len(list) != 1 || list[0].Loaded["lb1"] != serial || !list[0].NotAfter.Equal(leaf.NotAfter) {
			return fmt.Errorf("status %+v, want lb1 serving %s until %s", list, serial, leaf.NotAfter)
		}
		st = list[0]
		return nil
	})
	if st.Name != "shop" || st.Domains[0] != "shop.example.test" || st.KeyTypes[0] != "ecdsa-p256" ||
		!st.NotBefore.Equal(leaf.NotBefore) || st.NextRenewal.IsZero() || st.RenewalWhy == "" {
		t.Fatalf("status lacks fields: %+v", st)
	}

	t.Run("metrics", func(t *testing.T) { checkMetrics(t, api, leaf) })
	t.Run("state changes need the token", func(t *testing.T) { checkRefused(t, e, api, serial) })
	t.Run("healthz follows the HAProxy socket", func(t *testing.T) { checkHealthz(t, e, api) })
	t.Run("cli", func(t *testing.T) { checkCLI(t, e, serial) })

	before := e.ca.Orders()
	code, _, body := api.do(http.MethodPost, "/v1/certificates/shop/renew", api.token, "", nil)
	if code != http.StatusAccepted {
		t.Fatalf("renew: %d %s", code, body)
	}
	renewed := waitNewSerial(t, h, "shop.example.test", leaf.SerialNumber)
	if e.ca.Orders() <= before {
		t.Fatal("renew served a new certificate without an order")
	}
	if code, _, body := api.do(http.MethodPost, "/v1/certificates/nope/renew", api.token, "", nil); code != 404 {
		t.Fatalf("renew of an unknown name: %d %s", code, body)
	}

	code, _, body = api.do(http.MethodPost, "/v1/certificates/shop/revoke", api.token,
		"application/x-www-form-urlencoded", strings.NewReader("reason=keyCompromise"))
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if status, reason := e.certStatus(t, renewed.SerialNumber); status != "Revoked" || reason != 1 {
		t.Fatalf("after revoke, Pebble says %s (reason %d) for serial %x", status, reason, renewed.SerialNumber)
	}
	waitNewSerial(t, h, "shop.example.test", renewed.SerialNumber)
	p.stop(t)
}

func checkMetrics(t *testing.T, api *adminClient, leaf *x509.Certificate) {
	var m map[string]float64
	eventually(t, 60*time.Second, "metrics for shop", func() error {
		m = api.metrics()
		if _, ok := m[`hotcert_certificate_expiry_timestamp_seconds{name="shop"}`]; !ok {
			return fmt.Errorf("no expiry series yet")
		}
		if m[`hotcert_pushes_total{haproxy="lb1",result="success"}`] < 1 {
			return fmt.Errorf("no successful push counted yet")
		}
		return nil
	})
	now := float64(time.Now().Unix())
	if got := m[`hotcert_certificate_expiry_timestamp_seconds{name="shop"}`]; int64(got) != leaf.NotAfter.Unix() {
		t.Errorf("expiry = %v, served leaf says %d", got, leaf.NotAfter.Unix())
	}
	if got := m[`hotcert_certificate_renewal_timestamp_seconds{name="shop"}`]; got <= now || got >= float64(leaf.NotAfter.Unix()) {
		t.Errorf("renewal = %v, want between now (%v) and the expiry", got, now)
	}
	if got := m[`hotcert_orders_total{result="success"}`]; got != 1 {
		t.Errorf("orders_total{success} = %v, want 1", got)
	}
	if got := m[`hotcert_last_reconcile_success_seconds`]; got < now-120 || got > now+1 {
		t.Errorf("last_reconcile_success = %v, now %v", got, now)
	}
	if got, ok := m[`hotcert_config_valid`]; !ok || got != 1 {
		t.Errorf("config_valid = %v (present %v), want 1", got, ok)
	}
	if got := m[`hotcert_challenge_requests_total{result="hit"}`]; got < 1 {
		t.Errorf("challenge_requests_total{hit} = %v: Pebble's validation was not counted", got)
	}
}

func checkRefused(t *testing.T, e *env, api *adminClient, serial string) {
	orders := e.ca.Orders()
	for _, path := range []string{"/v1/certificates/shop/renew", "/v1/certificates/shop/revoke", "/v1/orders"} {
		for _, tok := range []string{"", "not-the-token", api.token[:len(api.token)-1]} {
			code, hdr, body := api.do(http.MethodPost, path, tok, "", nil)
			if code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s with token %q: %d %s", path, tok, code, body)
			}
		}
	}
	// An accepted renewal would be in the store before its answer, and any
	// pass from then on decides to order it until the order succeeds.
	list := e.statusAfterTwoPasses(t, api)
	if o := ordering(list); len(o) != 0 {
		t.Fatalf("after refused requests a pass decided to order %v", o)
	}
	if e.ca.Orders() != orders {
		t.Fatalf("refused requests placed %d orders", e.ca.Orders()-orders)
	}
	if st := list[0]; st.Loaded["lb1"] != serial || st.Serial != serial {
		t.Fatalf("refused requests changed the certificate: %+v", st)
	}
	if status, _ := e.certStatus(t, mustBig(t, serial)); status != "Valid" {
		t.Fatalf("refused revoke revoked it: %s", status)
	}
}

func checkHealthz(t *testing.T, e *env, api *adminClient) {
	health := func(want int, contains string) func() error {
		return func() error {
			code, _, body := api.do(http.MethodGet, "/healthz", "", "", nil)
			if code != want || !strings.Contains(string(body), contains) {
				return fmt.Errorf("healthz %d %s, want %d with %q", code, body, want, contains)
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, "ready", health(200, `"ready"`))
	sock := e.lbs[0].Socket
	if err := os.Rename(sock, sock+".away"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "unready without the socket", health(503, `"lb1"`))
	if err := os.Rename(sock+".away", sock); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ready again", health(200, `"ready"`))

	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n    key_type: dsa\n")
	eventually(t, 30*time.Second, "unready with a bad domains file", health(503, "config_error"))
	if got := api.metrics()["hotcert_config_valid"]; got != 0 {
		t.Errorf("config_valid = %v with a rejected domains file", got)
	}
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n")
	eventually(t, 30*time.Second, "ready with the file fixed", health(200, `"ready"`))
}

func checkCLI(t *testing.T, e *env, serial string) {
	out, errOut, code := runBin(t, "status", "--config", e.cfgPath)
	if code != 0 || !strings.Contains(out, "shop.example.test") || !strings.Contains(out, "lb1="+serial) {
		t.Fatalf("hotcert status: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runBin(t, "status", "-o", "json", "--config", e.cfgPath)
	var list struct{ Certificates []daemon.CertStatus }
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || list.Certificates[0].Serial != serial {
		t.Fatalf("hotcert status -o json: exit %d %v\n%s%s", code, err, out, errOut)
	}
	for _, args := range [][]string{{"renew", "nope"}, {"revoke", "nope", "--reason", "superseded"}, {"revoke", "shop", "--reason", "bogus"}} {
		out, errOut, code = runBin(t, append(args, "--config", e.cfgPath)...)
		if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Fatalf("hotcert %v: exit %d, want one error line; stdout %q stderr %q", args, code, out, errOut)
		}
	}
}

func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(hotcertBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func waitNewSerial(t *testing.T, h *haproxy, sni string, old *big.Int) *x509.Certificate {
	t.Helper()
	var got *x509.Certificate
	eventually(t, 120*time.Second, "a new certificate served for "+sni, func() error {
		c, err := h.Served(sni, nil)
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(old) == 0 {
			return fmt.Errorf("still serving %x", old)
		}
		got = c
		return nil
	})
	return got
}

func mustBig(t *testing.T, hex string) *big.Int {
	n, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		t.Fatalf("bad serial %q", hex)
	}
	return n
}

// certStatus asks Pebble's management API whether it revoked serial.
func (e *env) certStatus(t *testing.T, serial *big.Int) (string, int) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.RootsPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(e.ca.ManagementURL + "/cert-status-by-serial/" + serial.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Status string
		Reason *int
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("cert-status-by-serial %x: %d %v", serial, resp.StatusCode, err)
	}
	if st.Reason == nil {
		return st.Status, -1
	}
	return st.Status, *st.Reason
}

// TestAdminOneShotOrder: bad uploads are refused before the CA sees them;
// a good one (RSA 4096 account, RSA 2048 domain key) comes back as a bundle
// that another HAProxy loads over its runtime API and serves.
func TestAdminOneShotOrder(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.writeDomains("certificates: []\n")
	p := e.start()
	api := e.adminAPI(t)
	acct, dom := rsaPEM(t, 4096), rsaPEM(t, 2048)
	form := func(edit func(map[string]string)) (string, io.Reader) {
		f := map[string]string{"account_key": acct, "domain_key": dom, "domain": "oneshot.example.test", "aliases": "www.oneshot.example.test"}
		if edit != nil {
			edit(f)
		}
		return multipartForm(t, f)
	}
	weak := rsaPEM(t, 1024)
	bad := []struct {
		name, field string
		edit        func(map[string]string)
	}{
		{"1024-bit key", "domain_key", func(f map[string]string) { f["domain_key"] = weak }},
		{"malformed PEM", "account_key", func(f map[string]string) { f["account_key"] = strings.Replace(acct, "M", "*", 5) }},
		{"missing field", "domain", func(f map[string]string) { delete(f, "domain") }},
		{"oversize body", "body", func(f map[string]string) { f["aliases"] = strings.Repeat("x", 80<<10) }},
		{"bad name", "aliases", func(f map[string]string) { f["aliases"] = "www.oneshot.example.test;show info" }},
	}
	orders := e.ca.Orders()
	for _, c := range bad {
		ctype, body := form(c.edit)
		code, hdr, out := api.do(http.MethodPost, "/v1/orders", api.token, ctype, body)
		var prob admin.Problem
		if err := json.Unmarshal(out, &prob); err != nil || code < 400 || code > 499 ||
			hdr.Get("Content-Type") != "application/problem+json" || prob.Field != c.field {
			t.Fatalf("%s: %d %s %s, want a 4xx problem naming %q", c.name, code, hdr.Get("Content-Type"), out, c.field)
		}
	}
	if got := e.ca.Orders(); got != orders {
		t.Fatalf("bad uploads placed %d orders", got-orders)
	}

	ctype, body := form(nil)
	code, hdr, out := api.do(http.MethodPost, "/v1/orders", api.token, ctype, body)
	if code != 200 || hdr.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("one-shot order: %d %s\n%s\nlogs:\n%s", code, hdr.Get("Content-Type"), out, p.Logs())
	}
	if e.ca.Orders() != orders+1 {
		t.Fatalf("one-shot placed %d orders, want 1", e.ca.Orders()-orders)
	}
	pair, err := tls.X509KeyPair(out, out)
	if err != nil {
		t.Fatalf("answer is not a certificate with its key: %v", err)
	}
	domKey, _ := issuer.ParseKey([]byte(dom))
	if !pair.PrivateKey.(*rsa.PrivateKey).Equal(domKey) {
		t.Fatal("answer carries another key than the uploaded domain key")
	}
	path := filepath.Join(t.TempDir(), "oneshot.pem")
	writeFile(t, path, string(out))
	assertChainVerifies(t, e, path, "www.oneshot.example.test")

	// Load it into an HAProxy that hotcert does not manage, over the runtime API.
	other := startHAProxy(t, e.challenge)
	rt := runtime.New(runtime.Options{Name: "other", Socket: other.Socket, CertDir: other.CertDir, CrtList: other.CrtList})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Push(ctx, "oneshot", out); err != nil {
		t.Fatalf("HAProxy refused the one-shot bundle: %v", err)
	}
	served, err := other.Served("www.oneshot.example.test", nil)
	if err != nil || served.SerialNumber.Cmp(pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("HAProxy serves %v (%v), want the one-shot serial %x", served.SerialNumber, err, pair.Leaf.SerialNumber)
	}
	p.stop(t)
}

func rsaPEM(t *testing.T, bits int) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	b, err := issuer.MarshalKey(crypto.Signer(k))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// multipartForm sends keys as files, as `curl -F account_key=@file` does.
func multipartForm(t *testing.T, fields map[string]string) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if strings.HasSuffix(k, "_key") {
			w, _ := mw.CreateFormFile(k, k+".pem")
			io.WriteString(w, v)
			continue
		}
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// TestCheckPrintsEveryError: three mistakes in the config, three lines,
// each with file, line and column, and exit status 1.
func TestCheckPrintsEveryError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hotcert.yaml")
	writeFile(t, filepath.Join(dir, "domains.yaml"), "certificates: []\n")
	writeFile(t, cfg, `acme:
  directory: http://acme.example.com/directory
  accept_terms: false
state_dir: state
haproxy:
  - name: lb1
    socket: /run/haproxy/admin.sock
    cert_dir: /etc/haproxy/certs
`)
	out, errOut, code := runBin(t, "check", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || len(lines) != 3 {
		t.Fatalf("hotcert check: exit %d, %d lines, want 1 and 3:\n%s%s", code, len(lines), out, errOut)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(cfg) + `:\d+:\d+: \S+: .+`)
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("line %q lacks FILE:LINE:COL: FIELD: message", l)
		}
	}
}
