package daemon

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// action is the one thing a pass decides to do for a certificate.
type action int

const (
	actNone    action = iota
	actIssue          // no usable bundle for the current definition
	actRenew          // a bundle reached its renewal time
	actRefresh        // ask the CA for renewal information (ARI)
	actPush           // some HAProxy serves something other than the store
	actRemove         // the certificate left the domains file
)

func (a action) String() string {
	return [...]string{"none", "issue", "renew", "refresh-ari", "push", "remove"}[a]
}

// decision is an action with the reason an operator would want to read.
type decision struct {
	Action action
	Reason string
	// Wake is when this certificate next needs a look if nothing changes.
	Wake time.Time
	// forced orders every key type: an operator asked for it.
	forced bool
}

// served is what each HAProxy serves, by instance and then by store name.
// A nil inner map means the instance could not be asked this pass.
type served map[string]map[string]*big.Int

// specOf identifies a certificate definition: a failure or a backoff applies
// only to the definition that failed, so an edit that fixes a name is tried
// at once.
func specOf(c configs.Certificate) string {
	kts := make([]string, len(c.KeyTypes))
	for i, k := range c.KeyTypes {
		kts[i] = string(k)
	}
	spec := strings.Join(c.Domains, ",") + "|" + strings.Join(kts, ",") + "|" + c.KeyFile
	if c.DNSProvider != "" {
		// Only when set, so that the specs stored before dns_provider
		// existed still match and their pending orders resume.
		spec += "|dns_provider=" + c.DNSProvider
	}
	return spec
}

// bundleNames are the names HAProxy knows a certificate's bundles by, by
// key type (see bundle.Name).
func bundleNames(c configs.Certificate) map[string]string {
	out := make(map[string]string, len(c.KeyTypes))
	for i, kt := range c.KeyTypes {
		out[string(kt)] = bundle.Name(c.Name, i, kt)
	}
	return out
}

// decide is a pure function of the desired certificate, what the store
// holds, what the HAProxy instances serve, the CA's directory orders go to,
// and the time. The checks run in order and the first that applies wins.
func decide(c configs.Certificate, rec *store.Record, srv served, dir string, now time.Time) decision {
	if rec == nil {
		return decision{Action: actIssue, Reason: "new certificate"}
	}
	if d, ok := failedSpec(c, rec, now); ok {
		// A held-back order must not hold back what is already issued: an
		// HAProxy that lacks a stored bundle (a new instance, a lost
		// cert_dir) still gets it.
		if slices.Equal(rec.Domains, c.Domains) && len(rec.Bundles) > 0 {
			if reason := pushNeeded(c, rec, srv); reason != "" {
				return decision{Action: actPush, Reason: reason, Wake: d.Wake}
			}
		}
		return d
	}
	if len(rec.Bundles) == 0 {
		// Never issued: rec.Domains is still empty, which is no change of names.
		return decision{Action: actIssue, Reason: firstOrderReason(c, rec)}
	}
	if !slices.Equal(rec.Domains, c.Domains) {
		return decision{Action: actIssue, Reason: "names changed"}
	}
	if moved(rec, dir) {
		// Each bundle stays served until its replacement from dir is.
		return decision{Action: actRenew, Reason: "issued by " + rec.Directory + ", now " + dir}
	}
	for _, kt := range c.KeyTypes {
		if _, ok := rec.Bundles[string(kt)]; !ok {
			return decision{Action: actIssue, Reason: "no bundle for key type " + string(kt)}
		}
	}
	if rec.RenewPending() {
		return decision{Action: actRenew, Reason: "renewal asked for by an operator", forced: true}
	}
	renewAt, why := nextRenewal(rec)
	if !now.Before(renewAt) {
		return decision{Action: actRenew, Reason: why}
	}
	if len(rec.Pending) > 0 && rec.Spec == specOf(c) {
		// A move to another directory that failed half-way: the bundles
		// still to come are current but from the old CA.
		why := "the last order has still to issue " + strings.Join(rec.Pending, ", ")
		if rec.MovedFrom != "" {
			why += ", issued by " + rec.MovedFrom + ", from " + rec.Directory
		}
		return decision{Action: actRenew, Reason: why}
	}
	if !rec.ARICheckAt.After(now) {
		return decision{Action: actRefresh, Reason: "renewal information is due", Wake: renewAt}
	}
	if reason := pushNeeded(c, rec, srv); reason != "" {
		return decision{Action: actPush, Reason: reason, Wake: renewAt}
	}
	return decision{Action: actNone, Wake: earliest(renewAt, rec.ARICheckAt)}
}

