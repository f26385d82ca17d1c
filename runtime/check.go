package runtime

import (
	"context"
	"math/big"
	"time"
)

// The rolling check notices what someone else did to the stores under
// CertDir while HAProxy kept running: a store replaced, emptied, deleted or
// added behind hotcert's back. Reading every store at once costs a round
// trip per hundred stores and 2.4 s at 100,000 (docs/benchmarks.md), which
// every few minutes is more idle CPU than hotcert may use (1% of a core).
// So Loaded reads a slice at a time instead:
//
//   - at most one slice per Rescan/perCycle (30 s by default), however often
//     Loaded is called (the daemon calls it before every push);
//   - a slice is the known stores' share of a cycle, len/perCycle, but never
//     more than maxSlice stores. Up to 10,000 stores a whole cycle takes
//     Rescan (10 min by default); above that a slice stays at 500 stores
//     (about 15 ms every 30 s, 0.05% of a core) and the cycle grows: 100
//     min at 100,000;
//   - a slice reads known stores in round robin, so it finds a store that
//     was replaced, emptied or deleted within one cycle;
//   - a store added by someone else under CertDir is not among the known
//     ones, so once per Rescan a slice also reads the listing (`show ssl
//     cert`, one round trip of about 4 MB and 100 ms at 100,000 stores) and
//     reads the stores it did not know. show info has no counter of
//     certificate stores that could say when the listing is worth reading,
//     so it is read on a timer: a store added by hand is seen within Rescan,
//     and a store hotcert serves that someone changed within a cycle.
//
// A slice that fails changes nothing and is tried again one period later;
// Loaded still answers, because show info proved the process is the one the
// state describes.
const (
	perCycle = 20  // slices per Rescan
	maxSlice = 500 // stores
)

// rolling is the rolling check's place in the known stores.
type rolling struct {
	order  []string  // names in reading order; removed names are skipped, new ones appended
	next   int       // index in order of the next slice's first name
	last   time.Time // the last slice, failed or not
	failed bool      // the last slice failed (logged once until one works)
}

// restart begins a new cycle over the names in serials.
func (r *rolling) restart(serials map[string]*big.Int, now time.Time) {
	r.order = r.order[:0]
	for name := range serials {
		r.order = append(r.order, name)
	}
	r.next = 0
	r.last = now
}

// check runs a slice of the rolling check if one is due.
func (c *Client) check(ctx context.Context) {
	now, r := c.now(), &c.st.roll
	if now.Sub(r.last) < c.opts.Rescan/perCycle {
		return
	}
	r.last = now
	err := c.relist(ctx, now)
	if err == nil {
		err = c.slice(ctx)
	}
	switch {
	case err != nil && !r.failed:
		c.log.Warn("could not check certificate stores; trying again later", "err", err)
	case err == nil && r.failed:
		c.log.Info("certificate stores checked again")
	}
	r.failed = err != nil
}

// slice reads the next known stores and corrects the state where HAProxy
// serves something else.
func (c *Client) slice(ctx context.Context) error {
	r := &c.st.roll
	if r.next >= len(r.order) {
		r.restart(c.st.serials, r.last)
	}
	size := min(maxSlice, max(1, (len(c.st.serials)+perCycle-1)/perCycle))
	var paths []string
	end := r.next
	for ; end < len(r.order) && len(paths) < size; end++ {
		if _, ok := c.st.serials[r.order[end]]; ok {
			paths = append(paths, c.Path(r.order[end]))
		}
	}
	if err := c.correct(ctx, paths, "changed behind hotcert's back"); err != nil {
		return err
	}
	r.next = end
	return nil
}

// relist reads the store listing once per Rescan and the stores under
// CertDir it shows that the state does not know, and forgets the ones it no
// longer shows.
func (c *Client) relist(ctx context.Context, now time.Time) error {
	if now.Sub(c.st.scanned) < c.opts.Rescan {
		return nil
	}
	_, stores, err := c.stores(ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(c.st.serials))
	var unknown []string
	for _, s := range stores {
		name, ok := c.nameOf(s)
		if !ok {
			continue
		}
		seen[name] = true
		// Empty stores are not in serials either, so they are read again
		// each time; they are leftovers of failed pushes, and few.
		if _, known := c.st.serials[name]; !known {
			unknown = append(unknown, s)
		}
	}
	for name := range c.st.serials {
		if !seen[name] {
			unknown = append(unknown, c.Path(name)) // reads as gone
		}
	}
	if err := c.correct(ctx, unknown, "added or deleted behind hotcert's back"); err != nil {
		return err
	}
	c.st.scanned = now
	return nil
}

// correct reads the stores at paths and makes the state say what HAProxy
// serves there; a difference moves the Epoch.
func (c *Client) correct(ctx context.Context, paths []string, why string) error {
	var drifted []string
	err := c.readStores(ctx, paths, func(path string, serial *big.Int) {
		name, _ := c.nameOf(path)
		if c.st.set(name, serial) {
			drifted = append(drifted, name)
		}
	})
	if len(drifted) > 0 {
		c.epoch.Add(1)
		// One line per slice, however many stores: a script that replaced
		// thousands must not flood the log.
		c.log.Warn("certificate stores "+why+"; following what HAProxy serves",
			"count", len(drifted), "first", drifted[:min(len(drifted), 5)])
	}
	return err
}
