package admin

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/issuer"
)

const testToken = "s3cret-token"

type fakeDaemon struct {
	mu      sync.Mutex
	renewed []string
	revoked map[string]int
	down    map[string]string
	cfgErr  error
	probes  int
	// release, when set, holds every probe until it is closed.
	release chan struct{}
	held    []string
	planned []*configs.Domains
	// certs are the statuses, sorted by name; nil: shop alone.
	certs   []daemon.CertStatus
	lookups int // calls of StatusOf
}

func (f *fakeDaemon) statuses() []daemon.CertStatus {
	if f.certs == nil {
		return []daemon.CertStatus{{Name: "shop", Domains: []string{"shop.test"}, State: "ok", Loaded: map[string]string{"lb1": "ab"}}}
	}
	return f.certs
}

// StatusPage finds the page's start by binary search and counts the
// matches in one pass over the sorted slice.
func (f *fakeDaemon) StatusPage(q daemon.StatusQuery) (page []daemon.CertStatus, total, rest int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.statuses()
	from, _ := slices.BinarySearchFunc(all, q.After, func(s daemon.CertStatus, after string) int {
		if s.Name <= after {
			return -1
		}
		return 1
	})
	for i, s := range all {
		if !strings.HasPrefix(s.State, q.State) {
			continue
		}
		total++
		if i >= from && (q.Limit == 0 || len(page) < q.Limit) {
			page = append(page, s)
		} else if i >= from {
			rest++
		}
	}
	return page, total, rest
}

func (f *fakeDaemon) StatusOf(name string) (daemon.CertStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	for _, s := range f.statuses() {
		if s.Name == name {
			return s, true
		}
	}
	return daemon.CertStatus{}, false
}

// setStatus puts s in the list in its place by name.
func (f *fakeDaemon) setStatus(s daemon.CertStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.certs = slices.DeleteFunc(slices.Clone(f.statuses()), func(c daemon.CertStatus) bool { return c.Name == s.Name })
	i, _ := slices.BinarySearchFunc(f.certs, s.Name, func(c daemon.CertStatus, n string) int { return strings.Compare(c.Name, n) })
	f.certs = slices.Insert(f.certs, i, s)
}

func (f *fakeDaemon) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func (f *fakeDaemon) Renew(name string) error {
	if name != "shop" {
		return daemon.ErrUnknownCertificate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = append(f.renewed, name)
	return nil
}

func (f *fakeDaemon) Revoke(_ context.Context, name string, reason int) error {
	if name != "shop" {
		return daemon.ErrUnknownCertificate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[name] = reason
	return nil
}

func (f *fakeDaemon) ConfigErr() error { return f.cfgErr }

func (f *fakeDaemon) Removals() []daemon.RemovalStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []daemon.RemovalStatus
	for _, n := range f.held {
		out = append(out, daemon.RemovalStatus{Name: n, State: "held", Reason: "over the limit"})
	}
	return out
}

func (f *fakeDaemon) ConfirmRemovals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string{}, f.held...)
	f.held = nil
	return out
}

func (f *fakeDaemon) Plan(_ context.Context, doms *configs.Domains) (*daemon.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.planned = append(f.planned, doms)
	p := &daemon.Plan{Counts: map[string]int{"issue": len(doms.Certificates)}}
	for _, c := range doms.Certificates {
		p.Certificates = append(p.Certificates, daemon.PlanEntry{Name: c.Name, Action: "issue", Reason: "new certificate"})
	}
	return p, nil
}

func (f *fakeDaemon) Probe(ctx context.Context) map[string]string {
	f.mu.Lock()
	f.probes++
	release, down := f.release, f.down
	f.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	return down
}

func (f *fakeDaemon) setDown(down map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeDaemon) probeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

// fakeOrders counts the clients made and the orders placed.
type fakeOrders struct {
	mu      sync.Mutex
	clients int
	reqs    []issuer.Request
}

func (f *fakeOrders) newClient(crypto.Signer) OrderClient {
	f.mu.Lock()
	f.clients++
	f.mu.Unlock()
	return f
}

func (f *fakeOrders) Register(context.Context) (string, error) { return "acct", nil }

