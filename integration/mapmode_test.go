package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMapChallengeMode: with challenge.haproxy_map, HAProxy answers HTTP-01
// itself from a map that hotcert fills over the runtime API. hotcert's own
// challenge backend is out of HAProxy's reach here, so only the map can
// answer, and the map is empty again once the order is done.
func TestMapChallengeMode(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	e.listen = freePort(t) // not the port HAProxy's hotcert_acme backend points at
	e.challengeExtra = fmt.Sprintf("  haproxy_map: %s\n", h.MapFile)
	e.writeDomains("certificates:\n  - domains: [map.example.test, www.map.example.test]\n")
	e.start()
	h.waitServed("map.example.test", e.bundle(0, "map.example.test"), 2*time.Minute)

	out, err := h.CLI("show map " + h.MapFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Fatalf("challenge map not cleaned up after the order:\n%s", out)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/.well-known/acme-challenge/unknown-token", h.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("HAProxy answers a token that is not pending")
	}
}
