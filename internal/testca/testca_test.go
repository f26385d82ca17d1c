package testca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	ca, err := Start(Options{HTTPPort: 5002})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if !strings.HasPrefix(ca.DirectoryURL, "https://127.0.0.1:") || !strings.HasSuffix(ca.DirectoryURL, "/dir") {
		t.Errorf("DirectoryURL = %q", ca.DirectoryURL)
	}
	res, err := ca.HTTPClient().Get(ca.DirectoryURL)
	if err != nil {
		t.Fatalf("directory over TLS trusted by RootsPEM: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("directory: %s", res.Status)
	}

	root, err := ca.IssuerRootPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(root)
	if blk == nil {
		t.Fatalf("issuer root is not PEM: %q", root)
	}
	if c, err := x509.ParseCertificate(blk.Bytes); err != nil || !c.IsCA {
		t.Fatalf("issuer root: %v", err)
	}
	if ca.Orders() != 0 {
		t.Errorf("Orders() = %d before any order", ca.Orders())
	}
}

func TestDNSAnswersLoopbackAOnly(t *testing.T) {
	ca, r, ctx := startWithResolver(t, Options{})
	addrs, err := r.LookupIPAddr(ctx, "anything.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || !addrs[0].IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("addresses = %v, want only 127.0.0.1", addrs)
	}
	ca.SetTXT("_acme-challenge.x.example.com.", "v1")
	txt, err := r.LookupTXT(ctx, "_acme-challenge.x.example.com")
	if err != nil || len(txt) != 1 || txt[0] != "v1" {
		t.Fatalf("TXT = %v, %v", txt, err)
	}
}

// TestHostsPointNamesAtAddresses: a cluster test sends each name's
// validation to one load balancer's address.
func TestHostsPointNamesAtAddresses(t *testing.T) {
	ca, r, ctx := startWithResolver(t, Options{Hosts: map[string]string{"lb2.example.test": "127.0.0.3"}})
	lookup := func(name, want string) {
		t.Helper()
		addrs, err := r.LookupIPAddr(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || !addrs[0].IP.Equal(net.ParseIP(want)) {
			t.Fatalf("%s resolves to %v, want only %s", name, addrs, want)
		}
	}
	lookup("lb2.example.test", "127.0.0.3")
	lookup("other.example.test", "127.0.0.1")
	if err := ca.SetHost("lb2.example.test", "127.0.0.4"); err != nil {
		t.Fatal(err)
	}
	lookup("lb2.example.test", "127.0.0.4")
	if err := ca.SetHost("lb2.example.test", ""); err != nil {
		t.Fatal(err)
	}
	lookup("lb2.example.test", "127.0.0.1")
	if err := ca.SetHost("x.example.test", "::1"); err == nil {
		t.Fatal("SetHost took an IPv6 address")
	}
}

// startWithResolver starts a CA for the test, with a resolver that asks
// its DNS server as Pebble's VA does, and a context for the lookups.
func startWithResolver(t *testing.T, o Options) (*CA, *net.Resolver, context.Context) {
	t.Helper()
	ca, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ca.DNSAddr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ca, r, ctx
}
