package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// permanentRetry is how long a definition the CA refused waits before it
// is tried again, unless an edit or an operator's renew comes first.
const permanentRetry = 12 * time.Hour

// ErrUnknownCertificate is returned for a name the domains file lacks.
var ErrUnknownCertificate = errors.New("no such certificate in the domains file")

// runJob runs one action. quiet reports an action that turned out to have
// nothing to do (a push whose instances were all held back or up to date).
func (d *Daemon) runJob(ctx context.Context, j job) (quiet bool, err error) {
	d.log.Debug("start", "cert", j.cert.Name, "action", j.action.String(), "reason", j.reason)
	switch j.action {
	case actIssue, actRenew, actRefresh:
		put, release, skip, cerr := d.claimFor(ctx, j)
		if cerr != nil || skip {
			return skip, cerr
		}
		defer release()
		if j.action == actRefresh {
			err = d.refresh(ctx, j.cert, put)
		} else {
			err = d.order(ctx, j, put)
		}
	case actPush:
		var sent bool
		sent, err = d.pushAll(ctx, j.cert)
		quiet = !sent
	case actRemove:
		err = d.remove(ctx, j.cert.Name)
	}
	if j.action == actIssue && ctx.Err() == nil {
		d.noteIssued(j.cert.Name, err)
	}
	return quiet, err
}

// order obtains new bundles for the key types that need them, stores them,
// and pushes them. Its attempt is persisted before the order is placed, and
// each bundle as soon as it is issued: when the second key type of a dual
// certificate fails, the first is kept, served, and not ordered again.
func (d *Daemon) order(ctx context.Context, j job, put func(*store.Record) error) error {
	c := j.cert
	rec, err := d.opt.Store.Get(c.Name)
	if errors.Is(err, store.ErrNotFound) {
		rec = &store.Record{Name: c.Name, Bundles: map[string]store.Bundle{}}
	} else if err != nil {
		return err
	}
	began := d.opt.Now()
	moving := moved(rec, d.opt.Directory)
	need := neededKeyTypes(c, rec, j, began)
	switch {
	case moving:
		need = c.KeyTypes // every bundle comes from the new CA
	case rec.Spec == specOf(c) && len(rec.Pending) > 0:
		need = make([]configs.KeyType, 0, len(rec.Pending)) // not need[:0]: it may be c's own slice
		for _, kt := range rec.Pending {
			need = append(need, configs.KeyType(kt))
		}
	}
	if moving {
		rec.MovedFrom = rec.Directory
	}
	// The directory is the record's from now on: Pending lists what it has
	// still to issue, so a move that fails half-way is finished, not begun again.
	rec.Ordering, rec.LastAttempt, rec.Spec, rec.Directory = true, began, specOf(c), d.opt.Directory
	rec.Pending = make([]string, len(need))
	for i, kt := range need {
		rec.Pending[i] = string(kt)
	}
	if err := put(rec); err != nil {
		return err
	}
	// A bundle of another CA is no renewal's predecessor at this one.
	if err := d.issueAll(ctx, c, need, rec, rec.MovedFrom == "", put); err != nil {
		if ctx.Err() != nil {
			// Shutdown abandons orders. The record keeps ordering=true, so
			// the next start counts it as interrupted rather than as a CA
			// failure with a backoff.
			return fmt.Errorf("order %s abandoned: %w", c.Name, ctx.Err())
		}
		ferr := d.failed(rec, err, put)
		d.reportFailed(c, rec, err)
		return ferr
	}
	d.succeeded(c, rec)
	if j.forced {
		rec.RenewDone = began
	}
	if err := put(rec); err != nil {
		return err
	}
	d.opt.Metrics.Order(c.Name, "success", "")
	_, err = d.pushAll(ctx, c)
	return err
}

