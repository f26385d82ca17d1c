package issuer_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/testca"
)

func bigOne() *big.Int { return big.NewInt(1) }

// These tests set Pebble's environment, so they cannot run in parallel.

func TestIssueUnderNonceRejection(t *testing.T) {
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "50")
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	domains := []string{"nonce.example.com", "www.nonce.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "nonce", Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, e, b, domains, "ecdsa-p256")
}

func TestIssueIsFast(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	if _, err := c.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	domains := []string{"fast.example.com", "www.fast.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "fast", Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto's own waits poll once a second; short polling issues in well under that.
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("issuance took %s; polling is too slow", took)
	}
	verify(t, e, b, domains, "ecdsa-p256")
	if pendingHits(e) < 2 {
		t.Error("with authz reuse off, both names must have been validated over http-01")
	}
	if err := c.Revoke(ctxT(t), b.Leaf.Raw, 4); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}
