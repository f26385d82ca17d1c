// Package daemon is hotcert's reconcile loop. Events (a domains-file edit, a
// timer, SIGHUP, an admin request) only ask for a pass; a pass compares what
// the domains file wants with what the store holds and what every HAProxy
// serves, and queues at most one action per certificate. Workers run the
// actions; a finished action asks for another pass. The loop is level
// triggered, so a crash or a restart converges by running the same pass.
package daemon

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// Issuer obtains certificates from an ACME CA.
type Issuer interface {
	Issue(ctx context.Context, req issuer.Request) (*issuer.Bundle, error)
	RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*issuer.Window, time.Duration, error)
	// Revoke signs with certKey, the certificate's own key, for reason
	// keyCompromise (the only signature Let's Encrypt takes for it), and with
	// the account key otherwise.
	// Ping reports whether the CA answers, without placing an order.
	Ping(ctx context.Context) error
	Revoke(ctx context.Context, leafDER []byte, certKey crypto.Signer, reason int) error
}

// Store persists certificates and their history.
type Store interface {
	List() ([]*store.Record, error)
	Get(name string) (*store.Record, error)
	Put(r *store.Record) error
	Delete(name string) error
}

// HAProxy is one HAProxy instance, reached over its runtime API.
type HAProxy interface {
	Name() string
	Push(ctx context.Context, name string, bundle []byte) error
	Remove(ctx context.Context, name string) error
	Loaded(ctx context.Context) (map[string]*big.Int, error)
	Ping(ctx context.Context) error
}

// transactionAborter is an HAProxy that can abort certificate transactions
// another writer left open; start-up uses it when the instance offers it.
type transactionAborter interface {
	AbortForeign(ctx context.Context) error
}

// Options wires a Daemon.
type Options struct {
	Issuer    Issuer
	Store     Store
	HAProxies []HAProxy
	Logger    *slog.Logger
	Now       func() time.Time
	// Workers bounds the actions that run at once (orders in parallel).
	Workers int
	// Verify is how often every HAProxy is re-checked when nothing else is
	// due, so that a restarted HAProxy gets its certificates back.
	Verify time.Duration
	// Retain is how long the key and state of a removed certificate stay.
	Retain time.Duration
	// Cluster is the shared store's coordination when several nodes share
	// Store; nil when this node runs alone.
	Cluster Cluster
	// Metrics receives outcomes; nil discards them.
	Metrics Metrics
	// RemovalLimit is how many certificates one change of the desired set
	// may take out of HAProxy before the removals are held for
	// ConfirmRemovals (safety.removal_limit); 0 means no limit.
	RemovalLimit int
	// Directory is the CA's directory URL that orders go to. A certificate
	// another directory issued is ordered again from this one.
	Directory string
	// Hooks runs the operator's deployed and failed commands; nil runs none.
	Hooks Hooks
}

// Daemon owns the desired set and the queue.
type Daemon struct {
	opt  Options
	log  *slog.Logger
	memo *memo // opt.Store, read from disk once

	kick chan struct{}
	// rearm asks the loop to aim its timer at wake, when a failed action's
	// backoff ends before the pass it planned.
	rearm chan struct{}
	jobs  chan job

	mu      sync.Mutex
	desired *configs.Domains
	index   map[string]int // desired's certificates by name
	// issuing are the certificates whose status is "issue", for the
	// progress of a first issuance without a look at every status.
	issuing  map[string]bool
	changes  changes // what the next pass looks at (see changes.go)
	inflight map[string]bool
	// holds are certificates whose last action failed locally, held back
	// until their backoff ends (see fault.go).
	holds map[string]*fault
	ca    caState
	wake  time.Time
	// seq counts finished actions; finished[name] is the seq at which the
	// certificate's last action ended (see enqueue).
	seq       uint64
	finished  map[string]uint64
	ariDue    map[string]bool
	status    map[string]*certStatus
	haproxies map[string]*haproxyState
	passOK    time.Time
	cfgErr    error
	removals  removalState
	// announced is, by "<cert>/<key type>", the serial the deployed hook
	// last ran for in this process (see announce).
	announced map[string]string

	progress progress // of a long first issuance, for the logs
}

