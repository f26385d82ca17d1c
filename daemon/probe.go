package daemon

import (
	"context"
	"sync"
)

// Probe asks every HAProxy for `show info` now, in parallel, and returns the
// instances that did not answer with their errors. Readiness checks use it
// instead of Health, whose view is as old as the last pass.
func (d *Daemon) Probe(ctx context.Context) map[string]string {
	var mu sync.Mutex
	down := map[string]string{}
	var wg sync.WaitGroup
	for _, l := range d.opt.HAProxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Ping(ctx); err != nil {
				mu.Lock()
				down[l.Name()] = err.Error()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return down
}
