package admin

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotcert/hotcert/daemon"
)

// Metrics is the daemon's Prometheus view. It keeps its own registry, so
// that two daemons in one process (tests) never share counters.
type Metrics struct {
	reg         *prometheus.Registry
	notAfter    *prometheus.GaugeVec
	nextRenewal *prometheus.GaugeVec
	orders      *prometheus.CounterVec
	failures    *prometheus.CounterVec
	pushes      *prometheus.CounterVec
	lastPass    prometheus.Gauge
	passes      prometheus.Counter
	configValid prometheus.Gauge
	challenges  *prometheus.CounterVec
	held        prometheus.Gauge
}

var _ daemon.Metrics = (*Metrics)(nil)

// NewMetrics registers every hotcert metric in a private registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotcert_certificate_not_after_seconds",
			Help: "Expiry of the stored certificate (Unix seconds).",
		}, []string{"name"}),
		nextRenewal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotcert_certificate_next_renewal_seconds",
			Help: "When the certificate is due for renewal (Unix seconds).",
		}, []string{"name"}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotcert_orders_total",
			Help: "ACME orders by result (success, failure).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotcert_order_failures_total",
			Help: "Failed ACME orders by ACME problem type (other when the CA sent none).",
		}, []string{"problem"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotcert_pushes_total",
			Help: "Certificate pushes over the runtime API by HAProxy instance and result.",
		}, []string{"haproxy", "result"}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotcert_last_reconcile_success_seconds",
			Help: "When the last reconcile pass completed (Unix seconds); alert when it stops moving.",
		}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotcert_reconcile_passes_total",
			Help: "Reconcile passes completed.",
		}),
		configValid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotcert_config_valid",
			Help: "1 when the domains file in force was accepted, 0 when the last edit was rejected.",
		}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotcert_challenge_requests_total",
			Help: "HTTP-01 challenge requests served, by result (hit, miss, bad_request).",
		}, []string{"result"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotcert_removals_held",
			Help: "Removals held back by safety.removal_limit until hotcert confirm-removals.",
		}),
	}
	m.reg.MustRegister(m.notAfter, m.nextRenewal, m.orders, m.failures, m.pushes, m.lastPass, m.passes, m.configValid, m.challenges, m.held)
	// Both results exist from the start, so that rate() and absent() work
	// before the first order.
	for _, r := range []string{"success", "failure"} {
		m.orders.WithLabelValues(r)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Order counts one order; cert is unused (a label per certificate would
// grow without bound).
func (m *Metrics) Order(_, result, problem string) {
	m.orders.WithLabelValues(result).Inc()
	if result != "success" {
		if problem == "" {
			problem = "other"
		}
		m.failures.WithLabelValues(problem).Inc()
	}
}

// Push counts one push to one HAProxy.
func (m *Metrics) Push(haproxy string, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.pushes.WithLabelValues(haproxy, result).Inc()
}

// PassDone records a completed reconcile pass.
func (m *Metrics) PassDone(at time.Time) {
	m.lastPass.Set(unix(at))
	m.passes.Inc()
}

// Certificate records a certificate's expiry and next renewal.
func (m *Metrics) Certificate(name string, notAfter, nextRenewal time.Time) {
	m.notAfter.WithLabelValues(name).Set(unix(notAfter))
	if !nextRenewal.IsZero() {
		m.nextRenewal.WithLabelValues(name).Set(unix(nextRenewal))
	}
}

// Forget drops a removed certificate's series.
func (m *Metrics) Forget(name string) {
	m.notAfter.DeleteLabelValues(name)
	m.nextRenewal.DeleteLabelValues(name)
}

// ConfigValid records whether the domains file was accepted.
func (m *Metrics) ConfigValid(ok bool) {
	if ok {
		m.configValid.Set(1)
	} else {
		m.configValid.Set(0)
	}
}

// RemovalsHeld records how many removals safety.removal_limit holds.
func (m *Metrics) RemovalsHeld(n int) { m.held.Set(float64(n)) }

// Challenge counts one HTTP-01 request (issuer/http01 Responder.OnRequest).
func (m *Metrics) Challenge(result string) { m.challenges.WithLabelValues(result).Inc() }

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