// New returns a daemon that manages nothing until SetDesired.
func New(opt Options) *Daemon {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.Verify <= 0 {
		opt.Verify = 30 * time.Second
	}
	if opt.Retain <= 0 {
		opt.Retain = 30 * 24 * time.Hour
	}
	if opt.Metrics == nil {
		opt.Metrics = nopMetrics{}
	}
	mem := newMemo(opt.Store)
	if mem.log == nil {
		mem.log = opt.Logger
	}
	opt.Store = mem
	d := &Daemon{
		opt: opt, log: opt.Logger, memo: mem,
		kick:      make(chan struct{}, 1),
		jobs:      make(chan job, queueSize),
		rearm:     make(chan struct{}, 1),
		inflight:  map[string]bool{},
		index:     map[string]int{},
		issuing:   map[string]bool{},
		holds:     map[string]*fault{},
		finished:  map[string]uint64{},
		ariDue:    map[string]bool{},
		status:    map[string]*certStatus{},
		haproxies: map[string]*haproxyState{},
		announced: map[string]string{},
		removals:  removalState{letGo: map[string]bool{}, waits: map[string]string{}},
		changes:   newChanges(),
	}
	for _, h := range opt.HAProxies {
		d.haproxies[h.Name()] = &haproxyState{}
	}
	return d
}

// Warm reads the store ahead of the first pass, which would otherwise
// begin by reading it, so that start-up reads the domains files meanwhile.
// A failure is left for the first pass to report and retry.
func (d *Daemon) Warm() {
	_ = d.memo.load()
}

// SetDesired replaces the desired set (a validated domains file) and asks
// for a pass.
func (d *Daemon) SetDesired(doms *configs.Domains) {
	d.mu.Lock()
	d.diffDesiredLocked(doms)
	d.desired = doms
	d.cfgErr = nil
	d.mu.Unlock()
	if d.opt.Cluster != nil {
		names := make([]string, len(doms.Certificates))
		for i, c := range doms.Certificates {
			names[i] = c.Name
		}
		d.opt.Cluster.Want(names)
	}
	d.opt.Metrics.ConfigValid(true)
	d.Kick()
}

// ConfigError records that the domains file was rejected; the last good set
// stays in force, and health and status report the error until a good file.
func (d *Daemon) ConfigError(err error) {
	d.mu.Lock()
	d.cfgErr = err
	d.mu.Unlock()
	d.opt.Metrics.ConfigValid(false)
}

// ConfigErr is the domains file's current problem, nil when it is good.
func (d *Daemon) ConfigErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfgErr
}

// Kick asks for a pass; bursts coalesce into one.
func (d *Daemon) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Renew forces a new order for a certificate, ignoring backoff and
// refusals. The request is persisted in the record and stays until an order
// succeeds, through failures and restarts.
func (d *Daemon) Renew(name string) error {
	d.mu.Lock()
	wanted := d.wants(name)
	d.mu.Unlock()
	if !wanted {
		return ErrUnknownCertificate
	}
	now := d.opt.Now()
	err := d.memo.update(name, func(r *store.Record) {
		r.RenewAsked = now
		r.NextAttempt = time.Time{}
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Not issued yet is fine: the pass orders it anyway.
		return fmt.Errorf("renew %s: %w", name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.holds, name)
	d.markDirtyLocked(name)
	d.kickLocked()
	return nil
}

func (d *Daemon) kickLocked() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Daemon) wants(name string) bool {
	_, ok := d.index[name]
	return ok
}

// Run drives passes until ctx ends, then waits for running actions. Orders
// are abandoned through ctx; pushes are short and finish.
func (d *Daemon) Run(ctx context.Context) error {
	started := d.opt.Now()
	d.recoverState(ctx)
	var wg sync.WaitGroup
	for range d.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker(ctx)
		}()
	}
	defer wg.Wait()
	wg.Go(func() { d.followChanges(ctx) })
	timer := time.NewTimer(0)
	defer timer.Stop()
	var due time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.rearm:
			if w := d.takeWake(); !w.IsZero() && w.Before(due) {
				due = w
				timer.Reset(max(due.Sub(d.opt.Now()), 50*time.Millisecond))
			}
			continue
		case <-d.kick:
		case <-timer.C:
		}
		d.takeWake() // this pass sees every hold
		due = d.pass(ctx)
		if !started.IsZero() {
			// Start-up ends here: the store was read, every HAProxy checked.
			// Reading every record and file leaves garbage the size of
			// the store (hundreds of MB at 100,000 certificates) that
			// would stay resident until the scavenger gets to it.
			debug.FreeOSMemory()
			d.log.Info("first reconcile pass done", "took", d.opt.Now().Sub(started))
			started = time.Time{}
		}
		timer.Reset(max(due.Sub(d.opt.Now()), 50*time.Millisecond))
	}
}

