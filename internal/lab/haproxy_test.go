package lab

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
)

// TestInstancesOnTheirOwnAddresses runs two instances on the same ports,
// one on 127.0.0.2 and one on 127.0.0.3, as a cluster's load balancers
// are laid out, and counts the HTTP requests each one took.
func TestInstancesOnTheirOwnAddresses(t *testing.T) {
	if _, err := FindHAProxy(); errors.Is(err, ErrNoHAProxy) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	addrs := []string{"127.0.0.2", "127.0.0.3"}
	https, err := FreePortOn(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, err := FreePortOn(addrs...)
	if err != nil {
		t.Fatal(err)
	}
	var hs []*HAProxy
	for _, a := range addrs {
		h, err := New(t.TempDir(), Options{Addr: a, HTTPSPort: https, HTTPPort: httpPort, Challenge: "127.0.0.1:9"})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Stop)
		hs = append(hs, h)
	}
	// The HTTP frontend redirects to https; the redirect is its answer.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, h := range hs {
		for range i + 1 {
			resp, err := noFollow.Get(fmt.Sprintf("http://%s:%d/", h.Addr, httpPort))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if _, err := h.Served("placeholder.invalid", nil); err != nil {
			t.Fatalf("%s: %v", h.Addr, err)
		}
	}
	for i, h := range hs {
		if n, err := h.HTTPRequests(); err != nil || n != i+1 {
			t.Errorf("%s took %d requests (%v), want %d", h.Addr, n, err, i+1)
		}
	}
}
