// Package catalog is the set of certificates the operator declares: the
// domains file and every *.yaml file in domains_dir, read as one set.
package catalog

import "errors"

// Spec is one certificate as PUT /v1/certificates/{name} gives it.
type Spec struct {
	Domains     []string
	KeyTypes    []string // empty: the default
	Challenge   string
	DNSProvider string
}

var (
	ErrNoDir       = errors.New("domains_dir is not set")
	ErrNotFound    = errors.New("no such certificate")
	ErrHandWritten = errors.New("defined in a file the admin API did not write") // wrapped with file and line
)
