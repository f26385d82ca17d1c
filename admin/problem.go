package admin

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 7807 problem document. Field names the form field or
// path parameter that was wrong, so that a script can tell which input to fix.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	// Problems lists a rejected file's problems, one FILE:LINE:COL: FIELD:
	// message each, as hotcert check prints them.
	Problems []string `json:"problems,omitempty"`
	// Fields lists every rejected field of a request body, for a client
	// that shows each beside its input.
	Fields []FieldProblem `json:"fields,omitempty"`
}

// FieldProblem is one rejected field: "domains[1]", "key_type", ...
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem types; "about:blank" when the status code says it all.
const (
	probUnauthorized = "urn:hotcert:problem:unauthorized"
	probBadKey       = "urn:hotcert:problem:bad-key"
	probWeakKey      = "urn:hotcert:problem:weak-key"
	probMissing      = "urn:hotcert:problem:missing-field"
	probTooLarge     = "urn:hotcert:problem:body-too-large"
	probBadName      = "urn:hotcert:problem:bad-domain"
	probBadRequest   = "urn:hotcert:problem:bad-request"
	probNotFound     = "urn:hotcert:problem:not-found"
	probBadDomains   = "urn:hotcert:problem:bad-domains-file"
	probCA           = "urn:hotcert:problem:ca"
	probInternal     = "urn:hotcert:problem:internal"
	// PUT and DELETE /v1/certificates/{name}.
	probBadCertificate = "urn:hotcert:problem:bad-certificate"
	probHandWritten    = "urn:hotcert:problem:hand-written"
	probNoDir          = "urn:hotcert:problem:no-domains-dir"
)

func writeProblem(w http.ResponseWriter, status int, typ, field, detail string) {
	writeProblemDoc(w, Problem{Type: typ, Status: status, Detail: detail, Field: field})
}

func writeProblemDoc(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	p.Title = http.StatusText(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
