package daemon

import (
	"context"
	"sync"
)

// Probe asks every HAProxy for `show info` now, in parallel, and returns the
// instances that did not answer with their errors. Readiness checks use it
// instead of Health, whose view is as old as the last pass.
func (d *Daemon) Probe(ctx context.Context) map[string]string {
	errs := d.eachHAProxy(func(i int, h HAProxy) error { return h.Ping(ctx) })
	down := map[string]string{}
	for i, h := range d.opt.HAProxies {
		if errs[i] != nil {
			down[h.Name()] = errs[i].Error()
		}
	}
	if err := d.clusterReady(); err != nil {
		down["cluster store"] = err.Error()
	}
	return down
}

// eachHAProxy runs f for every HAProxy at once and returns its errors in
// the order of Options.HAProxies: a frozen instance costs one deadline,
// not one per instance before it.
func (d *Daemon) eachHAProxy(f func(i int, h HAProxy) error) []error {
	errs := make([]error, len(d.opt.HAProxies))
	var wg sync.WaitGroup
	for i, h := range d.opt.HAProxies {
		wg.Go(func() { errs[i] = f(i, h) })
	}
	wg.Wait()
	return errs
}
