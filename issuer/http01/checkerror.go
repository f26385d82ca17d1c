package http01

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// CheckKind is what a failed self-check found.
type CheckKind int

const (
	Unreachable CheckKind = iota + 1 // no HTTP answer: the frontend address is wrong, or HAProxy is down
	NoRoute                          // a status other than 200: the ACME route is missing
	Redirected                       // a redirect runs before the ACME route
	WrongAnswer                      // 200 with another body: another ACME client, or a stale map entry
)

// CheckError is a self-check's finding, in the words an operator fixing
// haproxy.cfg needs.
type CheckError struct {
	Frontend string // host:port
	Domain   string
	Token    string
	Kind     CheckKind
	Status   int
	Location string // Redirected: where to
	Body     string // WrongAnswer: what came instead
	Err      error  // Unreachable: the network's error
}

func (e *CheckError) Error() string {
	at, what := "HAProxy at "+e.Frontend, e.Domain+prefix+shortToken(e.Token)
	switch e.Kind {
	case Unreachable:
		if errors.Is(e.Err, syscall.ECONNREFUSED) {
			return fmt.Sprintf("nothing listens at %s (connection refused): challenge.self_check must be HAProxy's HTTP frontend, the one the CA reaches on port 80", e.Frontend)
		}
		return fmt.Sprintf("%s did not answer for %s: %v", at, what, e.Err)
	case Redirected:
		return fmt.Sprintf("%s answered %d (redirect to %s) for %s: a redirect to https runs before the ACME route; "+
			"add `unless { path_beg /.well-known/acme-challenge/ }` to it", at, e.Status, e.Location, what)
	case WrongAnswer:
		return fmt.Sprintf("%s answered %s with %q, not hotcert's key authorization: another ACME client answers "+
			"this path, or HAProxy's challenge map holds a stale entry", at, what, excerpt(e.Body))
	default:
		return fmt.Sprintf("%s answered %d for %s: the ACME route is missing, or leads elsewhere than "+
			"challenge.http01_listen (see configs/examples/haproxy.cfg)", at, e.Status, what)
	}
}

func (e *CheckError) Unwrap() error { return e.Err }

func shortToken(t string) string {
	if len(t) > 8 {
		return t[:8] + "..."
	}
	return t
}

func excerpt(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
