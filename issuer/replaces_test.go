package issuer_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
)

// TestRenewalNamesTheCertificateItReplaces: a renewal at a CA that offers ARI sends
// "replaces" in newOrder, and Pebble records the replacement. A second renewal of the same
// certificate is refused by Pebble as already replaced; the order then goes without the
// field instead of failing.
func TestRenewalNamesTheCertificateItReplaces(t *testing.T) {
	t.Parallel()
	pebbleLog := &lockedBuffer{}
	e := startEnv(t, testca.Options{Logger: pebbleLog})
	rec := &recorder{suffix: "/order-plz"}
	dir := e.record(t, rec)
	c := e.client(t, func(o *issuer.Options) { o.DirectoryURL = dir })
	domains := []string{"renew.example.com", "www.renew.example.com"}
	old, err := c.Issue(ctxT(t), issuer.Request{Name: "renew", Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	want := ariID(t, old.Leaf)

	renewed, err := c.Issue(ctxT(t), issuer.Request{Name: "renew", Domains: domains, Replaces: old.Leaf})
	if err != nil {
		t.Fatalf("renewal: %v", err)
	}
	verify(t, e, renewed, domains, "ecdsa-p256")
	orders := rec.exchanges()
	if len(orders) != 2 {
		t.Fatalf("%d newOrder requests, want 2", len(orders))
	}
	if got := replacesOf(t, orders[1].Body); got != want {
		t.Fatalf("renewal's newOrder sent replaces %q, want %q", got, want)
	}
	if got := replacesOf(t, orders[1].Response); orders[1].Status != http.StatusCreated || got != want {
		t.Fatalf("Pebble answered the renewal %d with replaces %q, want 201 with %q", orders[1].Status, got, want)
	}
	// Pebble marks the old certificate replaced once the new order is finalized, after
	// the order shows as valid.
	waitFor(t, func() bool { return strings.Contains(pebbleLog.String(), "has been marked as replaced") })

	again, err := c.Issue(ctxT(t), issuer.Request{Name: "renew", Domains: domains, Replaces: old.Leaf})
	if err != nil {
		t.Fatalf("renewal of an already replaced certificate: %v, want an order without replaces", err)
	}
	verify(t, e, again, domains, "ecdsa-p256")
	orders = rec.exchanges()
	if len(orders) != 4 {
		t.Fatalf("%d newOrder requests, want 4 (one refused, then one without replaces)", len(orders))
	}
	refused, retried := orders[2], orders[3]
	if replacesOf(t, refused.Body) != want || !strings.Contains(string(refused.Response), "alreadyReplaced") {
		t.Fatalf("third newOrder: status %d %s; want replaces %q refused as alreadyReplaced", refused.Status, refused.Response, want)
	}
	if got := replacesOf(t, retried.Body); got != "" || retried.Status != http.StatusCreated {
		t.Fatalf("order after the refusal: status %d, replaces %q; want 201 without replaces", retried.Status, got)
	}
}

// ariID is RFC 9773's certificate identifier, computed apart from the issuer's: the
// authority key identifier and the serial's DER content octets, each base64url.
func ariID(t *testing.T, leaf *x509.Certificate) string {
	t.Helper()
	der, err := asn1.Marshal(leaf.SerialNumber)
	if err != nil || len(der) < 3 || der[1] >= 0x80 {
		t.Fatalf("serial %x: %v", leaf.SerialNumber, err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(der[2:])
}

// replacesOf reads the replaces field of a newOrder JWS body or of an order object.
func replacesOf(t *testing.T, body []byte) string {
	t.Helper()
	if bytes.Contains(body, []byte(`"protected"`)) {
		body = parseJWS(t, body).Payload
	}
	var v struct{ Replaces string }
	_ = json.Unmarshal(body, &v)
	return v.Replaces
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer that Pebble's goroutines can write to while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
