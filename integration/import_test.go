package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/issuer/http01"
)

// issued is a certificate Pebble issued to another ACME client.
type issued struct {
	name    string
	domains []string
	*issuer.Bundle
}

// issueElsewhere has Pebble issue certificates to a client of the test's
// own (another account, its own HTTP-01 responder on the port HAProxy's
// challenge backend points at), as certbot would have before the move to
// hotcert. The responder is gone when it returns, so hotcert can bind it.
func issueElsewhere(t *testing.T, e *env, certs ...issued) []issued {
	t.Helper()
	responder := http01.New(slog.New(slog.DiscardHandler))
	srv := responder.Server(e.hostPort(e.challenge))
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	hc, err := issuer.NewHTTPClient(e.ca.RootsPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Pebble's default profile gives 90 days, so nothing is due for renewal.
	c := issuer.New(issuer.Options{DirectoryURL: e.ca.DirectoryURL, AcceptTerms: true, HTTPClient: hc,
		HTTPSolver: responder, Profile: "default"}, key)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, ci := range certs {
		kt := bundle.ECDSAP256
		if strings.HasSuffix(ci.name, "-rsa") {
			kt = bundle.RSA2048
		}
		b, err := c.Issue(ctx, issuer.Request{Name: ci.name, Domains: ci.domains, KeyType: kt})
		if err != nil {
			t.Fatalf("issue %s: %v", ci.name, err)
		}
		certs[i].Bundle = b
	}
	return certs
}

// certbotDir lays the certificates out as certbot keeps them: the files
// in archive/NAME/ numbered, live/NAME/ symlinks to them, and a renewal
// conf naming the CA.
func certbotDir(t *testing.T, e *env, certs []issued) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range certs {
		blk, rest := pem.Decode(c.CertPEM)
		files := map[string][]byte{"cert": pem.EncodeToMemory(blk), "chain": rest, "fullchain": c.CertPEM, "privkey": c.KeyPEM}
		for _, sub := range []string{"archive", "live"} {
			if err := os.MkdirAll(filepath.Join(dir, sub, c.name), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for base, data := range files {
			writeFile(t, filepath.Join(dir, "archive", c.name, base+"2.pem"), string(data))
			if err := os.Symlink("../../archive/"+c.name+"/"+base+"2.pem", filepath.Join(dir, "live", c.name, base+".pem")); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "renewal"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "renewal", c.name+".conf"), fmt.Sprintf("version = 2.9.0\narchive_dir = /etc/letsencrypt/archive/%s\n"+
			"fullchain = /etc/letsencrypt/live/%s/fullchain.pem\n\n[renewalparams]\nauthenticator = webroot\nserver = %s\n", c.name, c.name, e.ca.DirectoryURL))
	}
	writeFile(t, filepath.Join(dir, "live", "README"), "This directory contains your keys and certificates.\n")
	return dir
}

// rsaOnly is a TLS 1.2 client that takes RSA certificates only, for which
// HAProxy picks the RSA half of a dual certificate.
var rsaOnly = &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}

// TestImportCertbot: certificates Pebble issued to "certbot" are imported
// from a certbot-shaped directory, and hotcert serves exactly them (the
// same serials) without a single order at the CA. A certificate the
// domains file lacks is not imported, and the report shows the entry that
// would adopt it; importing again changes nothing.
func TestImportCertbot(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	certs := issueElsewhere(t, e,
		issued{name: "shop", domains: []string{"shop.example.test", "www.shop.example.test"}},
		issued{name: "shop-rsa", domains: []string{"www.shop.example.test", "shop.example.test"}},
		issued{name: "blog", domains: []string{"blog.example.test"}},
		issued{name: "legacy", domains: []string{"legacy.example.test"}})
	dir := certbotDir(t, e, certs)
	// The domains file names the certificates in its own order and its own
	// way: shop is dual, and the blog entry has another name than certbot's.
	e.writeDomains("certificates:\n  - name: shop\n    domains: [www.shop.example.test, shop.example.test]\n    key_type: [ecdsa-p256, rsa2048]\n" +
		"  - domains: [blog.example.test]\n")
	orders := e.ca.Orders()
	out := e.importFrom(t, "certbot", dir)
	for _, want := range []string{
		filepath.Join(dir, "live", "shop") + ": imported as shop (ecdsa-p256, serial " + fmt.Sprintf("%x", certs[0].Leaf.SerialNumber),
		filepath.Join(dir, "live", "shop-rsa") + ": imported as shop (rsa2048",
		filepath.Join(dir, "live", "blog") + ": imported as blog.example.test (ecdsa-p256",
		filepath.Join(dir, "live", "legacy") + ": skipped: not in the domains file",
		"  - name: legacy\n    domains: [legacy.example.test]\n    key_type: ecdsa-p256\n",
		"3 imported, 0 unchanged, 1 skipped, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q", want)
		}
	}
	if out := e.importFrom(t, "certbot", dir); !strings.Contains(out, "0 imported, 3 unchanged, 1 skipped, 0 failed") {
		t.Fatal("a second import changed something")
	}

	p := e.start()
	want := map[string]*x509.Certificate{"shop.example.test": certs[0].Leaf, "www.shop.example.test": certs[0].Leaf, "blog.example.test": certs[2].Leaf}
	for sni, leaf := range want {
		waitServing(t, h, sni, nil, leaf)
	}
	waitServing(t, h, "shop.example.test", rsaOnly, certs[1].Leaf)
	expectNoOrders(t, e, orders)
	p.stop(t)
}

