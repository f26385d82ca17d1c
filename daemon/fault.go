package daemon

import (
	"errors"
	"log/slog"
	"time"
)

// Local faults (HAProxy stopped, frozen or locked by another writer, a full
// disk) can last for days. An action that failed is held back with a
// growing, jittered backoff instead of being decided again at the next
// pass, and the log gets a line when a fault starts, when it changes and
// when it clears, not one per attempt. CA failures keep their own
// persisted backoff (failedSpec); these holds live in memory only, because
// a restart is a fine moment to try a local action again.
const (
	faultBase = time.Second
	// certFaultCap bounds the wait of one certificate's action.
	certFaultCap = 5 * time.Minute
	// lbFaultCap bounds how long an HAProxy that does not answer (or
	// refuses certificate changes) goes unasked: asking is one cheap
	// connection, and the cap is what brings it back within a minute of
	// the fault ending.
	lbFaultCap = 30 * time.Second
)

// fault is the history of one failing action (a certificate's) or of one
// failing HAProxy instance.
type fault struct {
	count int
	since time.Time
	until time.Time
	err   string
	// spec is the definition the held action was for: an edit is tried at
	// once, as with CA backoff.
	spec string
}

// faultWait is the wait after the n-th failure in a row: doubling from
// faultBase up to limit, then scaled into [1/2, 1] by jitter in [0, 1) so
// that instances and certificates failing together do not retry together.
func faultWait(n int, limit time.Duration, jitter float64) time.Duration {
	wait := faultBase
	for i := 1; i < n && wait < limit; i++ {
		wait *= 2
	}
	wait = min(wait, limit)
	return wait/2 + time.Duration(float64(wait/2)*jitter)
}

// failed records one more failure at now and says whether the log should
// hear of it: the first failure, or an error that reads differently.
func (f *fault) failed(err error, now time.Time, limit time.Duration, jitter float64) (news bool) {
	msg := err.Error()
	news = f.count == 0 || msg != f.err
	if f.count == 0 {
		f.since = now
	}
	f.count++
	f.err = msg
	f.until = now.Add(faultWait(f.count, limit, jitter))
	return news
}

// holding reports whether the fault still holds back an action for spec.
func (f *fault) holding(spec string, now time.Time) bool {
	return f != nil && f.spec == spec && now.Before(f.until)
}

// logFault writes the line for a fault that started or changed.
func logFault(log *slog.Logger, what string, f *fault, err error, now time.Time) {
	if f.count == 1 {
		log.Warn(what+"; retrying with backoff", "err", err, "retry_in", f.until.Sub(now).Round(time.Millisecond))
		return
	}
	log.Warn(what+", differently now; still retrying", "err", err, "failures", f.count,
		"since", f.since, "retry_in", f.until.Sub(now).Round(time.Millisecond))
}

// logCleared writes the line for a fault that ended.
func logCleared(log *slog.Logger, what string, f *fault, now time.Time) {
	log.Info(what, "failures", f.count, "lasted", now.Sub(f.since).Round(time.Millisecond))
}

// instanceWide is the optional method of an error that concerns a whole
// HAProxy instance (it does not answer, another writer holds its
// certificate transaction) rather than one certificate. runtime's errors
// have it.
type instanceWide interface{ InstanceWide() bool }

func isInstanceWide(err error) bool {
	var iw instanceWide
	return errors.As(err, &iw) && iw.InstanceWide()
}

// recordedError is an order failure whose backoff the store already holds.
// again: a self-check failed as the last attempt did, which the log heard
// of then; its short backoff would otherwise log it four times an hour.
type recordedError struct {
	err   error
	again bool
}

func (e *recordedError) Error() string { return e.err.Error() }
func (e *recordedError) Unwrap() error { return e.err }