// failedSpec holds back a definition that failed: until its backoff ends, or
// for good when the CA refused it permanently.
func failedSpec(c configs.Certificate, rec *store.Record, now time.Time) (decision, bool) {
	if rec.Attempts == 0 || rec.Spec != specOf(c) {
		return decision{}, false
	}
	if rec.Permanent && now.Before(rec.NextAttempt) {
		// Tried again after a long wait rather than never: a policy the CA
		// changed back must not leave an issued certificate to expire.
		return decision{Action: actNone, Wake: rec.NextAttempt,
			Reason: "refused by the CA; tried again at " + rec.NextAttempt.UTC().Format(time.RFC3339) + ", or edit the certificate or renew it by hand"}, true
	}
	if now.Before(rec.NextAttempt) {
		return decision{Action: actNone, Reason: "backing off after a failure", Wake: rec.NextAttempt}, true
	}
	return decision{}, false
}

// firstOrderReason explains the order of a certificate that was never
// issued: a new one, or one whose earlier orders failed.
func firstOrderReason(c configs.Certificate, rec *store.Record) string {
	if rec.Attempts == 0 || rec.Spec != specOf(c) {
		return "new certificate"
	}
	return fmt.Sprintf("new certificate, attempt %d after a failure", rec.Attempts+1)
}

// moved reports a record issued by another directory than dir, the one
// orders go to now. Records written before hotcert remembered directories
// have none: they count as dir's, so an upgrade orders nothing.
func moved(rec *store.Record, dir string) bool {
	return dir != "" && rec.Directory != "" && rec.Directory != dir
}

// nextRenewal is the earliest renewal time over the record's bundles.
func nextRenewal(rec *store.Record) (time.Time, string) {
	var at time.Time
	why := "a third of the lifetime left"
	for _, b := range rec.Bundles {
		leaf, err := leafOf(b)
		if err != nil {
			return time.Time{}, "stored bundle is unreadable"
		}
		var win *issuer.Window
		if !rec.ARIStart.IsZero() {
			win = &issuer.Window{Start: rec.ARIStart, End: rec.ARIEnd}
		}
		t := renewAt(leaf.NotBefore, leaf.NotAfter, win, rec.Jitter)
		if at.IsZero() || t.Before(at) {
			at = t
		}
		if win != nil {
			why = "inside the CA's renewal window (ARI)"
		} else if leaf.NotAfter.Sub(leaf.NotBefore) <= 10*24*time.Hour {
			why = "half of a short lifetime left"
		}
	}
	return at, why
}

// pushNeeded runs for every certificate at every pass, so it looks stores
// up by name and allocates only to explain a push.
func pushNeeded(c configs.Certificate, rec *store.Record, srv served) string {
	var buf [128]byte
	for inst, loaded := range srv {
		if loaded == nil {
			continue
		}
		for i, kt := range c.KeyTypes {
			leaf, err := leafOf(rec.Bundles[string(kt)])
			if err != nil {
				continue
			}
			bn := bundle.Name(c.Name, i, kt)
			if s, ok := loaded[bn]; !ok || s.Cmp(leaf.SerialNumber) != 0 {
				return inst + " does not serve the stored " + bn
			}
		}
		// c.Name is the first key type's bundle, never stale; the others are.
		for _, kt := range allKeyTypes {
			if slices.Contains(c.KeyTypes[1:], kt) {
				continue
			}
			sn := append(append(append(buf[:0], c.Name...), '.'), kt...)
			if _, ok := loaded[string(sn)]; ok {
				return inst + " still serves " + string(sn)
			}
		}
	}
	return ""
}

// staleBundle reports a bundle of this certificate that its definition no
// longer has, e.g. the RSA half of a dual certificate that became single.
func staleBundle(cert, bn string, want map[string]string) bool {
	for _, w := range want {
		if w == bn {
			return false
		}
	}
	base, _, ok := bundle.Split(bn)
	return bn == cert || ok && base == cert
}

var allKeyTypes = bundle.KeyTypes()

func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
