package issuer

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
)

var (
	// ErrTermsNotAccepted: acme.accept_terms is false, so no account is registered.
	ErrTermsNotAccepted = errors.New("the CA's terms of service are not accepted (set acme.accept_terms: true)")
	// ErrAccountDeactivated: the CA knows the account key but the account is deactivated.
	ErrAccountDeactivated = errors.New("the ACME account is deactivated; use a new account key")
	// ErrEABRequired: the CA requires external account binding and none is configured.
	ErrEABRequired = errors.New("the CA requires external account binding (set acme.eab.key_id and acme.eab.hmac_key)")
	// ErrUnknownProfile: acme.profile names a profile the CA does not offer.
	ErrUnknownProfile = errors.New("the CA does not offer this profile")
	// ErrNoARI: the CA does not offer renewal information.
	ErrNoARI = errors.New("the CA does not offer ACME renewal information")
)

const problemPrefix = "urn:ietf:params:acme:error:"

// Problems that fail the same way however often they are retried: they need a change of
// configuration, DNS or CA policy.
var permanentProblems = map[string]bool{
	"unauthorized":            true,
	"rejectedIdentifier":      true,
	"caa":                     true,
	"invalidProfile":          true,
	"unsupportedIdentifier":   true,
	"malformed":               true,
	"badCSR":                  true,
	"badPublicKey":            true,
	"badSignatureAlgorithm":   true,
	"externalAccountRequired": true,
	"invalidContact":          true,
	"unsupportedContact":      true,
	"userActionRequired":      true,
	"accountDoesNotExist":     true,
}

// Error is a failed ACME operation for one certificate. Problem is the CA's problem type, such
// as "urn:ietf:params:acme:error:rejectedIdentifier"; Domain is set when one name is at fault.
type Error struct {
	Cert      string
	Domain    string
	Problem   string
	Detail    string
	Permanent bool
	// Unavailable: the CA did not answer, or answered with a server error;
	// nothing is known against the request itself.
	Unavailable bool
	// Local: the fault is in this host's own setup, as the self-check
	// through HAProxy found it (challenge.self_check); it is usually being
	// fixed, so it is retried soon.
	Local bool
	// Diagnosis is what the self-check found after the CA refused an
	// http-01 validation.
	Diagnosis  string
	RetryAfter time.Duration
	Err        error

	op string // what failed, e.g. "order", "authorize"
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("issuer")
	if e.Cert != "" {
		b.WriteString(": certificate " + e.Cert)
	}
	if e.Domain != "" {
		b.WriteString(": " + e.Domain)
	}
	if e.op != "" {
		b.WriteString(": " + e.op)
	}
	b.WriteString(": ")
	if e.Problem != "" {
		b.WriteString(strings.TrimPrefix(e.Problem, problemPrefix) + ": ")
	}
	switch {
	case e.Detail != "":
		b.WriteString(e.Detail)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	if e.Diagnosis != "" {
		b.WriteString("; self-check: " + e.Diagnosis)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether retrying err unchanged would fail again.
func IsPermanent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent
	}
	return isPermanentSentinel(err)
}

// IsUnavailable reports an error that says the CA is down or failing
// rather than anything about the certificate.
func IsUnavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unavailable
}

// IsLocal reports a fault in this host's own setup, found by the self-check
// (see Error.Local).
func IsLocal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Local
}

// RetryAfter returns the wait the CA asked for, if it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

func isPermanentSentinel(err error) bool {
	for _, s := range []error{ErrTermsNotAccepted, ErrAccountDeactivated, ErrEABRequired,
		ErrUnknownProfile, ErrWeakKey, ErrUnsupportedKey, errBadRequest} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// errBadRequest marks a Request the issuer refuses before talking to the CA.
var errBadRequest = errors.New("bad certificate request")

// classify turns any error from an ACME call into an *Error for cert. It must see the error
// before anything wraps it: acme.RateLimit only type-asserts.
func classify(op, cert, domain string, err error) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	e := &Error{Cert: cert, Domain: domain, Err: err, op: op}
	var ae *acme.Error
	var oe *acme.OrderError
	switch {
	case errors.As(err, &ae):
		if d, ok := acme.RateLimit(ae); ok {
			e.RetryAfter = d
		}
		fillProblem(e, ae)
	case errors.As(err, &oe) && oe.Problem != nil:
		fillProblem(e, oe.Problem)
	case errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded), isNetError(err):
		e.Unavailable = true
	default:
		e.Permanent = isPermanentSentinel(err)
	}
	return e
}

func fillProblem(e *Error, ae *acme.Error) {
	e.Problem, e.Detail = ae.ProblemType, ae.Detail
	name := strings.TrimPrefix(ae.ProblemType, problemPrefix)
	e.Permanent = permanentProblems[name]
	if ae.StatusCode >= 500 {
		e.Permanent, e.Unavailable = false, true
	}
	if e.Domain == "" {
		e.Domain = subproblemDomain(ae)
	}
}

func subproblemDomain(ae *acme.Error) string {
	for _, sp := range ae.Subproblems {
		if sp.Identifier != nil {
			return sp.Identifier.Value
		}
	}
	return ""
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
