package daemon

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// Hooks runs the operator's commands on certificate events, in the
// background: Run never waits for a command.
type Hooks interface {
	// Run starts the hook for e. It reports false when e will not run (no
	// command for the event, or too many waiting); a deployed event is then
	// offered again at a later pass.
	Run(e HookEvent) bool
}

// Hook event names.
const (
	HookDeployed = "deployed"
	HookFailed   = "failed"
)

// HookEvent is what a hook is told. The bundle fields are empty for a
// certificate that was never issued.
type HookEvent struct {
	Name     string // HookDeployed or HookFailed
	Cert     string
	Domains  []string
	KeyType  string
	Serial   string // as `openssl x509 -serial` prints it
	NotAfter time.Time
	Store    string // the bundle's name in HAProxy: <cert_dir>/<Store>.pem
	Error    string // for HookFailed
}

// deployedDue lists the key types (by index in c.KeyTypes) whose bundle
// has a serial no deployed hook was run for, once every HAProxy serves the
// certificate's current bundles. A dual certificate whose halves were
// renewed together is due for both at once.
func deployedDue(c configs.Certificate, rec *store.Record, srv served) []int {
	if len(srv) == 0 || !servesCurrent(c, rec, srv) {
		return nil
	}
	var due []int
	for i, kt := range c.KeyTypes {
		leaf, err := leafOf(rec.Bundles[string(kt)])
		if err == nil && rec.Deployed[string(kt)] != opensslSerial(leaf.SerialNumber) {
			due = append(due, i)
		}
	}
	return due
}

// opensslSerial writes a serial as `openssl x509 -serial` does: its bytes
// in upper-case hexadecimal, so always an even number of digits.
func opensslSerial(s *big.Int) string {
	if s.Sign() == 0 {
		return "00"
	}
	return fmt.Sprintf("%X", s.Bytes())
}

// hookEvent describes c's i-th key type and its stored bundle, if any.
func hookEvent(name string, c configs.Certificate, rec *store.Record, i int) HookEvent {
	kt := c.KeyTypes[i]
	e := HookEvent{Name: name, Cert: c.Name, Domains: c.Domains, KeyType: string(kt)}
	if rec == nil {
		return e
	}
	if leaf, err := leafOf(rec.Bundles[string(kt)]); err == nil {
		e.Serial, e.NotAfter = opensslSerial(leaf.SerialNumber), leaf.NotAfter
		e.Store = bundle.Name(c.Name, i, bundle.KeyType(kt))
	}
	return e
}

// announce runs the deployed hook for each bundle of c that every HAProxy
// now serves for the first time, and records its serial in the record, so
// that neither a later pass nor a restart runs it again. The serial is
// kept in memory too: a record that could not be written does not make
// every pass run the hook again.
func (d *Daemon) announce(c configs.Certificate, rec *store.Record, srv served) {
	if d.opt.Hooks == nil {
		return
	}
	d.mu.Lock()
	busy := d.inflight[c.Name]
	d.mu.Unlock()
	if busy {
		return // its action may write an older copy; the pass it asks for comes back
	}
	for _, i := range deployedDue(c, rec, srv) {
		e := hookEvent(HookDeployed, c, rec, i)
		key := c.Name + "/" + e.KeyType
		d.mu.Lock()
		done := d.announced[key] == e.Serial
		d.mu.Unlock()
		if done {
			continue
		}
		if !d.opt.Hooks.Run(e) {
			d.mu.Lock()
			d.markDirtyLocked(c.Name) // offered again at the next pass
			d.mu.Unlock()
			continue
		}
		d.log.Info("deployed hook queued", "cert", c.Name, "key_type", e.KeyType, "serial", e.Serial)
		d.mu.Lock()
		d.announced[key] = e.Serial
		d.mu.Unlock()
		err := d.memo.update(c.Name, func(r *store.Record) {
			if r.Deployed == nil {
				r.Deployed = map[string]string{}
			}
			r.Deployed[e.KeyType] = e.Serial
		})
		if err != nil {
			d.log.Warn("deployed hook ran, but could not be recorded; a restart runs it again", "cert", c.Name, "serial", e.Serial, "err", err)
		}
	}
}

// reportFailed runs the failed hook for an order of c that failed. It
// describes the stored bundle of c's first key type, if there is one.
func (d *Daemon) reportFailed(c configs.Certificate, rec *store.Record, err error) {
	if d.opt.Hooks == nil {
		return
	}
	e := hookEvent(HookFailed, c, rec, 0)
	e.Error = err.Error()
	d.opt.Hooks.Run(e)
}