// neededKeyTypes: everything when the names changed or a renewal was forced,
// otherwise only the key types that lack a bundle or are due.
func neededKeyTypes(c configs.Certificate, rec *store.Record, j job, now time.Time) []configs.KeyType {
	if j.forced || !slices.Equal(rec.Domains, c.Domains) {
		return c.KeyTypes
	}
	var out []configs.KeyType
	for _, kt := range c.KeyTypes {
		b, ok := rec.Bundles[string(kt)]
		if !ok {
			out = append(out, kt)
			continue
		}
		one := &store.Record{Bundles: map[string]store.Bundle{string(kt): b}, ARIStart: rec.ARIStart, ARIEnd: rec.ARIEnd, Jitter: rec.Jitter}
		if at, _ := nextRenewal(one); !now.Before(at) {
			out = append(out, kt)
		}
	}
	if len(out) == 0 {
		return c.KeyTypes
	}
	return out
}

// issueAll orders each key type in turn and saves each bundle as it comes.
// A definition whose names changed starts its bundles afresh: a record's
// bundles all carry the record's names. link names the bundle an order
// replaces, which only the CA that issued it knows.
func (d *Daemon) issueAll(ctx context.Context, c configs.Certificate, kts []configs.KeyType, rec *store.Record, link bool, put func(*store.Record) error) error {
	for _, kt := range kts {
		req := issuer.Request{Name: c.Name, Domains: c.Domains, KeyType: kt, Challenge: c.Challenge, DNSProvider: c.DNSProvider}
		if old, ok := rec.Bundles[string(kt)]; ok && link && slices.Equal(rec.Domains, c.Domains) {
			// A renewal names what it replaces (ARI): Let's Encrypt exempts
			// such orders from its new-order rate limits.
			req.Replaces, _ = bundle.Leaf(old.PEM)
		}
		if c.KeyFile != "" {
			pemKey, err := os.ReadFile(c.KeyFile)
			if err != nil {
				return fmt.Errorf("read key_file of %s: %w", c.Name, err)
			}
			if req.Key, err = issuer.ParseKey(pemKey); err != nil {
				return fmt.Errorf("key_file of %s: %w", c.Name, err)
			}
		}
		b, err := d.opt.Issuer.Issue(ctx, req)
		if err != nil {
			return err
		}
		if !slices.Equal(rec.Domains, c.Domains) {
			rec.Bundles = map[string]store.Bundle{}
			rec.Domains = slices.Clone(c.Domains)
		}
		pem := append(append([]byte{}, b.CertPEM...), b.KeyPEM...)
		rec.Bundles[string(kt)] = store.Bundle{KeyType: string(kt), PEM: pem}
		rec.Pending = slices.DeleteFunc(rec.Pending, func(p string) bool { return p == string(kt) })
		if err := put(rec); err != nil {
			return fmt.Errorf("save the %s bundle of %s: %w", kt, c.Name, err)
		}
	}
	return nil
}

func (d *Daemon) succeeded(c configs.Certificate, rec *store.Record) {
	for kt := range rec.Bundles {
		if !slices.Contains(c.KeyTypes, configs.KeyType(kt)) {
			delete(rec.Bundles, kt)
		}
	}
	rec.Domains = slices.Clone(c.Domains)
	rec.KeyTypes = make([]string, len(c.KeyTypes))
	for i, kt := range c.KeyTypes {
		rec.KeyTypes[i] = string(kt)
	}
	rec.Ordering, rec.Attempts, rec.LastError, rec.Permanent = false, 0, "", false
	rec.MovedFrom = ""
	rec.CAUnavailable = false
	rec.NextAttempt = time.Time{}
	// A new certificate has a new renewal window: ask the CA about it soon,
	// and pick a new random point in whatever window it gives.
	rec.ARIStart, rec.ARIEnd, rec.ARICheckAt = time.Time{}, time.Time{}, time.Time{}
	rec.Jitter = rand.Float64()
	rec.RemovedAt = time.Time{}
}

