package admin

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/hotcert/hotcert/daemon"
)

// CertList is GET /v1/certificates' answer. A rejected domains file shows
// in ConfigError, since the list is then the last good set, not what the
// file says.
type CertList struct {
	ConfigError  string              `json:"config_error,omitempty"`
	Cluster      *ClusterStatus      `json:"cluster,omitempty"`
	Certificates []daemon.CertStatus `json:"certificates"`
	// Removals are certificates that left the domains file and are still
	// served: held by safety.removal_limit, or waiting for a certificate
	// that covers their names.
	Removals []daemon.RemovalStatus `json:"removals,omitempty"`
}

// certificates lists the certificates, sorted by name: every one, or the
// page that state, after and limit select. X-Total-Count is how many match
// state; a Link rel="next" header is the next page's address while more
// remain.
func (s *Server) certificates(w http.ResponseWriter, r *http.Request) {
	q, bad := listQuery(r.URL.Query())
	if bad != nil {
		writeProblem(w, bad.status, bad.typ, bad.field, bad.detail)
		return
	}
	page, total, rest := s.opt.Daemon.StatusPage(q)
	body := CertList{Certificates: page, Cluster: clusterStatus(r.Context(), s.opt.Cluster),
		Removals: s.opt.Daemon.Removals()}
	if err := s.opt.Daemon.ConfigErr(); err != nil {
		body.ConfigError = err.Error()
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if rest > 0 && len(page) > 0 {
		next := r.URL.Query()
		next.Set("after", page[len(page)-1].Name)
		w.Header().Set("Link", "<"+(&url.URL{Path: r.URL.Path, RawQuery: next.Encode()}).String()+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, body)
}

// listQuery reads GET /v1/certificates' query; without limit the answer
// is every certificate, as before pages existed.
func listQuery(v url.Values) (daemon.StatusQuery, *badInput) {
	q := daemon.StatusQuery{State: v.Get("state"), After: v.Get("after")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, &badInput{http.StatusBadRequest, probBadRequest, "limit", "limit " + strconv.Quote(l) + ": want a whole number of at least 1"}
		}
		q.Limit = n
	}
	return q, nil
}

// certificate is one certificate's status.
func (s *Server) certificate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, ok := s.opt.Daemon.StatusOf(name)
	if !ok {
		writeProblem(w, http.StatusNotFound, probNotFound, "name", name+": "+daemon.ErrUnknownCertificate.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}