// TestImportPEM: bundles as HAProxy loads them (a dual certificate as two
// files, one key in a .key file beside its bundle) are imported and served
// without an order.
func TestImportPEM(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	certs := issueElsewhere(t, e,
		issued{name: "shop", domains: []string{"shop.example.test"}},
		issued{name: "shop-rsa", domains: []string{"shop.example.test"}},
		issued{name: "api", domains: []string{"api.example.test", "www.api.example.test"}})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "shop.pem"), string(certs[0].CertPEM)+string(certs[0].KeyPEM))
	writeFile(t, filepath.Join(dir, "shop.pem.rsa"), string(certs[1].CertPEM)+string(certs[1].KeyPEM))
	writeFile(t, filepath.Join(dir, "api.pem"), string(certs[2].CertPEM))
	writeFile(t, filepath.Join(dir, "api.pem.key"), string(certs[2].KeyPEM))
	e.writeDomains("certificates:\n  - name: shop\n    domains: [shop.example.test]\n    key_type: [ecdsa-p256, rsa2048]\n" +
		"  - name: api\n    domains: [api.example.test, www.api.example.test]\n")
	orders := e.ca.Orders()
	if out := e.importFrom(t, "pem", dir); !strings.Contains(out, "3 imported, 0 unchanged, 0 skipped, 0 failed") {
		t.Fatal("import did not import the three bundles")
	}
	p := e.start()
	waitServing(t, h, "shop.example.test", nil, certs[0].Leaf)
	waitServing(t, h, "shop.example.test", rsaOnly, certs[1].Leaf)
	waitServing(t, h, "www.api.example.test", nil, certs[2].Leaf)
	expectNoOrders(t, e, orders)
	p.stop(t)
}

// importFrom runs hotcert import with the env's config (written now if it
// is not yet) and returns its report, failing the test on a non-zero exit.
func (e *env) importFrom(t *testing.T, from, dir string) string {
	t.Helper()
	if _, err := os.Stat(e.cfgPath); err != nil {
		e.writeConfig()
	}
	out, errOut, code := runBin(t, "import", "--config", e.cfgPath, "--from", from, dir)
	t.Logf("hotcert import --from %s:\n%s%s", from, out, errOut)
	if code != 0 {
		t.Fatalf("hotcert import: exit %d", code)
	}
	return out
}

// waitServing waits until HAProxy serves leaf for sni to a client of cfg.
func waitServing(t *testing.T, h *haproxy, sni string, cfg *tls.Config, leaf *x509.Certificate) {
	t.Helper()
	eventually(t, 60*time.Second, "HAProxy serving the imported certificate for "+sni, func() error {
		got, err := h.Served(sni, cfg)
		if err != nil {
			return err
		}
		if got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			return fmt.Errorf("serves serial %x, want %x", got.SerialNumber, leaf.SerialNumber)
		}
		return nil
	})
}

// expectNoOrders: after two more reconcile passes (each decides from
// everything before it), the CA has seen no order since orders, and
// hotcert counts none.
func expectNoOrders(t *testing.T, e *env, orders int) {
	t.Helper()
	api := e.adminAPI(t)
	list := e.statusAfterTwoPasses(t, api)
	if o := ordering(list); len(o) != 0 {
		t.Errorf("hotcert decided to order %v", o)
	}
	if got := e.ca.Orders(); got != orders {
		t.Errorf("the CA saw %d new orders after the import; logs:\n%s", got-orders, e.proc.Logs())
	}
	for k, v := range api.metrics() {
		if strings.HasPrefix(k, "hotcert_orders_total") && v != 0 {
			t.Errorf("%s = %v", k, v)
		}
	}
}
