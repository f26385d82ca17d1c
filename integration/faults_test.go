package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
)

// Bounds of the behaviour under lasting faults.
const (
	faultHold     = 25 * time.Second // long enough for one whole window
	faultWindow   = 20 * time.Second
	maxCPU        = 0.10 // of a core, over any window inside a fault
	maxLogRate    = 1.0  // lines a second at info level and above, over any window
	removalBound  = 15 * time.Second
	recoveryBound = 60 * time.Second
	addAfter      = time.Second     // into a fault, the edit that adds a certificate
	removeAfter   = 8 * time.Second // and the one that removes another
)

// fault is one kind of local fault that lasts.
type fault struct {
	name string
	// lb is the instance hotcert cannot push to during the fault; nil when
	// the fault is the CA's, and no certificate can be issued.
	lb *haproxy
	on func() (off func())
}

// caFault is a fault of the CA; it checks that hotcert asked the CA while
// it lasted, or the fault tested nothing.
func caFault(t *testing.T, name string, ca *caProxy, mode int32) fault {
	return fault{name: name, on: func() func() {
		failed := ca.failed.Load()
		back := ca.set(mode)
		return func() {
			back()
			if ca.failed.Load() == failed {
				t.Errorf("%s: hotcert never asked the CA during the fault, though a certificate was added", name)
			}
		}
	}}
}

// TestFaults runs the real binary against two real HAProxy and Pebble
// through a schedule of faults, each held for 25 s while the domains file
// gets a certificate added and another removed:
//
//   - lb2 stopped (killed, its socket gone), then started again;
//   - lb2 frozen with SIGSTOP: its sockets accept and never answer;
//   - another tool's certificate transaction held open on lb2;
//   - the CA answering 500 to every request;
//   - the CA closing every connection.
//
// Throughout, it checks the invariants of behaviour under faults:
//
//   - over any 20 s window inside a fault, hotcert uses under 10% of a core
//     and writes at most one log line a second (info level and above);
//   - a removed certificate's crt-list line leaves every instance's file,
//     answering or not, within 15 s;
//   - during a fault of lb2, lb1 serves the added certificate: the other
//     instance carries on;
//   - within 60 s of a fault's end, every instance serves every certificate
//     in the file, with the serial hotcert stored, and none removed;
//   - the CA sees no more orders than certificates ever added (nothing
//     interrupts an order here: hotcert is never killed, and the CA faults
//     start with no order in flight).
//
// The HAProxy faults hit lb2 because Pebble validates http-01 through lb1;
// a fault there fails validations, which the CA counts against the order.
//
//	go test -race -count=1 -run TestFaults ./integration/
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("holds five faults for 25 s each")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // orders in seconds, so that 60 s is enough to recover
	e := newEnv(t, envOptions{instances: 2})
	ca := startCAProxy(t, e)
	lb2 := e.lbs[1]
	faults := []fault{
		{"haproxy-stopped", lb2, func() func() { return stopHAProxy(lb2) }},
		{"haproxy-frozen", lb2, func() func() { return freezeHAProxy(lb2) }},
		{"foreign-transaction", lb2, func() func() { return holdForeignTxn(lb2) }},
		caFault(t, "ca-500", ca, caError),
		caFault(t, "ca-closes", ca, caDown),
	}
	r := &faultRun{t: t, e: e, want: []string{"keep"}}
	for _, f := range faults {
		r.want = append(r.want, "old-"+f.name)
	}
	r.added = len(r.want)
	e.writeDomains(domainsYAML(r.want, nil))
	e.start()
	eventually(t, 2*time.Minute, "every certificate served by both instances", r.converged)
	var results []string
	for _, f := range faults {
		results = append(results, r.run(f))
	}
	t.Logf("hotcert during each fault (average over %s; in brackets the worst %s window):\n"+
		"| fault | CPU, %% of a core | log lines/s (info and above) | log lines/s with debug |\n|---|---|---|---|\n%s",
		faultHold, faultWindow, strings.Join(results, "\n"))
	e.proc.stop(t)
}

// faultRun is the state the schedule carries from one fault to the next.
type faultRun struct {
	t       *testing.T
	e       *env
	want    []string // the certificates in the domains file
	removed []string
	added   int // certificates ever in the file: the most orders allowed
}