func (f *fakeOrders) Issue(_ context.Context, req issuer.Request) (*issuer.Bundle, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: req.Domains, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, req.Key.Public(), req.Key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	kp, _ := issuer.MarshalKey(req.Key)
	return &issuer.Bundle{Key: req.Key, KeyPEM: kp, Leaf: leaf, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

type rig struct {
	srv   *httptest.Server
	d     *fakeDaemon
	o     *fakeOrders
	m     *Metrics
	clock *fakeClock
}

func newRig(t *testing.T, edit ...func(*Options)) *rig {
	r := &rig{d: &fakeDaemon{revoked: map[string]int{}}, o: &fakeOrders{}, m: NewMetrics("test"), clock: &fakeClock{}}
	opt := Options{Daemon: r.d, Token: testToken, Metrics: r.m, NewClient: r.o.newClient, MaxBody: 32 << 10, Now: r.clock.Now}
	for _, e := range edit {
		e(&opt)
	}
	s := New(opt)
	r.srv = httptest.NewServer(s.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rig) do(t *testing.T, method, path, token, ctype string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPostWithoutTokenIsRefusedAndChangesNothing(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{"/v1/certificates/shop/renew", "/v1/certificates/shop/revoke", "/v1/orders", "/v1/removals/confirm", "/v1/plan"} {
		for _, tok := range []string{"", "wrong", testToken + "x", strings.ToUpper(testToken)} {
			resp, body := r.do(t, http.MethodPost, path, tok, "", nil)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s with token %q: %d %s %s", path, tok, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	}
	if len(r.d.renewed) != 0 || len(r.d.revoked) != 0 || r.o.clients != 0 {
		t.Fatalf("refused requests changed state: renewed %v revoked %v clients %d", r.d.renewed, r.d.revoked, r.o.clients)
	}
}

func TestRenewRevokeAndStatus(t *testing.T) {
	r := newRig(t)
	resp, body := r.do(t, http.MethodGet, "/v1/certificates", "", "", nil)
	var list struct{ Certificates []daemon.CertStatus }
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || list.Certificates[0].Loaded["lb1"] != "ab" {
		t.Fatalf("GET /v1/certificates: %d %v %s", resp.StatusCode, err, body)
	}
	if resp, body := r.do(t, http.MethodPost, "/v1/certificates/shop/renew", testToken, "", nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("renew: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.do(t, http.MethodPost, "/v1/certificates/nope/renew", testToken, "", nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"field":"name"`) {
		t.Fatalf("renew unknown: %d %s", resp.StatusCode, body)
	}
	form := "application/x-www-form-urlencoded"
	if resp, body := r.do(t, http.MethodPost, "/v1/certificates/shop/revoke", testToken, form, strings.NewReader("reason=keyCompromise")); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if resp, body := r.do(t, http.MethodPost, "/v1/certificates/shop/revoke", testToken, form, strings.NewReader("reason=7")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"field":"reason"`) {
		t.Fatalf("revoke with reason 7: %d %s", resp.StatusCode, body)
	}
	if len(r.d.renewed) != 1 || r.d.revoked["shop"] != 1 {
		t.Fatalf("renewed %v revoked %v", r.d.renewed, r.d.revoked)
	}
	r.d.cfgErr = errors.New("domains.yaml:3:5: domains: empty")
	_, body = r.do(t, http.MethodGet, "/v1/certificates", "", "", nil)
	var withErr struct {
		ConfigError  string `json:"config_error"`
		Certificates []daemon.CertStatus
	}
	if err := json.Unmarshal(body, &withErr); err != nil || withErr.ConfigError != "domains.yaml:3:5: domains: empty" || len(withErr.Certificates) != 1 {
		t.Fatalf("status with a rejected domains file: %v %s", err, body)
	}
}

func TestHealthz(t *testing.T) {
	r := newRig(t)
	if resp, body := r.do(t, http.MethodGet, "/healthz", "", "", nil); resp.StatusCode != 200 {
		t.Fatalf("healthy daemon: %d %s", resp.StatusCode, body)
	}
	r.d.setDown(map[string]string{"lb2": "dial unix: no such file"})
	r.clock.Advance(time.Second) // past the answer of the last probe
	if resp, body := r.do(t, http.MethodGet, "/healthz", "", "", nil); resp.StatusCode != 503 || !strings.Contains(string(body), "lb2") {
		t.Fatalf("HAProxy down: %d %s", resp.StatusCode, body)
	}
	r.d.setDown(nil)
	r.d.cfgErr = errors.New("domains.yaml:3:5: domains: empty")
	r.clock.Advance(time.Second)
	if resp, body := r.do(t, http.MethodGet, "/healthz", "", "", nil); resp.StatusCode != 503 || !strings.Contains(string(body), "domains.yaml:3:5") {
		t.Fatalf("bad config: %d %s", resp.StatusCode, body)
	}
}

func TestMetricsParseWithValues(t *testing.T) {
	r := newRig(t)
	na := time.Unix(1900000000, 0)
	r.m.Certificate("shop", true, na, na.Add(-30*24*time.Hour))
	r.m.Certificate("new", false, time.Time{}, time.Time{})
	r.m.HAProxyUp("lb1", true)
	r.m.HAProxyUp("lb2", false)
	r.m.Order("shop", "success", "")
	r.m.Order("shop", "failure", "urn:ietf:params:acme:error:rateLimited")
	r.m.Push("lb1", nil)
	r.m.Push("lb1", errors.New("x"))
	r.m.PassDone(time.Unix(1700000000, 0))
	r.m.PassDone(time.Unix(1800000000, 0))
	r.m.ConfigValid(true)
	r.m.Challenge("hit")
	r.m.Hook("deployed", "timeout")
	_, body := r.do(t, http.MethodGet, "/metrics", "", "", nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, body)
	}
	want := map[string]float64{
		`hotcert_certificate_ready{name="shop"}`:                                         1,
		`hotcert_certificate_ready{name="new"}`:                                          0,
		`hotcert_certificate_expiry_timestamp_seconds{name="shop"}`:                      1900000000,
		`hotcert_certificate_renewal_timestamp_seconds{name="shop"}`:                     1900000000 - 30*24*3600,
		`hotcert_haproxy_up{haproxy="lb1"}`:                                              1,
		`hotcert_haproxy_up{haproxy="lb2"}`:                                              0,
		`hotcert_build_info{version="test"}`:                                             1,
		`hotcert_orders_total{result="success"}`:                                         1,
		`hotcert_orders_total{result="failure"}`:                                         1,
		`hotcert_order_failures_total{problem="urn:ietf:params:acme:error:rateLimited"}`: 1,
		`hotcert_pushes_total{haproxy="lb1",result="success"}`:                           1,
		`hotcert_pushes_total{haproxy="lb1",result="failure"}`:                           1,
		`hotcert_last_reconcile_success_seconds`:                                         1800000000,
		`hotcert_reconcile_passes_total`:                                                 2,
		`hotcert_config_valid`:                                                           1,
		`hotcert_challenge_requests_total{result="hit"}`:                                 1,
		`hotcert_hooks_total{event="deployed",result="timeout"}`:                         1,
	}
	got := flatten(fams)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// A certificate with no bundle has no expiry to alert on, only its ready.
	if _, ok := got[`hotcert_certificate_expiry_timestamp_seconds{name="new"}`]; ok {
		t.Error("a certificate never issued has an expiry series")
	}
	for _, f := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[f]; !ok {
			t.Errorf("no %s: the Go and process collectors are missing", f)
		}
	}
	r.m.Forget("shop")
	_, body = r.do(t, http.MethodGet, "/metrics", "", "", nil)
	if strings.Contains(string(body), `name="shop"`) {
		t.Fatal("a forgotten certificate still has series")
	}
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin.token")
	tok, err := EnsureToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("EnsureToken: %q %v", tok, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", st.Mode().Perm())
	}
	again, _ := EnsureToken(path)
	read, _ := ReadToken(path)
	if again != tok || read != tok {
		t.Fatalf("token changed: %q %q %q", tok, again, read)
	}
	os.WriteFile(path, []byte(" \n"), 0o600)
	if _, err := ReadToken(path); !errors.Is(err, ErrNoToken) {
		t.Fatalf("empty token file: %v", err)
	}
	if tokenMatches("", "") {
		t.Fatal("an empty token must never match")
	}
}

func TestParseReason(t *testing.T) {
	for in, want := range map[string]int{"": 0, "keyCompromise": 1, "SUPERSEDED": 4, "cessationOfOperation": 5, "10": 10} {
		if got, err := ParseReason(in); err != nil || got != want {
			t.Errorf("ParseReason(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"7", "11", "-1", "compromised"} {
		if _, err := ParseReason(bad); err == nil {
			t.Errorf("ParseReason(%q) accepted", bad)
		}
	}
}

func pemKey(t testing.TB, k crypto.Signer) string {
	t.Helper()
	b, err := issuer.MarshalKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rsaKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return k
}

// multipartBody builds a form; a value starting with "@" is sent as a file.
func multipartBody(t testing.TB, fields map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if f, ok := strings.CutPrefix(v, "@"); ok {
			w, _ := mw.CreateFormFile(k, k+".pem")
			io.WriteString(w, f)
			continue
		}
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestBearerScheme(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc"} {
		if got, ok := bearer(h); !ok || got != want {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
	for _, h := range []string{"", "Basic abc", "Bearerabc", "abc"} {
		if _, ok := bearer(h); ok {
			t.Errorf("bearer(%q) accepted", h)
		}
	}
}
