package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/store"
)

// pushTimeout bounds one push to one HAProxy, so that a hung socket costs
// one instance, not the daemon.
const pushTimeout = 10 * time.Second

// pushAll gives every HAProxy the stored bundles of a certificate and takes
// out stores its definition no longer has. Instances are updated in
// parallel and each one's failure is reported on its own.
func (d *Daemon) pushAll(ctx context.Context, c configs.Certificate) error {
	rec, err := d.opt.Store.Get(c.Name)
	if err != nil {
		return err
	}
	names := storeNames(c)
	var wg sync.WaitGroup
	errs := make([]error, len(d.opt.Loaders))
	for i, l := range d.opt.Loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.pushOne(ctx, l, c, names, rec.Bundles)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil || rec.RemovedAt.IsZero() {
		return err
	}
	// Back in the domains file and served again: the retention period of a
	// later removal starts at that removal, not at this old one.
	rec.RemovedAt = time.Time{}
	return d.opt.Store.Put(rec)
}

func (d *Daemon) pushOne(ctx context.Context, l Loader, c configs.Certificate, names map[string]string, bundles map[string]store.Bundle) error {
	// A push that has started finishes even when hotcert is stopping: the
	// bundle is on disk already, and HAProxy should serve it too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	var errs []error
	// An instance that already serves a bundle keeps it: when one HAProxy
	// of a fleet restarts, the others are not pushed to again. If the
	// question fails, everything is pushed.
	loaded, _ := l.Loaded(ctx)
	for kt, sn := range names {
		b, ok := bundles[kt]
		if !ok || serves(loaded, sn, b.PEM) {
			continue
		}
		err := l.Push(ctx, sn, b.PEM)
		d.opt.Metrics.Push(l.Name(), err)
		if err != nil {
			errs = append(errs, fmt.Errorf("push %s to %s: %w", sn, l.Name(), err))
		}
	}
	errs = append(errs, d.dropStale(ctx, l, c.Name, names))
	err := errors.Join(errs...)
	d.setPush(c.Name, l.Name(), err)
	return err
}

func serves(loaded map[string]*big.Int, sn string, bundle []byte) bool {
	s, ok := loaded[sn]
	leaf, err := leafOf(bundle)
	return ok && err == nil && s.Cmp(leaf.SerialNumber) == 0
}

// dropStale removes stores of this certificate that its definition lost.
func (d *Daemon) dropStale(ctx context.Context, l Loader, cert string, want map[string]string) error {
	loaded, err := l.Loaded(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.Name(), err)
	}
	var errs []error
	for sn := range loaded {
		if staleStore(cert, sn, want) {
			if err := l.Remove(ctx, sn); err != nil {
				errs = append(errs, fmt.Errorf("remove %s from %s: %w", sn, l.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// remove takes a certificate out of every HAProxy (crt-list line and PEM
// included) and marks it removed; its key and state stay for Retain.
func (d *Daemon) remove(ctx context.Context, name string) error {
	rec, err := d.opt.Store.Get(name)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range d.opt.Loaders {
		cctx, cancel := context.WithTimeout(ctx, pushTimeout)
		errs = append(errs, d.dropAll(cctx, l, rec))
		cancel()
	}
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
func (d *Daemon) dropAll(ctx context.Context, l Loader, rec *store.Record) error {
	loaded, err := l.Loaded(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.Name(), err)
	}
	var names []string
	for sn := range loaded {
		if staleStore(rec.Name, sn, nil) {
			names = append(names, sn)
		}
	}
	for i, kt := range rec.KeyTypes {
		sn := rec.Name
		if i > 0 {
			sn += "." + kt
		}
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
	return errors.Join(errs...)
}
