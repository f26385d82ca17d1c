package issuer

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNewHTTPClientTrustsTheGivenRoots(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	roots := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	hc, err := NewHTTPClient(roots)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatalf("a CA signed by the given roots: %v", err)
	}
	resp.Body.Close()

	hc, err = NewHTTPClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := hc.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("without the roots, the test CA was trusted")
	}
}

func TestNewHTTPClientRefusesRootsWithoutCertificates(t *testing.T) {
	for _, roots := range [][]byte{{}, []byte("not PEM\n")} {
		if _, err := NewHTTPClient(roots); err == nil || err.Error() != "no PEM certificates" {
			t.Errorf("NewHTTPClient(%q) = %v", roots, err)
		}
	}
}

// A CA that accepts and never answers must not hold an order forever.
func TestNewHTTPClientHasTimeouts(t *testing.T) {
	hc, err := NewHTTPClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || hc.Timeout <= 0 || tr.ResponseHeaderTimeout <= 0 {
		t.Fatalf("timeout %v, transport %T", hc.Timeout, hc.Transport)
	}
}
