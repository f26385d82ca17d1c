package daemon

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// PlanEntry is what the next pass would do for one certificate, and why.
type PlanEntry struct {
	Name string `json:"name"`
	// Action is issue, renew, refresh-ari, push, remove, held (a removal
	// over safety.removal_limit), waiting (a removal kept until a
	// certificate that covers its names is served) or nothing.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Plan is what the next pass would do with a candidate domains file.
type Plan struct {
	Certificates []PlanEntry    `json:"certificates"` // sorted by name
	Counts       map[string]int `json:"counts"`       // by action
}

// Plan decides for doms as the next pass would, from the store, what every
// HAProxy serves now, the holds in force and the removal limit, and changes
// nothing: no action is queued, and neither the loop's view of HAProxy nor
// the status, the removals or the metrics move.
func (d *Daemon) Plan(ctx context.Context, doms *configs.Domains) (*Plan, error) {
	now := d.opt.Now()
	recs, err := d.records()
	if err != nil {
		return nil, fmt.Errorf("plan: read the store: %w", err)
	}
	srv, _ := d.ask(ctx, now, nil, nil)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	shared := d.clusterReady()
	p := &Plan{Certificates: []PlanEntry{}, Counts: map[string]int{}}
	want := make(map[string]int, len(doms.Certificates))
	for i, c := range doms.Certificates {
		want[c.Name] = i
		p.add(d.planEntry(c.Name, d.decideNow(c, recs[c.Name], srv, shared, now), recs[c.Name]))
	}
	d.mu.Lock()
	in := d.removalInputLocked(doms, recs, want, srv)
	d.mu.Unlock()
	for _, rm := range planRemovals(in) {
		if rm.verdict != rmGo {
			p.add(PlanEntry{Name: rm.name, Action: rm.verdict.String(), Reason: rm.reason})
			continue
		}
		dec := waitForCluster(d.removeNow(rm, now), shared, now)
		p.add(d.planEntry(rm.name, dec, nil))
	}
	sort.Slice(p.Certificates, func(i, j int) bool { return p.Certificates[i].Name < p.Certificates[j].Name })
	return p, nil
}

func (p *Plan) add(e PlanEntry) {
	p.Certificates = append(p.Certificates, e)
	p.Counts[e.Action]++
}

// planEntry words a decision for an operator; a certificate whose action
// is running gets no other until it ends, as in enqueue.
func (d *Daemon) planEntry(name string, dec decision, rec *store.Record) PlanEntry {
	d.mu.Lock()
	running := d.inflight[name]
	d.mu.Unlock()
	switch {
	case running:
		return PlanEntry{Name: name, Action: "nothing", Reason: "an action for it is running; the pass after it decides again"}
	case dec.Action != actNone:
		return PlanEntry{Name: name, Action: dec.Action.String(), Reason: dec.Reason}
	case dec.Reason != "":
		return PlanEntry{Name: name, Action: "nothing", Reason: dec.Reason}
	case rec != nil && len(rec.Bundles) > 0:
		at, why := nextRenewal(rec)
		return PlanEntry{Name: name, Action: "nothing", Reason: "served; renewal due " + at.UTC().Format(time.RFC3339) + " (" + why + ")"}
	}
	return PlanEntry{Name: name, Action: "nothing"}
}
