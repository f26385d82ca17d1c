package admin

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotcert/hotcert/daemon"
)

// Metrics is the daemon's Prometheus view. It keeps its own registry, so
// that two daemons in one process (tests) never share counters.
type Metrics struct {
	reg         *prometheus.Registry
	certs       *certGauges
	haproxyUp   *prometheus.GaugeVec
	orders      *prometheus.CounterVec
	failures    *prometheus.CounterVec
	pushes      *prometheus.CounterVec
	lastPass    prometheus.Gauge
	passes      prometheus.Counter
	configValid prometheus.Gauge
	challenges  *prometheus.CounterVec
	held        prometheus.Gauge
	hooks       *prometheus.CounterVec
}

var _ daemon.Metrics = (*Metrics)(nil)

// NewMetrics registers every hotcert metric in a private registry, with
// Go's runtime and process collectors and the build's version.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		certs: newCertGauges(),
		haproxyUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotcert_haproxy_up",
			Help: "1 when the HAProxy instance answered when last asked, 0 otherwise.",
		}, []string{"haproxy"}),
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
		hooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotcert_hooks_total",
			Help: "Hook runs by event (deployed, failed) and result (ok, failed, timeout, dropped).",
		}, []string{"event", "result"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hotcert_build_info",
		Help: "Always 1; the version label is what `hotcert version` prints.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.reg.MustRegister(m.certs, m.haproxyUp, m.orders, m.failures, m.pushes,
		m.lastPass, m.passes, m.configValid, m.challenges, m.held, m.hooks, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

// Certificate records whether a certificate is served, and its expiry and
// renewal time once it has a bundle.
func (m *Metrics) Certificate(name string, ready bool, expiry, renewal time.Time) {
	m.certs.set(name, certValues{ready: ready, expiry: expiry, renewal: renewal})
}

// Forget drops a removed certificate's series.
func (m *Metrics) Forget(name string) {
	m.certs.forget(name)
}

// HAProxyUp records whether an HAProxy instance answered when last asked.
func (m *Metrics) HAProxyUp(haproxy string, up bool) {
	m.haproxyUp.WithLabelValues(haproxy).Set(boolValue(up))
}

// ConfigValid records whether the domains file was accepted.
func (m *Metrics) ConfigValid(ok bool) { m.configValid.Set(boolValue(ok)) }

// RemovalsHeld records how many removals safety.removal_limit holds.
func (m *Metrics) RemovalsHeld(n int) { m.held.Set(float64(n)) }

// Hook counts one hook's outcome (hook.Options.Count).
func (m *Metrics) Hook(event, result string) { m.hooks.WithLabelValues(event, result).Inc() }

// Challenge counts one HTTP-01 request (issuer/http01 Responder.OnRequest).
func (m *Metrics) Challenge(result string) { m.challenges.WithLabelValues(result).Inc() }

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
