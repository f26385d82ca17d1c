package admin

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certGauges are the three series each certificate has. At 100,000
// certificates, three GaugeVecs kept 94 MB of label pairs and children;
// this keeps one small value per certificate and makes the series when
// Prometheus scrapes, which walks every certificate in either case.
type certGauges struct {
	ready, expiry, renewal *prometheus.Desc

	mu    sync.Mutex
	certs map[string]certValues
}

// certValues are one certificate's; a zero time has no series.
type certValues struct {
	ready           bool
	expiry, renewal time.Time
}

func newCertGauges() *certGauges {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"name"}, nil)
	}
	return &certGauges{
		ready: desc("hotcert_certificate_ready",
			"1 when every HAProxy serves the certificate's current bundles, 0 otherwise (not issued, refused, not pushed)."),
		expiry:  desc("hotcert_certificate_expiry_timestamp_seconds", "Expiry of the stored certificate (Unix time)."),
		renewal: desc("hotcert_certificate_renewal_timestamp_seconds", "When the stored certificate is due for renewal (Unix time)."),
		certs:   map[string]certValues{},
	}
}

func (g *certGauges) set(name string, v certValues) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.certs[name] = v
}

func (g *certGauges) forget(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.certs, name)
}

func (g *certGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.ready
	ch <- g.expiry
	ch <- g.renewal
}

func (g *certGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, v := range g.certs {
		ch <- prometheus.MustNewConstMetric(g.ready, prometheus.GaugeValue, boolValue(v.ready), name)
		if !v.expiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(g.expiry, prometheus.GaugeValue, unix(v.expiry), name)
		}
		if !v.renewal.IsZero() {
			ch <- prometheus.MustNewConstMetric(g.renewal, prometheus.GaugeValue, unix(v.renewal), name)
		}
	}
}
