package issuer_test

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/hotcert/hotcert/internal/testca"
	"github.com/hotcert/hotcert/issuer"
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

// TestIssueValidatesEveryNameAndRevokes runs with authorization reuse off,
// so both names go through http-01. Its speed is measured by BenchmarkIssue,
// not asserted here: a loaded machine must not fail a test.
func TestIssueValidatesEveryNameAndRevokes(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	e := startEnv(t, testca.Options{})
	c := e.client(t, nil)
	if _, err := c.Register(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	domains := []string{"fast.example.com", "www.fast.example.com"}
	b, err := c.Issue(ctxT(t), issuer.Request{Name: "fast", Domains: domains})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, e, b, domains, "ecdsa-p256")
	if pendingHits(e) < 2 {
		t.Error("with authz reuse off, both names must have been validated over http-01")
	}
	if err := c.Revoke(ctxT(t), b.Leaf.Raw, nil, 4); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// BenchmarkIssue is the ACME work of one issuance for two names against
// in-process Pebble without validation sleeps. x/crypto's own waits poll
// once a second; short polling issues in a small fraction of that.
//
//	go test -run '^$' -bench Issue -benchtime 20x ./issuer/
func BenchmarkIssue(b *testing.B) {
	b.Setenv("PEBBLE_VA_NOSLEEP", "1")
	b.Setenv("PEBBLE_AUTHZREUSE", "0")
	e := startEnv(b, testca.Options{})
	c := e.client(b, nil)
	if _, err := c.Register(ctxT(b)); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("b%d.example.com", i)
		if _, err := c.Issue(ctxT(b), issuer.Request{Name: name, Domains: []string{name, "www." + name}}); err != nil {
			b.Fatal(err)
		}
	}
}
