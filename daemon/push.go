package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// pushTimeout bounds one push to one HAProxy, so that a hung socket costs
// one instance, not the daemon.
const pushTimeout = 10 * time.Second

// pushAll gives every HAProxy the stored bundles of a certificate and takes
// out stores its definition no longer has. Instances are updated in
// parallel and each one's failure is reported on its own.
//
// It reports whether anything was sent: a push that found every instance
// held back, or already serving the bundles, did nothing worth a log line.
func (d *Daemon) pushAll(ctx context.Context, c configs.Certificate) (sent bool, err error) {
	rec, err := d.opt.Store.Get(c.Name)
	if err != nil {
		return false, err
	}
	names := bundleNames(c)
	var sends atomic.Int32
	errs := d.eachHAProxy(func(_ int, h HAProxy) error {
		sent, err := d.pushOne(ctx, h, c, names, rec.Bundles)
		if sent {
			sends.Add(1)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil || rec.RemovedAt.IsZero() {
		return sends.Load() > 0, err
	}
	// Back in the domains file and served again: the retention period of a
	// later removal starts at that removal, not at this old one.
	rec.RemovedAt = time.Time{}
	return true, d.opt.Store.Put(rec)
}

func (d *Daemon) pushOne(ctx context.Context, l HAProxy, c configs.Certificate, names map[string]string, bundles map[string]store.Bundle) (bool, error) {
	ok, probe := d.pushable(l.Name())
	if !ok {
		// Held back: the pass sees it as absent and decides nothing for it
		// until it answers again, so skipping it here is not a failure.
		return false, nil
	}
	// A push that has started finishes even when hotcert is stopping: the
	// bundle is on disk already, and HAProxy should serve it too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	var errs []error
	sent := false
	// An instance that already serves a bundle keeps it: when one HAProxy
	// of a fleet restarts, the others are not pushed to again. If the
	// question fails, everything is pushed.
	loaded, _ := loadedOfCert(ctx, l, c.Name)
	for kt, sn := range names {
		b, ok := bundles[kt]
		if !ok || serves(loaded, sn, b) {
			continue
		}
		sent = true
		err := l.Push(ctx, sn, b.PEM)
		d.opt.Metrics.Push(l.Name(), err)
		if err != nil {
			errs = append(errs, fmt.Errorf("push %s to %s: %w", sn, l.Name(), err))
		}
	}
	dropped, err := d.dropStale(ctx, l, c.Name, names, loaded)
	errs = append(errs, err)
	err = errors.Join(errs...)
	d.pushed(l.Name(), err, probe, sent || dropped)
	d.setPush(c.Name, l.Name(), err)
	if isInstanceWide(err) {
		// The instance's fault, not the certificate's: the instance backs
		// off, and the pass sees it as absent until it takes changes again.
		return false, nil
	}
	return sent || dropped, err
}

// someLoader is an HAProxy that can tell what it serves of a few stores
// without a copy of what it serves of every certificate (runtime.Client).
type someLoader interface {
	LoadedOf(ctx context.Context, names []string) (map[string]*big.Int, error)
}

// loadedSome is what l serves of the stores names, or of every store when
// names is nil or l cannot answer for a few.
func loadedSome(ctx context.Context, l HAProxy, names []string) (map[string]*big.Int, error) {
	if s, ok := l.(someLoader); ok && names != nil {
		return s.LoadedOf(ctx, names)
	}
	return l.Loaded(ctx)
}

// loadedOfCert is what l serves of every store cert's bundles can have.
func loadedOfCert(ctx context.Context, l HAProxy, cert string) (map[string]*big.Int, error) {
	return loadedSome(ctx, l, bundle.Names(cert))
}

// loadedOf lists the stores of cert that an instance holds. It looks up
// each name cert's bundles can have, rather than going through what the
// instance holds, which is every certificate's at 100,000.
func loadedOf(cert string, loaded map[string]*big.Int) []string {
	var out []string
	for _, sn := range bundle.Names(cert) {
		if _, ok := loaded[sn]; ok {
			out = append(out, sn)
		}
	}
	return out
}

func serves(loaded map[string]*big.Int, bn string, b store.Bundle) bool {
	s, ok := loaded[bn]
	leaf, err := leafOf(b)
	return ok && err == nil && s.Cmp(leaf.SerialNumber) == 0
}

// dropStale removes stores of this certificate that its definition lost.
func (d *Daemon) dropStale(ctx context.Context, l HAProxy, cert string, want map[string]string, loaded map[string]*big.Int) (bool, error) {
	if loaded == nil {
		var err error
		if loaded, err = loadedOfCert(ctx, l, cert); err != nil {
			return false, fmt.Errorf("list %s: %w", l.Name(), err)
		}
	}
	var errs []error
	dropped := false
	for _, sn := range loadedOf(cert, loaded) {
		if staleBundle(cert, sn, want) {
			dropped = true
			if err := l.Remove(ctx, sn); err != nil {
				errs = append(errs, fmt.Errorf("remove %s from %s: %w", sn, l.Name(), err))
			}
		}
	}
	return dropped, errors.Join(errs...)
}

// remove takes a certificate out of every HAProxy (crt-list line and PEM
// included) and marks it removed; its key and state stay for Retain.
func (d *Daemon) remove(ctx context.Context, name string) error {
	if d.opt.Cluster != nil {
		if err := d.opt.Cluster.Sync(ctx); err != nil {
			return fmt.Errorf("remove %s: the cluster's store does not answer: %w", name, err)
		}
	}
	rec, err := d.opt.Store.Get(name)
	if err != nil {
		return err
	}
	errs := d.eachHAProxy(func(_ int, h HAProxy) error {
		cctx, cancel := context.WithTimeout(ctx, pushTimeout)
		defer cancel()
		return d.dropAll(cctx, h, rec)
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if rec.RemovedAt.IsZero() {
		rec.RemovedAt = d.opt.Now()
	}
	return d.opt.Store.Put(rec)
}

// dropAll removes every store of a certificate from one instance: those it
// serves, and those the record says were pushed, which a push that failed
// midway may have left on disk (PEM and crt-list line) without HAProxy
// loading them; the next reload would serve them. Removing what is not
// there succeeds.
//
// An instance that does not answer still has its files cleaned at once,
// because they are what it loads when it starts: Remove edits the crt-list
// file before it talks to HAProxy. Whatever it still holds in memory is
// taken out once it answers again.
func (d *Daemon) dropAll(ctx context.Context, l HAProxy, rec *store.Record) error {
	var loaded map[string]*big.Int
	var err error = errHeld
	if !d.down(l.Name()) {
		if loaded, err = loadedOfCert(ctx, l, rec.Name); err != nil {
			d.answered(l.Name(), err)
		}
	}
	if err != nil {
		for _, sn := range bundle.Names(rec.Name) {
			_ = l.Remove(ctx, sn) // fails past the file edit; reported below
		}
		return fmt.Errorf("remove %s from %s: files cleaned, but it did not answer: %w", rec.Name, l.Name(), err)
	}
	names := loadedOf(rec.Name, loaded)
	for i, kt := range rec.KeyTypes {
		sn := bundle.Name(rec.Name, i, bundle.KeyType(kt))
		if _, ok := loaded[sn]; !ok {
			names = append(names, sn)
		}
	}
	var errs []error
	for _, sn := range names {
		if err := l.Remove(ctx, sn); err != nil {
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", sn, l.Name(), err))
		}
	}
	// No verdict on a refusing instance: HAProxy takes removals while
	// another writer's transaction blocks every push.
	return errors.Join(errs...)
}

// errHeld stands for an instance that is known not to answer.
var errHeld = &heldError{}

type heldError struct{}

func (*heldError) Error() string      { return "it is held back after failing to answer" }
func (*heldError) InstanceWide() bool { return true }
