package daemon

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// A certificate that left the desired set is taken out of every HAProxy,
// unless one of two checks keeps it served:
//
//   - held: the change takes out more certificates than Options.RemovalLimit
//     (safety.removal_limit). All of them are held, not the first few: a
//     mass removal is most often a mistake (a template that rendered an
//     empty list), and which certificates went first would be arbitrary.
//     ConfirmRemovals lets the held ones go; so does a later change that
//     brings them within the limit.
//   - waiting: a desired certificate lists one of its names, or a wildcard
//     that covers one, and is not yet served by every HAProxy. A rename, or
//     a name moved to another certificate, keeps the old store until the new
//     one is served, so the name never falls back to the default certificate.
//
// Only certificates that may be served count: one that no HAProxy serves
// loses nothing by going (its files are cleaned up), and in a cluster the
// records of other nodes' certificates are never this node's removals. An
// HAProxy that did not answer may serve anything, so while one is silent
// every removal counts.

// verdict is the removal policy's answer for one certificate.
type verdict int

const (
	rmGo verdict = iota
	rmHeld
	rmWaiting
)

func (v verdict) String() string {
	return [...]string{"remove", "held", "waiting"}[v]
}

// removal is the verdict on one certificate that left the desired set.
type removal struct {
	name    string
	verdict verdict
	reason  string
}

// removalInput is everything the removal policy looks at.
type removalInput struct {
	desired []configs.Certificate
	want    map[string]int // the desired certificates by name
	recs    map[string]*store.Record
	srv     served
	// letGo are removals that went through the limit before: within it, or
	// confirmed by an operator. They are not counted again.
	letGo map[string]bool
	limit int // 0: no limit
}

// planRemovals is the removal policy, a pure function: a verdict for each
// certificate that left the desired set and is not yet out of every
// HAProxy, sorted by name.
func planRemovals(in removalInput) []removal {
	leaving := leavingNames(in.recs, in.want, in.srv)
	if len(leaving) == 0 {
		return nil
	}
	silent := anySilent(in.srv)
	mayServe := func(n string) bool { return silent || stillServed(n, in.srv) }
	fresh := map[string]bool{}
	for _, n := range leaving {
		if mayServe(n) && in.recs[n].RemovedAt.IsZero() && !in.letGo[n] {
			fresh[n] = true
		}
	}
	hold := in.limit > 0 && len(fresh) > in.limit
	var cover *coverIndex // built only when a removal gets that far
	out := make([]removal, 0, len(leaving))
	for _, n := range leaving {
		rm := removal{name: n, verdict: rmGo, reason: "no longer in the domains file"}
		switch {
		case !mayServe(n):
		case hold && fresh[n]:
			rm.verdict, rm.reason = rmHeld, fmt.Sprintf("%d certificates left the domains file, more than safety.removal_limit (%d); "+
				"hotcert confirm-removals applies the removals", len(fresh), in.limit)
		default:
			if cover == nil {
				cover = newCoverIndex(in.desired)
			}
			if why := cover.uncovered(in.recs[n], in.recs, in.srv); why != "" {
				rm.verdict, rm.reason = rmWaiting, why
			}
		}
		out = append(out, rm)
	}
	return out
}

// leavingNames are the certificates out of the desired set that some
// HAProxy may still serve: not yet removed, or served again (a frozen
// instance that kept it in memory).
func leavingNames(recs map[string]*store.Record, want map[string]int, srv served) []string {
	var out []string
	for n, r := range recs {
		if _, ok := want[n]; !ok && (r.RemovedAt.IsZero() || stillServed(n, srv)) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// anySilent reports an HAProxy that could not be asked what it serves.
func anySilent(srv served) bool {
	for _, loaded := range srv {
		if loaded == nil {
			return true
		}
	}
	return false
}

// coverIndex finds the desired certificates that cover a name: the same
// name, a wildcard that matches it, or, for a wildcard, a name it matches.
type coverIndex struct {
	desired  []configs.Certificate
	byName   map[string][]int
	byParent map[string][]int // parent domain of each non-wildcard name
}

func newCoverIndex(desired []configs.Certificate) *coverIndex {
	ix := &coverIndex{desired: desired, byName: map[string][]int{}, byParent: map[string][]int{}}
	for i, c := range desired {
		for _, dn := range c.Domains {
			ix.byName[dn] = append(ix.byName[dn], i)
			if _, parent, ok := strings.Cut(dn, "."); ok && !strings.HasPrefix(dn, "*.") {
				ix.byParent[parent] = append(ix.byParent[parent], i)
			}
		}
	}
	return ix
}

// covering returns the indexes of the desired certificates that cover name.
func (ix *coverIndex) covering(name string) []int {
	out := slices.Clone(ix.byName[name])
	if parent, ok := strings.CutPrefix(name, "*."); ok {
		return append(out, ix.byParent[parent]...)
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		out = append(out, ix.byName["*."+parent]...)
	}
	return out
}

// uncovered says why the leaving record's removal must wait: a desired
// certificate that covers one of its names is not served everywhere yet.
// It is empty when the removal may go.
func (ix *coverIndex) uncovered(old *store.Record, recs map[string]*store.Record, srv served) string {
	for _, dn := range old.Domains {
		for _, i := range ix.covering(dn) {
			c := ix.desired[i]
			if why := notServed(c, recs[c.Name], srv); why != "" {
				return fmt.Sprintf("kept until %s, which covers %s, is served by every HAProxy: %s", c.Name, dn, why)
			}
		}
	}
	return ""
}

// notServed says why the current definition of c is not served by every
// HAProxy, or is empty when it is. An HAProxy that does not answer cannot
// show that it serves it.
func notServed(c configs.Certificate, rec *store.Record, srv served) string {
	if rec == nil || !slices.Equal(rec.Domains, c.Domains) {
		return "it is not issued yet"
	}
	for _, inst := range sortedInstances(srv) {
		loaded := srv[inst]
		if loaded == nil {
			return inst + " does not answer"
		}
		for i, kt := range c.KeyTypes {
			b, ok := rec.Bundles[string(kt)]
			if !ok {
				return "its " + string(kt) + " bundle is not issued yet"
			}
			if !serves(loaded, bundle.Name(c.Name, i, kt), b) {
				return inst + " does not serve it yet"
			}
		}
	}
	return ""
}

func sortedInstances(srv served) []string {
	out := make([]string, 0, len(srv))
	for inst := range srv {
		out = append(out, inst)
	}
	sort.Strings(out)
	return out
}
