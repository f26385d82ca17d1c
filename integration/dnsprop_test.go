package integration

import (
	"net"
	"testing"
	"time"

	"github.com/hotcert/hotcert/dns01"
)

// TestDNS01PropagationSkipsAnUnreachableAddress: BIND hands out its NS host's
// A and AAAA as glue but listens on IPv4 only, as a nameserver looks from a
// host with no IPv6 route. The wait must succeed on the address that answers.
func TestDNS01PropagationSkipsAnUnreachableAddress(t *testing.T) {
	b := startBIND(t, bindZone{name: "example.test", records: []string{"ns1 IN AAAA ::1"}})
	_, port, _ := net.SplitHostPort(b.Addr)
	s, err := dns01.New(dns01.Options{
		Server: b.Addr, KeyName: b.KeyName, Secret: b.Secret, NameserverPort: port,
		PropagationTimeout: 10 * time.Second, PollInterval: 100 * time.Millisecond, QueryTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Present(t.Context(), dns01.Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(t.Context(), dns01.Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatalf("Wait = %v, want success: BIND answers on 127.0.0.1", err)
	}
}
