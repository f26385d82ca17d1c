// Package admin is hotcert's operator surface over HTTP: certificate status,
// renew and revoke, readiness, Prometheus metrics, and the one-shot order
// endpoint for scripts that bring their own keys. Every state-changing call
// needs the bearer token. Client is the API as the CLI calls it.
package admin

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/issuer"
)

// Daemon is what the admin API steers.
type Daemon interface {
	// StatusPage and StatusOf answer in time that does not grow with the
	// number of certificates beyond a scan of a map: GET /v1/certificates
	// pages through 100,000 of them, and PUT ?wait=served polls one.
	StatusPage(q daemon.StatusQuery) (page []daemon.CertStatus, total, rest int)
	StatusOf(name string) (daemon.CertStatus, bool)
	Renew(name string) error
	Revoke(ctx context.Context, name string, reason int) error
	ConfigErr() error
	// Probe asks every HAProxy now and returns those that did not answer.
	Probe(ctx context.Context) map[string]string
	Removals() []daemon.RemovalStatus
	ConfirmRemovals() []string
	Plan(ctx context.Context, doms *configs.Domains) (*daemon.Plan, error)
}

var _ Daemon = (*daemon.Daemon)(nil)

// OrderClient places one order with one ACME account; issuer.Client is one.
type OrderClient interface {
	Register(ctx context.Context) (string, error)
	Issue(ctx context.Context, req issuer.Request) (*issuer.Bundle, error)
}

var _ OrderClient = (*issuer.Client)(nil)

// Options configures a Server.
type Options struct {
	Daemon  Daemon
	Token   string
	Metrics *Metrics // nil → a fresh, empty registry
	// NewClient makes an ACME client for an uploaded account key, for
	// POST /v1/orders; nil disables the endpoint.
	NewClient func(accountKey crypto.Signer) OrderClient
	Logger    *slog.Logger
	// MaxBody bounds a request body (default 64 KiB).
	MaxBody int64
	// ProbeTimeout bounds each HAProxy's answer to /healthz (default 2s).
	ProbeTimeout time.Duration
	// ProbeTTL is how long one probe's answer serves /healthz (default 1s).
	ProbeTTL time.Duration
	Now      func() time.Time // default time.Now
	// RevokeTimeout bounds a revocation at the CA (default 60s).
	RevokeTimeout time.Duration
	// Cluster is shown in the certificate list; nil when alone.
	Cluster ClusterView
	// CheckDomains validates a candidate domains file for POST /v1/plan
	// exactly as the daemon does the file in force (configs.Config's
	// CheckDomains); nil disables the endpoint.
	CheckDomains func(label string, data []byte) (*configs.Domains, error)
	// PlanMaxBody bounds the domains file POST /v1/plan takes (default 16 MiB).
	PlanMaxBody int64
	// Catalog writes and removes the files of PUT and DELETE
	// /v1/certificates/{name}; nil when domains_dir is not set.
	Catalog Catalog
}

// Server is the admin HTTP API.
type Server struct {
	opt    Options
	log    *slog.Logger
	mux    *http.ServeMux
	orders chan struct{} // bounds concurrent one-shot orders
	health *probeCache
}

