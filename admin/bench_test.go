package admin

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkMetricsScrape renders /metrics with 1,000 certificates, what a
// large host's Prometheus pulls every scrape interval.
func BenchmarkMetricsScrape(b *testing.B) {
	m := NewMetrics("test")
	now := time.Now()
	for i := range 1000 {
		m.Certificate(fmt.Sprintf("cert-%04d", i), true, now.Add(90*24*time.Hour), now.Add(60*24*time.Hour))
	}
	h := m.Handler()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		io.Discard.Write(rec.Body.Bytes())
	}
}
