package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hotcert/hotcert/configs"
)

// Confirmed is POST /v1/removals/confirm's answer: the removals that were
// held and are now let go (empty when none was held).
type Confirmed struct {
	Confirmed []string `json:"confirmed"`
}

func (s *Server) confirmRemovals(w http.ResponseWriter, r *http.Request) {
	names := s.opt.Daemon.ConfirmRemovals()
	if len(names) > 0 {
		s.log.Info("admin: held removals confirmed", "count", len(names), "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, Confirmed{Confirmed: names})
}

// plan answers what the next pass would do with the domains file in the
// body, checked exactly as the file in force. The query value file names
// the candidate in its problems.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	if s.opt.CheckDomains == nil {
		writeProblem(w, http.StatusNotFound, probNotFound, "", "this daemon does not plan")
		return
	}
	data, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, probTooLarge, "body", fmt.Sprintf("the domains file is larger than %d bytes", tooBig.Limit))
		return
	case err != nil:
		writeProblem(w, http.StatusBadRequest, probBadRequest, "body", "reading the domains file: "+err.Error())
		return
	}
	doms, err := s.opt.CheckDomains(r.URL.Query().Get("file"), data)
	if err != nil {
		writeFileProblem(w, err)
		return
	}
	p, err := s.opt.Daemon.Plan(r.Context(), doms)
	if err != nil {
		s.log.Error("admin: plan", "err", err)
		writeProblem(w, http.StatusInternalServerError, probInternal, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// writeFileProblem answers a rejected domains file with 422 and each of
// its problems on a line of its own.
func writeFileProblem(w http.ResponseWriter, err error) {
	var ps configs.Problems
	lines := []string{err.Error()}
	if errors.As(err, &ps) {
		lines = make([]string, len(ps))
		for i, p := range ps {
			lines[i] = p.String()
		}
	}
	writeProblemDoc(w, Problem{Type: probBadDomains, Status: http.StatusUnprocessableEntity, Field: "body",
		Detail: "the domains file is not valid: " + err.Error(), Problems: lines})
}
