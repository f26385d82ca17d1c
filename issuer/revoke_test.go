package issuer_test

import (
	"crypto"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
)

// TestRevokeKeyCompromiseSignsWithTheCertificateKey: Let's Encrypt takes reason
// keyCompromise only from a request signed by the certificate's own key, carried as a jwk.
// Pebble accepts either signature, so the test reads what was signed.
func TestRevokeKeyCompromiseSignsWithTheCertificateKey(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testca.Options{})
	rec := &recorder{suffix: "/revoke-cert"}
	dir := e.record(t, rec)
	c := e.client(t, func(o *issuer.Options) { o.DirectoryURL = dir })
	account, err := c.Register(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	compromised, err := c.Issue(ctxT(t), issuer.Request{Name: "kc", Domains: []string{"kc.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	superseded, err := c.Issue(ctxT(t), issuer.Request{Name: "ss", Domains: []string{"ss.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctxT(t), compromised.Leaf.Raw, superseded.Key, 1); err == nil || !issuer.IsPermanent(err) {
		t.Fatalf("keyCompromise with another certificate's key: %v, want a permanent error", err)
	}
	if err := c.Revoke(ctxT(t), compromised.Leaf.Raw, compromised.Key, 1); err != nil {
		t.Fatalf("revoke keyCompromise: %v", err)
	}
	if err := c.Revoke(ctxT(t), superseded.Leaf.Raw, superseded.Key, 4); err != nil {
		t.Fatalf("revoke superseded: %v", err)
	}
	got := rec.exchanges()
	if len(got) != 2 {
		t.Fatalf("%d revocation requests reached the CA, want 2", len(got))
	}
	kc := parseJWS(t, got[0].Body)
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(kc.Header.JWK, &jwk); err != nil || kc.Header.KID != "" {
		t.Fatalf("keyCompromise revocation signed with kid %q, jwk %s (%v); want the certificate's jwk only",
			kc.Header.KID, kc.Header.JWK, err)
	}
	if !compromised.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(jwk.Key) {
		t.Fatal("keyCompromise revocation carries a jwk that is not the certificate's key")
	}
	if ss := parseJWS(t, got[1].Body); ss.Header.KID != account || len(ss.Header.JWK) != 0 {
		t.Fatalf("superseded revocation signed with kid %q, jwk %s; want the account %q", ss.Header.KID, ss.Header.JWK, account)
	}
}
