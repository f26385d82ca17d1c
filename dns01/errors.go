package dns01

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrRejected: the primary refused the update (wrong TSIG key, secret or algorithm, or an
	// update policy that does not allow it). Retrying unchanged fails again.
	ErrRejected = errors.New("dynamic update rejected")
	// ErrNotPropagated: not every authoritative nameserver answered the TXT value within
	// the propagation timeout. Retrying later may succeed.
	ErrNotPropagated = errors.New("TXT record not seen on every authoritative nameserver")
	// ErrNoZone: dns.server is authoritative for no zone above the record's name.
	ErrNoZone = errors.New("no zone found for the record")
	// ErrBadConfig: the dns section cannot work as written.
	ErrBadConfig = errors.New("bad dns-01 configuration")
)

// Error is a failed DNS operation. It names the server and the zone, never the secret.
type Error struct {
	Op     string // "add TXT", "delete TXT", "find zone", "wait for propagation"
	Name   string // the record's owner name
	Zone   string
	Server string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dns: %s", e.Op)
	if e.Name != "" {
		fmt.Fprintf(&b, " %s", e.Name)
	}
	if e.Zone != "" {
		fmt.Fprintf(&b, " in zone %s", e.Zone)
	}
	if e.Server != "" {
		fmt.Fprintf(&b, " at %s", e.Server)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying unchanged would fail again. The issuer reads it
// through a one-method interface, so it need not import this package.
func (e *Error) Permanent() bool {
	return errors.Is(e.Err, ErrRejected) || errors.Is(e.Err, ErrNoZone) || errors.Is(e.Err, ErrBadConfig)
}

// rcodeError describes a refused update with the TSIG error when there is one, and the
// likely fix, so that the operator does not have to look the codes up.
type rcodeError struct {
	rcode    string
	tsigCode string
}

func (e *rcodeError) Error() string {
	msg := e.rcode
	if e.tsigCode != "" {
		msg += " (TSIG " + e.tsigCode + ")"
	}
	switch {
	case e.tsigCode != "" || e.rcode == "NOTAUTH":
		msg += ": check dns.tsig_key, dns.tsig_algorithm and the secret in dns.tsig_secret_file"
	case e.rcode == "REFUSED":
		msg += ": the server's update-policy or allow-update does not let this key change the record"
	}
	return msg
}

func (e *rcodeError) Unwrap() error { return ErrRejected }