func (d *Daemon) takeWake() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.wake
	d.wake = time.Time{}
	return w
}

func (d *Daemon) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-d.jobs:
			if ctx.Err() != nil {
				// select picks at random when both are ready: a job queued
				// before shutdown must not start after it.
				return
			}
			quiet, err := d.runJob(ctx, j)
			d.finish(ctx, j, quiet, err)
		}
	}
}

// finish ends a job and logs its outcome. Success, or a CA failure whose
// backoff the record holds, asks for a pass. A local failure holds the
// certificate back and only aims the timer at the end of its backoff, so
// that a lasting fault never turns into a loop; it is logged when it starts,
// changes and clears, not at every attempt.
func (d *Daemon) finish(ctx context.Context, j job, quiet bool, err error) {
	log := d.log.With("cert", j.cert.Name, "action", j.action.String())
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, j.cert.Name)
	d.markDirtyLocked(j.cert.Name)
	d.seq++
	d.finished[j.cert.Name] = d.seq
	if ctx.Err() != nil {
		return // shutting down: abandoned, not failed
	}
	now := d.opt.Now()
	var recorded *recordedError
	switch {
	case err == nil && quiet:
		// Nothing was sent, which proves nothing about a held failure.
		log.Debug("nothing to do", "reason", j.reason)
		d.kickLocked()
	case err == nil:
		if f := d.holds[j.cert.Name]; f != nil {
			logCleared(log, "recovered", f, now)
			delete(d.holds, j.cert.Name)
		}
		if j.action == actIssue || j.action == actRenew {
			d.caOrderedLocked(now)
		}
		log.Info("done", "reason", j.reason)
		d.kickLocked()
	case errors.Is(err, ErrClaimed):
		// Another node orders it; its result comes through Changes. Asked
		// again soon in case that node dies and its claim lapses.
		log.Debug("another node holds the claim", "err", err)
		d.holdQuietLocked(j, err, now)
	case errors.As(err, &recorded) && issuer.IsUnavailable(err):
		// The CA's fault, logged once for every certificate by
		// caFailedLocked; the record keeps the error for status.
		log.Debug("failed", "reason", j.reason, "err", err)
		d.caFailedLocked(j.cert.Name, err, now)
		d.kickLocked()
	case errors.As(err, &recorded) && recorded.again:
		log.Debug("failed again", "reason", j.reason, "err", err)
		d.kickLocked()
	case errors.As(err, &recorded):
		log.Error("failed", "reason", j.reason, "err", err)
		d.kickLocked()
	default:
		d.holdLocked(log, j, err, now)
	}
}

func (d *Daemon) holdLocked(log *slog.Logger, j job, err error, now time.Time) {
	if f, news := d.holdFor(j, err, now, certFaultCap); news {
		logFault(log, j.action.String()+" failed", f, err, now)
	}
}

func (d *Daemon) holdQuietLocked(j job, err error, now time.Time) {
	d.holdFor(j, err, now, claimRetryCap)
}

// holdFor records one more local failure of j and aims the loop's timer at
// the end of its backoff.
func (d *Daemon) holdFor(j job, err error, now time.Time, limit time.Duration) (f *fault, news bool) {
	spec := specOf(j.cert)
	if j.action == actRemove {
		spec = removedSpec
	}
	f = d.holds[j.cert.Name]
	if f == nil || f.spec != spec {
		f = &fault{spec: spec}
		d.holds[j.cert.Name] = f
	}
	news = f.failed(err, now, limit, rand.Float64())
	d.wake = earliest(d.wake, f.until)
	d.rearmLocked()
	return f, news
}