// New returns the admin API; serve it with Handler or HTTPServer.
func New(opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics("dev")
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 64 << 10
	}
	if opt.ProbeTimeout <= 0 {
		opt.ProbeTimeout = 2 * time.Second
	}
	if opt.RevokeTimeout <= 0 {
		opt.RevokeTimeout = 60 * time.Second
	}
	if opt.PlanMaxBody <= 0 {
		opt.PlanMaxBody = 16 << 20
	}
	if opt.ProbeTTL <= 0 {
		opt.ProbeTTL = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, log: opt.Logger, mux: http.NewServeMux(), orders: make(chan struct{}, 4)}
	s.health = &probeCache{probe: opt.Daemon.Probe, timeout: opt.ProbeTimeout, ttl: opt.ProbeTTL, now: opt.Now}
	s.mux.HandleFunc("GET /v1/certificates", s.certificates)
	s.mux.HandleFunc("GET /v1/certificates/{name}", s.certificate)
	s.mux.HandleFunc("PUT /v1/certificates/{name}", s.auth(s.put))
	s.mux.HandleFunc("DELETE /v1/certificates/{name}", s.auth(s.delete))
	s.mux.HandleFunc("POST /v1/certificates/{name}/renew", s.auth(s.renew))
	s.mux.HandleFunc("POST /v1/certificates/{name}/revoke", s.auth(s.revoke))
	s.mux.HandleFunc("POST /v1/orders", s.auth(s.order))
	s.mux.HandleFunc("POST /v1/removals/confirm", s.auth(s.confirmRemovals))
	s.mux.HandleFunc("POST /v1/plan", s.authLimit(opt.PlanMaxBody, s.plan))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", opt.Metrics.Handler())
	s.profiles()
	return s
}

// Handler is the API's routes.
func (s *Server) Handler() http.Handler { return s.mux }

// HTTPServer returns a server for addr. There is no write timeout: a
// one-shot order answers only when the CA has issued.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// auth refuses a request without the bearer token before anything is read
// or changed.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return s.authLimit(s.opt.MaxBody, next)
}

// authLimit is auth with its own bound on the body.
func (s *Server) authLimit(maxBody int64, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		if !ok || !tokenMatches(strings.TrimSpace(got), s.opt.Token) {
			s.log.Warn("admin: refused request without a valid token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotcert"`)
			writeProblem(w, http.StatusUnauthorized, probUnauthorized, "Authorization",
				"a bearer token is required: Authorization: Bearer <contents of admin.token_file>")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next(w, r)
	}
}

func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.opt.Daemon.Renew(name); err != nil {
		s.daemonError(w, name, err)
		return
	}
	s.log.Info("admin: renewal asked for", "cert", name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, map[string]string{"name": name, "status": "renewal queued"})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	reason, err := ParseReason(r.FormValue("reason"))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, probBadRequest, "reason", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.RevokeTimeout)
	defer cancel()
	if err := s.opt.Daemon.Revoke(ctx, name, reason); err != nil {
		s.daemonError(w, name, err)
		return
	}
	s.log.Info("admin: certificate revoked", "cert", name, "reason", reason, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "status": "revoked; a replacement is being ordered", "reason": reason})
}

func (s *Server) daemonError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, daemon.ErrUnknownCertificate):
		writeProblem(w, http.StatusNotFound, probNotFound, "name", name+": "+err.Error())
	case errors.Is(err, daemon.ErrNotIssued):
		writeProblem(w, http.StatusConflict, probBadRequest, "name", name+": "+err.Error())
	default:
		s.log.Error("admin: request failed", "cert", name, "err", err)
		writeProblem(w, http.StatusBadGateway, probCA, "", err.Error())
	}
}

// Health is GET /healthz's answer.
type Health struct {
	Status      string            `json:"status"` // ready | unready
	ConfigError string            `json:"config_error,omitempty"`
	HAProxyDown map[string]string `json:"haproxy_down,omitempty"`
}

// healthz is ready when the domains file in force is the one on disk and
// every HAProxy answered a probe at most ProbeTTL ago; it asks each HAProxy
// itself rather than trusting the last pass, which may be 30 s old.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	down, err := s.health.get(r.Context())
	if err != nil {
		return // the client went away
	}
	h := Health{Status: "ready", HAProxyDown: down}
	if err := s.opt.Daemon.ConfigErr(); err != nil {
		h.ConfigError = err.Error()
	}
	if h.ConfigError != "" || len(h.HAProxyDown) > 0 {
		h.Status = "unready"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// bearer returns the token of an Authorization header; the scheme name is
// case-insensitive (RFC 7235), so "bearer x" from curl scripts works too.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
