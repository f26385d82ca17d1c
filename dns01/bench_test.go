package dns01

import (
	"fmt"
	"testing"
)

// BenchmarkPresentWaitCleanUp is one challenge's DNS work against an in-process
// authoritative server: CNAME and SOA lookups, a signed add, a propagation check on one
// nameserver and a signed delete.
//
//	go test -run '^$' -bench PresentWaitCleanUp -benchtime 200x ./dns01/
func BenchmarkPresentWaitCleanUp(b *testing.B) {
	f := startFake(b, testKey, testSecret, []string{"example.test."}, baseRecords...)
	s, err := New(Options{Server: f.addr, KeyName: testKey, Secret: testSecret, Nameservers: []string{f.addr}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		v := fmt.Sprintf("value-%d", i)
		if err := s.Present(ctx, Challenge{Domain: "www.example.test", Value: v}); err != nil {
			b.Fatal(err)
		}
		if err := s.Wait(ctx, Challenge{Domain: "www.example.test", Value: v}); err != nil {
			b.Fatal(err)
		}
		if err := s.CleanUp(ctx, Challenge{Domain: "www.example.test", Value: v}); err != nil {
			b.Fatal(err)
		}
	}
}
