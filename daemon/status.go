package daemon

import (
	"maps"
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// Metrics receives the daemon's outcomes; the admin package implements it
// with Prometheus.
type Metrics interface {
	Order(cert, result, problem string)
	Push(haproxy string, err error)
	PassDone(at time.Time)
	// Certificate reports a certificate of the domains file from its first
	// pass on: ready when every HAProxy serves its current bundles; expiry
	// and renewal are zero until a bundle is stored.
	Certificate(name string, ready bool, expiry, renewal time.Time)
	Forget(name string)
	ConfigValid(ok bool)
	// HAProxyUp reports whether an instance answered when last asked.
	HAProxyUp(haproxy string, up bool)
	// RemovalsHeld is how many removals safety.removal_limit holds now.
	RemovalsHeld(n int)
}

type nopMetrics struct{}

func (nopMetrics) Order(string, string, string)                   {}
func (nopMetrics) Push(string, error)                             {}
func (nopMetrics) PassDone(time.Time)                             {}
func (nopMetrics) Certificate(string, bool, time.Time, time.Time) {}
func (nopMetrics) Forget(string)                                  {}
func (nopMetrics) ConfigValid(bool)                               {}
func (nopMetrics) HAProxyUp(string, bool)                         {}
func (nopMetrics) RemovalsHeld(int)                               {}

// CertStatus is what an operator sees of one certificate.
type CertStatus struct {
	Name        string            `json:"name"`
	Domains     []string          `json:"domains"`
	KeyTypes    []string          `json:"key_types"`
	NotBefore   time.Time         `json:"not_before,omitzero"`
	NotAfter    time.Time         `json:"not_after,omitzero"`
	Serial      string            `json:"serial,omitempty"`
	NextRenewal time.Time         `json:"next_renewal,omitzero"`
	RenewalWhy  string            `json:"next_renewal_reason,omitempty"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"`
	NextAttempt time.Time         `json:"next_attempt,omitzero"`
	LastError   string            `json:"last_error,omitempty"`
	Directory   string            `json:"directory,omitempty"` // the ACME directory of the CA that issues it
	Loaded      map[string]string `json:"loaded"`              // haproxy -> serial (hex), "" when absent
	PushErrors  map[string]string `json:"push_errors,omitempty"`
	// Ready: every HAProxy serves the current bundle of each key type (the
	// value behind hotcert_certificate_ready).
	Ready bool `json:"ready"`
}

// certStatus is kept for every certificate: at 100,000 its size is most
// of the daemon's memory, so what it holds per instance is in slices
// (a map costs about 300 bytes even with one entry), and view makes the
// maps the API shows.
type certStatus struct {
	CertStatus // Loaded is nil here: see loaded
	pushErr    map[string]string
	loaded     []instValue[string] // CertStatus.Loaded, by instance
	from       noted
	ready      bool
}

// instValue is one instance's value of something.
type instValue[T any] struct {
	inst string
	v    T
}

// noted is what a status was made from. A pass that sees the same again
// keeps the status: rebuilding 10,000 of them was most of a pass's cost.
// Records are compared by pointer, which the memo keeps stable until a write.
type noted struct {
	cert   configs.Certificate
	rec    *store.Record
	dec    decision
	served []instValue[*big.Int] // the main store's serial, by instance
}

func (n *noted) same(c configs.Certificate, rec *store.Record, dec decision, srv served) bool {
	if n.rec != rec || n.dec != dec || len(n.served) != len(srv) ||
		!slices.Equal(n.cert.Domains, c.Domains) || !slices.Equal(n.cert.KeyTypes, c.KeyTypes) {
		return false
	}
	// Equal lengths, and every instance noted is in srv: the same instances.
	for _, e := range n.served {
		loaded, ok := srv[e.inst]
		was, now := e.v, loaded[c.Name]
		if !ok || (was == nil) != (now == nil) || (now != nil && was != now && was.Cmp(now) != 0) {
			return false
		}
	}
	return true
}

// note records what the pass saw of a certificate, for the status API.
func (d *Daemon) note(c configs.Certificate, rec *store.Record, dec decision, srv served) {
	d.mu.Lock()
	old := d.status[c.Name]
	d.mu.Unlock()
	ready := servesCurrent(c, rec, srv)
	if old != nil && old.ready == ready && old.from.same(c, rec, dec, srv) {
		return
	}
	s := CertStatus{Name: c.Name, Domains: c.Domains, State: dec.Action.String(), Ready: ready}
	for _, kt := range c.KeyTypes {
		s.KeyTypes = append(s.KeyTypes, string(kt))
	}
	if dec.Action == actNone && dec.Reason != "" {
		s.State = "waiting: " + dec.Reason
	} else if dec.Action == actNone {
		s.State = "ok"
	}
	main := c.Name // the first key type's store
	var stored *big.Int
	if rec != nil {
		stored = d.noteRecord(&s, c, rec)
	}
	from := noted{cert: c, rec: rec, dec: dec, served: make([]instValue[*big.Int], 0, len(srv))}
	shown := make([]instValue[string], 0, len(srv))
	for inst, loaded := range srv {
		v := loaded[main]
		from.served = append(from.served, instValue[*big.Int]{inst, v})
		if v != nil && stored != nil && v.Cmp(stored) == 0 {
			shown = append(shown, instValue[string]{inst, s.Serial}) // no formatting for the usual case
		} else {
			shown = append(shown, instValue[string]{inst, hexSerial(v)})
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old = d.status[c.Name]
	cs := &certStatus{CertStatus: s, loaded: shown, from: from, ready: ready}
	if old != nil {
		cs.pushErr = old.pushErr
	}
	d.status[c.Name] = cs
	d.opt.Metrics.Certificate(c.Name, ready, s.NotAfter, s.NextRenewal)
}

// servesCurrent reports whether every HAProxy answered and serves the stored
// bundle of each key type, issued for the certificate's current names. It
// runs for every certificate at every pass, so it only looks things up.
func servesCurrent(c configs.Certificate, rec *store.Record, srv served) bool {
	if rec == nil || !slices.Equal(rec.Domains, c.Domains) {
		return false
	}
	for i, kt := range c.KeyTypes {
		leaf, err := leafOf(rec.Bundles[string(kt)])
		if err != nil {
			return false
		}
		bn := bundle.Name(c.Name, i, kt)
		for _, loaded := range srv {
			if s, ok := loaded[bn]; !ok || s.Cmp(leaf.SerialNumber) != 0 {
				return false
			}
		}
	}
	return true
}

// noteRecord fills in what the store holds and returns the stored serial.
func (d *Daemon) noteRecord(s *CertStatus, c configs.Certificate, rec *store.Record) (serial *big.Int) {
	s.Attempts, s.LastError, s.NextAttempt = rec.Attempts, rec.LastError, rec.NextAttempt
	s.Directory = rec.Directory
	if b, ok := rec.Bundles[string(c.KeyTypes[0])]; ok {
		if leaf, err := leafOf(b); err == nil {
			s.NotBefore, s.NotAfter, s.Serial = leaf.NotBefore, leaf.NotAfter, leaf.SerialNumber.Text(16)
			serial = leaf.SerialNumber
		}
	}
	if len(rec.Bundles) > 0 {
		s.NextRenewal, s.RenewalWhy = nextRenewal(rec)
	}
	return serial
}

func hexSerial(s *big.Int) string {
	if s == nil {
		return ""
	}
	return s.Text(16)
}

func (d *Daemon) setPush(cert, lb string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cs := d.status[cert]
	if cs == nil {
		return
	}
	if err != nil {
		if cs.pushErr == nil {
			// Made on the first error only: at 100,000 certificates an
			// empty map each is 30 MB.
			cs.pushErr = map[string]string{}
		}
		cs.pushErr[lb] = err.Error()
	} else {
		delete(cs.pushErr, lb)
	}
}

func (d *Daemon) forget(name string) {
	d.mu.Lock()
	_, had := d.status[name]
	delete(d.status, name)
	d.mu.Unlock()
	if had {
		d.opt.Metrics.Forget(name)
	}
}

// Status lists every desired certificate, sorted by name.
func (d *Daemon) Status() []CertStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]CertStatus, 0, len(d.status))
	for _, cs := range d.status {
		out = append(out, cs.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StatusOf is one certificate's status, as Status lists it; false when the
// domains in force have no such certificate or no pass has seen it yet.
func (d *Daemon) StatusOf(name string) (CertStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cs, ok := d.status[name]
	if !ok {
		return CertStatus{}, false
	}
	return cs.view(), true
}

// view is the status with a copy of its push errors, which later pushes
// change under d.mu. Call with d.mu held.
func (cs *certStatus) view() CertStatus {
	s := cs.CertStatus
	s.Loaded = make(map[string]string, len(cs.loaded))
	for _, e := range cs.loaded {
		s.Loaded[e.inst] = e.v
	}
	if len(cs.pushErr) > 0 {
		s.PushErrors = maps.Clone(cs.pushErr)
	}
	return s
}

// Health reports the HAProxy instances that did not answer at the last pass,
// by name, and when the last pass completed.
func (d *Daemon) Health() (down map[string]string, lastPass time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	down = map[string]string{}
	for n, st := range d.haproxies {
		if st.err != nil {
			down[n] = st.err.Error()
		}
	}
	return down, d.passOK
}
