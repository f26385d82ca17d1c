package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hotcert/hotcert/catalog"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
)

// Catalog writes and removes the certificates the admin API manages, each
// a file of its own in domains_dir; *catalog.Catalog is one.
type Catalog interface {
	Put(name string, s catalog.Spec) (created bool, err error)
	Delete(name string) error
}

// Limits of PUT ?wait=served.
const (
	defaultWait = 60 * time.Second
	maxWait     = 10 * time.Minute
	// pollServed is how often a waiting PUT looks at its certificate's
	// status: one map lookup each time.
	pollServed = 50 * time.Millisecond
)

// stateAccepted is the state of a certificate that is written and in
// force, and that no pass has looked at yet.
const stateAccepted = "accepted"

// put writes the certificate name: 201 when new, 200 when it replaced one,
// each with its status. With ?wait=served it answers once every HAProxy
// serves the certificate as written, or 202 with its status when timeout
// passes first.
func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wait, bad := waitQuery(r)
	if bad == nil {
		bad = s.needCatalog()
	}
	var spec catalog.Spec
	if bad == nil {
		spec, bad = readSpec(r.Body, s.opt.MaxBody)
	}
	if bad != nil {
		writeProblem(w, bad.status, bad.typ, bad.field, bad.detail)
		return
	}
	created, err := s.opt.Catalog.Put(name, spec)
	if err != nil {
		s.catalogError(w, name, err)
		return
	}
	s.log.Info("admin: certificate written", "cert", name, "created", created, "domains", spec.Domains, "remote", r.RemoteAddr)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		w.Header().Set("Location", r.URL.EscapedPath())
	}
	want := wantedOf(name, spec)
	st, served := s.current(want)
	if wait > 0 && !served {
		st, served = s.waitServed(r.Context(), want, wait)
		if r.Context().Err() != nil {
			s.log.Info("admin: the client left before the certificate was served", "cert", name, "remote", r.RemoteAddr)
			return
		}
		if !served {
			code = http.StatusAccepted
		}
	}
	writeJSON(w, code, st)
}

// delete removes a certificate the admin API wrote.
func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if bad := s.needCatalog(); bad != nil {
		writeProblem(w, bad.status, bad.typ, bad.field, bad.detail)
		return
	}
	if err := s.opt.Catalog.Delete(name); err != nil {
		s.catalogError(w, name, err)
		return
	}
	s.log.Info("admin: certificate deleted", "cert", name, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) needCatalog() *badInput {
	if s.opt.Catalog == nil {
		return noDir()
	}
	return nil
}

func noDir() *badInput {
	return &badInput{http.StatusConflict, probNoDir, "domains_dir",
		"domains_dir is not set in hotcert.yaml: the admin API writes each certificate as a file there"}
}

// catalogError answers an error of Catalog.Put or Delete, which names the
// certificate (and for a hand-written one, its file and line) itself.
func (s *Server) catalogError(w http.ResponseWriter, name string, err error) {
	var ps configs.Problems
	switch {
	case errors.As(err, &ps):
		writeProblemDoc(w, specProblem(ps))
	case errors.Is(err, catalog.ErrNoDir):
		bad := noDir()
		writeProblem(w, bad.status, bad.typ, bad.field, bad.detail)
	case errors.Is(err, catalog.ErrNotFound):
		writeProblem(w, http.StatusNotFound, probNotFound, "name", err.Error())
	case errors.Is(err, catalog.ErrHandWritten):
		writeProblem(w, http.StatusConflict, probHandWritten, "name",
			err.Error()+"; change it in that file, not through the admin API")
	default:
		s.log.Error("admin: writing the domains", "cert", name, "err", err)
		writeProblem(w, http.StatusInternalServerError, probInternal, "", err.Error())
	}
}

// specProblem is 422 with each rejected field of the body.
func specProblem(ps configs.Problems) Problem {
	p := Problem{Type: probBadCertificate, Status: http.StatusUnprocessableEntity, Fields: make([]FieldProblem, len(ps))}
	msgs := make([]string, len(ps))
	for i, one := range ps {
		p.Fields[i] = FieldProblem{Field: one.Field, Detail: one.Msg}
		msgs[i] = one.Field + ": " + one.Msg
	}
	if len(ps) > 0 {
		p.Field = ps[0].Field
	}
	p.Detail = "the certificate is not valid: " + strings.Join(msgs, "; ")
	return p
}

// waitQuery reads ?wait=served and ?timeout=D; zero means do not wait.
func waitQuery(r *http.Request) (time.Duration, *badInput) {
	q := r.URL.Query()
	switch q.Get("wait") {
	case "":
		if q.Has("timeout") {
			return 0, &badInput{http.StatusBadRequest, probBadRequest, "timeout", "timeout is only for wait=served"}
		}
		return 0, nil
	case "served":
	default:
		return 0, &badInput{http.StatusBadRequest, probBadRequest, "wait", fmt.Sprintf("wait %q: the only value is served", q.Get("wait"))}
	}
	if !q.Has("timeout") {
		return defaultWait, nil
	}
	d, err := time.ParseDuration(q.Get("timeout"))
	if err != nil || d <= 0 || d > maxWait {
		return 0, &badInput{http.StatusBadRequest, probBadRequest, "timeout",
			fmt.Sprintf("timeout %q: want a duration such as 30s or 2m, at most %v", q.Get("timeout"), maxWait)}
	}
	return d, nil
}

// wanted is the certificate as the catalog writes it, normalised as the
// domains file is (configs.ParseDomains), to tell its status from that of
// the definition it replaced.
type wanted struct {
	name     string
	domains  []string
	keyTypes []string
}

func wantedOf(name string, s catalog.Spec) wanted {
	w := wanted{name: name, domains: make([]string, len(s.Domains)), keyTypes: []string{string(configs.ECDSAP256)}}
	for i, d := range s.Domains {
		w.domains[i] = d
		if a, err := configs.ValidDomain(d); err == nil {
			w.domains[i] = a
		}
	}
	if len(s.KeyTypes) > 0 {
		w.keyTypes = make([]string, len(s.KeyTypes))
		for i, k := range s.KeyTypes {
			w.keyTypes[i] = strings.ToLower(k)
		}
	}
	return w
}

// current is the status of w's certificate, and whether every HAProxy
// serves it. Until a pass has seen the new definition, the status is the
// replaced one's, or none: that shows as "accepted".
func (s *Server) current(w wanted) (daemon.CertStatus, bool) {
	st, ok := s.opt.Daemon.StatusOf(w.name)
	if !ok || !slices.Equal(st.Domains, w.domains) || !slices.Equal(st.KeyTypes, w.keyTypes) {
		return daemon.CertStatus{Name: w.name, Domains: w.domains, KeyTypes: w.keyTypes, State: stateAccepted,
			Loaded: map[string]string{}}, false
	}
	return st, st.Ready
}

// waitServed polls w's status until it is served, limit passes or ctx ends.
func (s *Server) waitServed(ctx context.Context, w wanted, limit time.Duration) (daemon.CertStatus, bool) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(pollServed)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return daemon.CertStatus{}, false
		case <-deadline.C:
			return s.current(w)
		case <-tick.C:
		}
		if st, served := s.current(w); served {
			return st, true
		}
	}
}
