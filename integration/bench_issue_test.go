package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkOrderToServed measures the time from a domains-file edit to
// HAProxy serving every new certificate, for 1 and for 50 certificates per
// edit, against Pebble with PEBBLE_VA_NOSLEEP=1. Independent orders run in
// parallel within acme.concurrency (8). Compare 50 x (certs=1) with certs=50.
//
//	go test -run '^$' -bench OrderToServed -benchtime 5x ./integration/
func BenchmarkOrderToServed(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			b.Setenv("PEBBLE_VA_NOSLEEP", "1")
			e := newEnv(b, envOptions{})
			e.writeDomains("certificates: []\n")
			e.start()
			var names []string
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				var fresh []string
				for j := range n {
					fresh = append(fresh, fmt.Sprintf("b%d-%d-%d.example.test", n, i, j))
				}
				names = append(names, fresh...)
				b.StartTimer()
				e.writeDomains(domainsFor(names))
				for _, name := range fresh {
					e.lbs[0].waitServed(name, e.bundle(0, name), 5*time.Minute)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "certs/s")
		})
	}
}

func domainsFor(names []string) string {
	var sb strings.Builder
	sb.WriteString("certificates:\n")
	for _, n := range names {
		fmt.Fprintf(&sb, "  - domains: [%s]\n", n)
	}
	return sb.String()
}
