package runtime

import (
	"context"
	"errors"
	"sync"
)

// Fleet is every HAProxy hotcert manages. Operations run on all instances
// concurrently and report per instance, so a partial failure is visible.
type Fleet []*Client

// Result is the outcome of one operation on one instance.
type Result struct {
	Instance string
	Err      error
}

// Push pushes bundle to every instance; results are in fleet order.
func (f Fleet) Push(ctx context.Context, name string, bundle []byte) []Result {
	return f.each(func(c *Client) error { return c.Push(ctx, name, bundle) })
}

// Remove removes the certificate from every instance; results are in fleet order.
func (f Fleet) Remove(ctx context.Context, name string) []Result {
	return f.each(func(c *Client) error { return c.Remove(ctx, name) })
}

func (f Fleet) each(op func(*Client) error) []Result {
	out := make([]Result, len(f))
	var wg sync.WaitGroup
	for i, c := range f {
		out[i].Instance = c.Name()
		wg.Go(func() { out[i].Err = op(c) })
	}
	wg.Wait()
	return out
}

func joined(rs []Result) error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

// MapSolver answers HTTP-01 challenges from an HAProxy map on every instance,
// so the CA may reach any load balancer. It satisfies issuer.HTTPSolver.
type MapSolver struct {
	Fleet Fleet
	Map   string // the map file exactly as haproxy.cfg names it
}

// Present adds token -> keyAuth to the map on every instance.
func (m MapSolver) Present(ctx context.Context, token, keyAuth string) error {
	return joined(m.Fleet.each(func(c *Client) error { return c.AddMapEntry(ctx, m.Map, token, keyAuth) }))
}

// CleanUp removes token from the map on every instance.
func (m MapSolver) CleanUp(ctx context.Context, token string) error {
	return joined(m.Fleet.each(func(c *Client) error { return c.DelMapEntry(ctx, m.Map, token) }))
}
