// Package store persists hotcert's state: the ACME account, and for each
// certificate its bundles and its issuance history. The history (attempts,
// next attempt, an order in flight) is persisted with the certificate so that
// a restart or a crash loop never resets the backoff and never re-orders a
// certificate that is still valid.
package store

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"time"
)

// ErrNotFound is returned for a certificate or account the store does not hold.
var ErrNotFound = errors.New("not found")

// Account is the ACME account hotcert registered or was given.
type Account struct {
	KeyPEM    []byte `json:"-"`
	URI       string `json:"uri"`
	Directory string `json:"directory"`
}

// Bundle is one issued certificate of one key type: the private key, the leaf
// and the chain, in the order HAProxy wants them (leaf, chain, key).
type Bundle struct {
	KeyType string `json:"key_type"`
	PEM     []byte `json:"-"`
	// Leaf is what decisions need of PEM's leaf, filled in by whoever
	// loads the bundle so that it is parsed once, not at every look; nil
	// until then, or when PEM holds no readable certificate.
	Leaf *Leaf `json:"-"`
}

// Leaf is what a decision needs of a bundle's leaf certificate: its serial
// and its dates. Records held in memory keep this instead of the PEM and
// the parsed certificate, which are twenty times its size.
type Leaf struct {
	SerialNumber        *big.Int
	NotBefore, NotAfter time.Time
}

// LeafOf keeps what a decision needs of a parsed leaf.
func LeafOf(c *x509.Certificate) *Leaf {
	return &Leaf{SerialNumber: c.SerialNumber, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
}

// Format is the version of the record format this hotcert writes. A record
// without one was written before formats were numbered and reads as 1. A
// record from a later format is refused (ErrFormat) rather than read and
// written back without the fields this hotcert does not know, so that a
// downgrade cannot silently lose state.
const Format = 1

// ErrFormat is returned for a record written by a newer hotcert.
var ErrFormat = errors.New("state written by a newer hotcert")

// Record is everything hotcert knows about one certificate name.
type Record struct {
	// Format is the record format's version; Put and the cluster store
	// stamp it, and CheckFormat refuses a later one.
	Format   int      `json:"format,omitempty"`
	Name     string   `json:"name"`
	Domains  []string `json:"domains"`
	KeyTypes []string `json:"key_types"`
	// Bundles by key type. Loaded from separate 0600 files.
	Bundles map[string]Bundle `json:"-"`

	// Attempts counts consecutive failed (or interrupted) orders.
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Permanent is set when the CA refused the request in a way that retrying
	// cannot fix; the certificate then waits for an edit or a manual renew.
	Permanent bool `json:"permanent,omitempty"`
	// CAUnavailable: the last failure was the CA's being down or failing,
	// not anything about this certificate; the daemon lets the order go
	// early once the CA answers again.
	CAUnavailable bool `json:"ca_unavailable,omitempty"`
	// Ordering is set, and persisted, before an order is placed and cleared
	// when it ends; finding it set at start-up means hotcert died mid-order.
	Ordering bool `json:"ordering,omitempty"`
	// Spec identifies the definition (names, key types, key file) that the
	// last attempt was for; backoff and refusals apply only to it.
	Spec string `json:"spec,omitempty"`
	// Directory is the ACME directory URL of the CA that issues the
	// record's bundles, set when an order begins. Empty in records written
	// before hotcert kept it: they count as the current directory's.
	Directory string `json:"directory,omitempty"`
	// MovedFrom is the directory that issued the bundles still Pending
	// while a change of acme.directory replaces them; empty otherwise.
	MovedFrom string `json:"moved_from,omitempty"`
	// Pending are the key types the last order of Spec has still to issue.
	// Each bundle is saved as soon as it is issued, so a retry orders only
	// these: a dual certificate whose second half fails does not order its
	// first half again at every attempt.
	Pending []string `json:"pending,omitempty"`

	// ARI (RFC 9773) state: the CA's suggested window and when to ask again.
	ARIStart   time.Time `json:"ari_start,omitzero"`
	ARIEnd     time.Time `json:"ari_end,omitzero"`
	ARICheckAt time.Time `json:"ari_check_at,omitzero"`
	// Jitter is the fixed random point inside a renewal window, in [0,1),
	// so that the chosen moment does not move at every pass.
	Jitter float64 `json:"jitter"`

	// RenewAsked is when an operator last asked for a renewal (hotcert
	// renew, or the replacement of a revoked certificate), and RenewDone
	// when the order that satisfied such a request began. A request is
	// pending while RenewAsked is after RenewDone, so it survives failed
	// orders and restarts until an order succeeds.
	RenewAsked time.Time `json:"renew_asked,omitzero"`
	RenewDone  time.Time `json:"renew_done,omitzero"`

	// RemovedAt is when the name left the domains file; the key and state are
	// kept for a grace period so that re-adding it costs no new order.
	RemovedAt time.Time `json:"removed_at,omitzero"`

	// Deployed is, by key type, the serial (as openssl prints it) that the
	// deployed hook last ran for, so that neither a later pass nor a
	// restart runs it again for the same bundle.
	Deployed map[string]string `json:"deployed,omitempty"`
}

// CheckFormat refuses a record of a format this hotcert does not know, and
// sets a record from before formats were numbered to 1.
func (r *Record) CheckFormat() error {
	switch {
	case r.Format > Format:
		return fmt.Errorf("%w: format %d, this hotcert reads up to %d; upgrade hotcert again or restore the state backup taken before the upgrade",
			ErrFormat, r.Format, Format)
	case r.Format < 1:
		r.Format = 1
	}
	return nil
}

// RenewPending reports whether an operator's renewal has not been
// satisfied yet.
func (r *Record) RenewPending() bool { return r.RenewAsked.After(r.RenewDone) }

// Clone returns a deep enough copy for the caller to modify freely.
func (r *Record) Clone() *Record {
	c := *r
	c.Domains = append([]string(nil), r.Domains...)
	c.KeyTypes = append([]string(nil), r.KeyTypes...)
	c.Pending = append([]string(nil), r.Pending...)
	c.Bundles = make(map[string]Bundle, len(r.Bundles))
	for k, v := range r.Bundles {
		c.Bundles[k] = v
	}
	c.Deployed = maps.Clone(r.Deployed)
	return &c
}