// run holds one fault with its edits, checks it, and returns its row of
// the results table.
func (r *faultRun) run(f fault) string {
	t, e := r.t, r.e
	m := startMeter(e)
	off := f.on()
	start := time.Now()
	added, removed := "new-"+f.name, "old-"+f.name
	var addedAt, removedAt, servedAt, goneAt time.Time
	for now := start; now.Sub(start) < faultHold; now = time.Now() {
		switch {
		case addedAt.IsZero() && now.Sub(start) >= addAfter:
			r.want = append(r.want, added)
			r.added++
			e.writeDomains(domainsYAML(r.want, nil))
			addedAt = now
		case removedAt.IsZero() && now.Sub(start) >= removeAfter:
			r.want = slices.DeleteFunc(r.want, func(n string) bool { return n == removed })
			r.removed = append(r.removed, removed)
			e.writeDomains(domainsYAML(r.want, nil))
			removedAt = now
		}
		if f.lb != nil && !addedAt.IsZero() && servedAt.IsZero() && r.servedExcept(added, f.lb) == nil {
			servedAt = now
		}
		if !removedAt.IsZero() && goneAt.IsZero() && r.unlisted(removed) == nil {
			goneAt = now
		}
		time.Sleep(100 * time.Millisecond)
	}
	samples := m.stop(t)
	off()
	ended := time.Now()
	row := r.judge(f.name, samples)
	if f.lb != nil && servedAt.IsZero() {
		t.Errorf("%s: the other instances did not serve %s, added %s into the fault, before it ended; %v\nlast log lines:\n%s",
			f.name, added, addAfter, r.servedExcept(added, f.lb), logTail(e.proc, 30))
	}
	if goneAt.IsZero() || goneAt.Sub(removedAt) > removalBound {
		t.Errorf("%s: %s's crt-list line not gone from every instance's file within %s of its removal: %v\nlast log lines:\n%s",
			f.name, removed, removalBound, r.unlisted(removed), logTail(e.proc, 30))
	}
	eventually(t, recoveryBound, f.name+" ended: every certificate served by every instance, none removed", r.converged)
	t.Logf("%s: recovered %s after its end; %d orders for %d certificates ever in the file",
		f.name, time.Since(ended).Round(100*time.Millisecond), e.ca.Orders(), r.added)
	return row
}

// judge checks the rates inside a fault and returns its results row.
func (r *faultRun) judge(name string, ss []sample) string {
	t := r.t
	avg, w := between(ss[0], ss[len(ss)-1]), worst(ss, faultWindow)
	if w.cpu >= maxCPU || w.loud > maxLogRate {
		t.Errorf("%s: over a %s window hotcert used %.1f%% of a core (limit %.0f%%) and wrote %.1f log lines/s (limit %.0f)\nlast log lines:\n%s",
			name, faultWindow, 100*w.cpu, 100*maxCPU, w.loud, maxLogRate, logTail(r.e.proc, 30))
	}
	for _, s := range ss {
		if s.orders > r.added {
			t.Errorf("%s: the CA saw %d orders, more than the %d certificates ever in the file", name, s.orders, r.added)
			break
		}
	}
	t.Logf("%s: CPU %.1f%% of a core (worst window %.1f%%), %.1f log lines/s (worst %.1f), %.0f/s with debug",
		name, 100*avg.cpu, 100*w.cpu, avg.loud, w.loud, avg.all)
	return fmt.Sprintf("| %s | %.1f (%.1f) | %.1f (%.1f) | %.0f (%.0f) |", name, 100*avg.cpu, 100*w.cpu, avg.loud, w.loud, avg.all, w.all)
}

// converged: every instance serves every certificate in the file with the
// serial of the bundle hotcert stored, which is also the one in its
// cert_dir (what a restart loads); and serves none that was removed.
func (r *faultRun) converged() error {
	for i, h := range r.e.lbs {
		for _, n := range r.want {
			if err := r.serves(i, n); err != nil {
				return err
			}
		}
		for _, n := range r.removed {
			if err := servesPlaceholder(h, n+".example.test"); err != nil {
				return fmt.Errorf("lb%d still serves a removed certificate: %w", i+1, err)
			}
		}
	}
	if n := r.e.ca.Orders(); n > r.added {
		r.t.Fatalf("the CA saw %d orders, more than the %d certificates ever in the file", n, r.added)
	}
	return r.unlisted(r.removed...)
}

// serves checks that instance i serves certificate name as stored.
func (r *faultRun) serves(i int, name string) error {
	stored, err := lab.LeafFile(filepath.Join(r.e.stateDir, "certs", name, "ecdsa-p256.pem"))
	if err != nil {
		return err
	}
	onDisk, err := lab.LeafFile(r.e.bundle(i, name))
	if err != nil {
		return fmt.Errorf("lb%d: %w", i+1, err)
	}
	got, err := r.e.lbs[i].Served(name+".example.test", nil)
	if err != nil {
		return fmt.Errorf("lb%d: %w", i+1, err)
	}
	if got.SerialNumber.Cmp(stored.SerialNumber) != 0 || onDisk.SerialNumber.Cmp(stored.SerialNumber) != 0 {
		return fmt.Errorf("lb%d serves %s with serial %x and has %x in its cert_dir; hotcert stored %x",
			i+1, name, got.SerialNumber, onDisk.SerialNumber, stored.SerialNumber)
	}
	return nil
}

// servedExcept checks that every instance but lb serves name as stored.
func (r *faultRun) servedExcept(name string, lb *haproxy) error {
	for i, h := range r.e.lbs {
		if h == lb {
			continue
		}
		if err := r.serves(i, name); err != nil {
			return err
		}
	}
	return nil
}

// unlisted checks that no instance's crt-list file names these certificates.
func (r *faultRun) unlisted(names ...string) error {
	for i, h := range r.e.lbs {
		list, err := os.ReadFile(h.CrtList)
		if err != nil {
			return err
		}
		for _, n := range names {
			if strings.Contains(string(list), r.e.bundle(i, n)) {
				return fmt.Errorf("lb%d's crt-list still names %s", i+1, n)
			}
		}
	}
	return nil
}
