package daemon

import (
	"slices"
	"strings"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// RemovalStatus is a certificate that left the domains file and is not yet
// out of every HAProxy, with what keeps it (see planRemovals).
type RemovalStatus struct {
	Name   string `json:"name"`
	State  string `json:"state"` // remove | held | waiting
	Reason string `json:"reason"`
}

// removalState is what the loop remembers of removals between passes.
type removalState struct {
	// letGo are removals past the limit: let go within it, or confirmed.
	// They stay let go until done or back in the desired set, so that a
	// removal under way is never held halfway.
	letGo map[string]bool
	held  []string          // held at the last pass, sorted; logged on change
	waits map[string]string // the reason each waiting removal was logged with
	list  []RemovalStatus
}

// judgeRemovals applies the removal policy to this pass and remembers the
// outcome for status, the log and ConfirmRemovals.
func (d *Daemon) judgeRemovals(desired *configs.Domains, recs map[string]*store.Record, want map[string]int, srv served) []removal {
	d.mu.Lock()
	in := d.removalInputLocked(desired, recs, want, srv)
	d.mu.Unlock()
	rms := planRemovals(in)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recordRemovalsLocked(rms)
	return rms
}

// removalInputLocked gathers the policy's input; letGo is a copy, since
// ConfirmRemovals may change it while the policy runs.
func (d *Daemon) removalInputLocked(desired *configs.Domains, recs map[string]*store.Record, want map[string]int, srv served) removalInput {
	in := removalInput{want: want, recs: recs, srv: srv, limit: d.opt.RemovalLimit, letGo: map[string]bool{}}
	if desired != nil {
		in.desired = desired.Certificates
	}
	for n := range d.removals.letGo {
		in.letGo[n] = true
	}
	return in
}

// recordRemovalsLocked keeps what the next pass and an operator need of
// this pass's verdicts, and logs the waits that are new or changed.
func (d *Daemon) recordRemovalsLocked(rms []removal) {
	rs := &d.removals
	leaving := make(map[string]bool, len(rms))
	var held []string
	list := make([]RemovalStatus, 0, len(rms))
	for _, rm := range rms {
		leaving[rm.name] = true
		st := RemovalStatus{Name: rm.name, State: rm.verdict.String(), Reason: rm.reason}
		switch {
		case rm.verdict == rmHeld && rs.letGo[rm.name]:
			// Confirmed while the policy ran; the pass that ConfirmRemovals
			// asked for decides it afresh.
			st.State, st.Reason = rmGo.String(), "confirmed by an operator"
		case rm.verdict == rmHeld:
			held = append(held, rm.name)
		case rm.verdict == rmWaiting && rs.waits[rm.name] != rm.reason:
			d.log.Info("removal waits", "cert", rm.name, "reason", rm.reason)
			rs.waits[rm.name] = rm.reason
		}
		if rm.verdict != rmHeld {
			rs.letGo[rm.name] = true
		}
		if rm.verdict != rmWaiting {
			delete(rs.waits, rm.name)
		}
		list = append(list, st)
	}
	for n := range rs.letGo {
		if !leaving[n] {
			delete(rs.letGo, n)
		}
	}
	for n := range rs.waits {
		if !leaving[n] {
			delete(rs.waits, n)
		}
	}
	d.setHeldLocked(held)
	rs.list = list
}

// setHeldLocked logs and counts the held removals when they change, not at
// every pass.
func (d *Daemon) setHeldLocked(held []string) {
	rs := &d.removals
	if slices.Equal(held, rs.held) {
		return
	}
	switch {
	case len(held) > 0:
		d.log.Warn("removals held: more certificates left the domains file than safety.removal_limit allows; "+
			"they stay served until hotcert confirm-removals, or until the file brings them within the limit",
			"count", len(held), "limit", d.opt.RemovalLimit, "certs", someNames(held))
	default:
		d.log.Info("removals no longer held: back in the domains file or within safety.removal_limit", "count", len(rs.held))
	}
	rs.held = held
	d.opt.Metrics.RemovalsHeld(len(held))
}

// ConfirmRemovals lets go the removals held at this moment and returns
// their names. Removals held later (a bigger change made meanwhile) are
// held again: an operator confirms what they saw.
func (d *Daemon) ConfirmRemovals() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := &d.removals
	held := rs.held
	if len(held) == 0 {
		return []string{}
	}
	for _, n := range held {
		rs.letGo[n] = true
	}
	for i, s := range rs.list {
		if s.State == rmHeld.String() {
			rs.list[i] = RemovalStatus{Name: s.Name, State: rmGo.String(), Reason: "confirmed by an operator"}
		}
	}
	d.log.Info("held removals confirmed", "count", len(held), "certs", someNames(held))
	rs.held = nil
	d.opt.Metrics.RemovalsHeld(0)
	d.markFullLocked()
	d.kickLocked()
	return held
}

// Removals lists the certificates that left the domains file and are not
// yet out of every HAProxy, as the last pass judged them.
func (d *Daemon) Removals() []RemovalStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.removals.list)
}

// someNames keeps a log line short when thousands of removals are held.
func someNames(names []string) string {
	const most = 20
	if len(names) <= most {
		return strings.Join(names, ",")
	}
	return strings.Join(names[:most], ",") + ",..."
}