// failed records a failed order with its backoff, persisted so that a
// restart does not reset it.
func (d *Daemon) failed(rec *store.Record, err error, put func(*store.Record) error) error {
	now := d.opt.Now()
	again := issuer.IsLocal(err) && rec.LastError == err.Error()
	rec.Ordering = false
	rec.Attempts++
	rec.LastError = err.Error()
	rec.Permanent = issuer.IsPermanent(err)
	rec.CAUnavailable = issuer.IsUnavailable(err)
	wait := orderBackoff(rec.Attempts)
	if ra, ok := issuer.RetryAfter(err); ok && ra > wait {
		wait = ra
	}
	switch {
	case issuer.IsLocal(err):
		// HAProxy's routing, as the self-check found it: a fix is usually
		// under way, and the next attempt checks again before the CA
		// validates anything, so trying soon costs the CA nothing.
		rec.Permanent = false
		wait = localBackoff(rec.Attempts)
	case rec.Permanent:
		wait = max(wait, permanentRetry)
	}
	rec.NextAttempt = now.Add(wait)
	d.opt.Metrics.Order(rec.Name, "failure", problemOf(err))
	if perr := put(rec); perr != nil {
		return errors.Join(err, perr) // not recorded: held back as a local fault
	}
	return &recordedError{err: fmt.Errorf("order %s (attempt %d, next %s): %w", rec.Name, rec.Attempts, rec.NextAttempt.Format(time.RFC3339), err), again: again}
}

func problemOf(err error) string {
	var ie *issuer.Error
	switch {
	case errors.As(err, &ie) && ie.Problem != "":
		return ie.Problem
	case issuer.IsLocal(err):
		return "self-check"
	}
	return "other"
}

// refresh asks the CA for renewal information and stores the window. A
// dual certificate has one window per bundle; the earliest one counts.
func (d *Daemon) refresh(ctx context.Context, c configs.Certificate, put func(*store.Record) error) error {
	rec, err := d.opt.Store.Get(c.Name)
	if err != nil {
		return err
	}
	now := d.opt.Now()
	var start, end time.Time
	asked, failed := 0, false
	checkAt := now.Add(24 * time.Hour)
	for _, b := range rec.Bundles {
		leaf, err := bundle.Leaf(b.PEM) // ARI names the leaf by its issuer's key and serial
		if err != nil {
			return fmt.Errorf("renewal information for %s: %w", c.Name, err)
		}
		win, retry, err := d.opt.Issuer.RenewalInfo(ctx, leaf)
		switch {
		case errors.Is(err, issuer.ErrNoARI):
			asked++
			continue // the lifetime rule applies; ask again tomorrow
		case err != nil:
			failed = true
			checkAt = earliest(checkAt, now.Add(max(time.Hour, retry)))
			d.log.Warn("renewal information", "cert", c.Name, "err", err)
			continue
		}
		asked++
		if start.IsZero() || win.Start.Before(start) {
			start, end = win.Start, win.End
		}
		checkAt = earliest(checkAt, now.Add(clamp(retry, time.Minute, 24*time.Hour)))
	}
	// A failed question keeps the window the CA gave before: an early
	// window (announced ahead of a mass revocation, say) must not be lost
	// to one network error.
	if !failed || asked > 0 && !start.IsZero() {
		rec.ARIStart, rec.ARIEnd = start, end
	}
	rec.ARICheckAt = checkAt
	return put(rec)
}

func clamp(v, lo, hi time.Duration) time.Duration {
	if v <= 0 {
		return 6 * time.Hour
	}
	return min(max(v, lo), hi)
}

// RefreshAll makes every certificate ask the CA for renewal information at
// the next pass, whatever the last Retry-After said (SIGHUP). It only marks
// the certificates: the refresh itself runs as a queued action, so it never
// races an order writing the same record.
func (d *Daemon) RefreshAll() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.desired != nil {
		for _, c := range d.desired.Certificates {
			d.ariDue[c.Name] = true
		}
	}
	d.markFullLocked()
	d.kickLocked()
	return nil
}
