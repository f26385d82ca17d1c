package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotcert/hotcert/store"
)

// Cluster is what the daemon needs of a store that several hotcert nodes
// share: a claim per certificate, so that one node at a time orders it and
// a node that lost its claim can never overwrite what another wrote; the
// names other nodes changed; whether the shared store answers; and this
// node's desired set. Options.Store is then the shared store itself.
type Cluster interface {
	Claim(ctx context.Context, name string) (Claim, error)
	Changes() <-chan string
	Ready() error
	// Sync makes a round trip to the shared store: removals need proof
	// that it answers now, not the passive Ready's last word.
	Sync(ctx context.Context) error
	Want(names []string)
}

// Claim is one node's exclusive right to change one certificate's shared
// record.
type Claim interface {
	// Fresh is the record as the shared store holds it now: lock, check
	// again, then work.
	Fresh() (*store.Record, error)
	// Put writes the record, fenced: it fails once the claim is lost.
	Put(r *store.Record) error
	Release()
}

// ErrClaimed is what a Cluster's Claim returns (wrapped or as is) when
// another node holds the certificate's claim; the daemon then waits for
// that node's result instead of ordering.
var ErrClaimed = errors.New("another node holds the claim")

// claimRetryCap bounds the wait of a certificate whose claim another node
// holds: when that node dies its claim ends with its lease, and this node
// should take over within a few seconds of that.
const claimRetryCap = 5 * time.Second

// claimFor takes the certificate's claim before an action that changes its
// shared record, and returns how to write the record under it. Alone, it
// is the store's own Put. skip reports that the fresh record no longer
// needs the action: another node did it meanwhile.
func (d *Daemon) claimFor(ctx context.Context, j job) (put func(*store.Record) error, release func(), skip bool, err error) {
	if d.opt.Cluster == nil {
		return d.opt.Store.Put, func() {}, false, nil
	}
	cl, err := d.opt.Cluster.Claim(ctx, j.cert.Name)
	if err != nil {
		return nil, nil, false, fmt.Errorf("claim %s: %w", j.cert.Name, err)
	}
	put = func(r *store.Record) error { return d.memo.putWith(cl.Put, r) }
	fresh, err := cl.Fresh()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return put, cl.Release, false, nil
	case err != nil:
		cl.Release()
		return nil, nil, false, fmt.Errorf("read %s under its claim: %w", j.cert.Name, err)
	}
	if fresh.Ordering {
		// The claim is free, so the node that was ordering is gone.
		d.interrupted(fresh, d.opt.Now(), "order interrupted: the node placing it stopped")
		if err := put(fresh); err != nil {
			cl.Release()
			return nil, nil, false, err
		}
	} else {
		d.memo.remember(fresh)
	}
	dec := decide(j.cert, d.withARIDue(fresh), nil, d.opt.Directory, d.opt.Now())
	if dec.Action != j.action && !(j.action == actRenew && dec.Action == actIssue) {
		cl.Release()
		return nil, nil, true, nil
	}
	return put, cl.Release, false, nil
}

// clusterReady reports why the shared store cannot be used now, or nil.
func (d *Daemon) clusterReady() error {
	if d.opt.Cluster == nil {
		return nil
	}
	return d.opt.Cluster.Ready()
}

// followChanges takes in what other nodes wrote, and asks for a pass.
func (d *Daemon) followChanges(ctx context.Context) {
	if d.opt.Cluster == nil {
		return
	}
	ch := d.opt.Cluster.Changes()
	for {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-ch:
			if !ok {
				return
			}
			if err := d.memo.refresh(name); err != nil {
				d.log.Debug("read a record another node changed", "cert", name, "err", err)
			}
			d.mu.Lock()
			delete(d.holds, name) // its wait was for that node's result
			d.markDirtyLocked(name)
			d.kickLocked()
			d.mu.Unlock()
		}
	}
}

// waitForCluster turns the actions that need the shared store into a wait
// while it does not answer: orders, renewal questions and removals. Pushes
// go on from what this node holds.
func waitForCluster(dec decision, err error, now time.Time) decision {
	if err == nil || dec.Action == actNone || dec.Action == actPush {
		return dec
	}
	return decision{Action: actNone, Wake: now.Add(claimRetryCap),
		Reason: "waiting for the cluster's store: " + err.Error()}
}
