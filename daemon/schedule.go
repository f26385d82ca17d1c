package daemon

import (
	"time"

	"github.com/hotcert/hotcert/issuer"
)

// Renewal timing and the backoff of failed orders are scheduling policy:
// pure functions of their arguments, which the pass applies to each record.

// renewAt picks when to renew a certificate. With an ARI window it is the moment at fraction
// rnd (in [0,1)) of the window, so that a fleet spreads its renewals. Without one it is when
// a third of the lifetime is left, or half of it for lifetimes of 10 days or less, because a
// short-lived certificate needs room for a failed attempt or two.
func renewAt(notBefore, notAfter time.Time, ari *issuer.Window, rnd float64) time.Time {
	if ari != nil && ari.End.After(ari.Start) {
		rnd = min(max(rnd, 0), 1)
		return ari.Start.Add(time.Duration(rnd * float64(ari.End.Sub(ari.Start))))
	}
	lifetime := notAfter.Sub(notBefore)
	if lifetime <= 10*24*time.Hour {
		return notAfter.Add(-lifetime / 2)
	}
	return notAfter.Add(-lifetime / 3)
}

const (
	backoffBase = time.Minute
	backoffMax  = 6 * time.Hour
	// localMax caps the backoff of a failed self-check, a fault in the
	// local setup that costs the CA nothing to retry.
	localMax = 15 * time.Minute
)

// orderBackoff is the wait after n consecutive failed orders (n >= 1): 1m, 2m, 4m, ... capped at 6h.
func orderBackoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := backoffBase
	for i := 1; i < n; i++ {
		d *= 2
		if d >= backoffMax {
			return backoffMax
		}
	}
	return d
}

// localBackoff is the wait after n consecutive failed orders whose last
// failed the self-check: 1m, 2m, 4m, 8m, then 15m.
func localBackoff(n int) time.Duration {
	return min(orderBackoff(n), localMax)
}
