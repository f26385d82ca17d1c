package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
)

// errLocked stands for a refusal of the whole instance (another writer's
// transaction, a socket that does not answer): runtime's instance-wide
// errors have the same method.
type instanceErr struct{ msg string }

func (e *instanceErr) Error() string      { return e.msg }
func (e *instanceErr) InstanceWide() bool { return true }

var (
	errLocked = &instanceErr{"certificate operations are locked by another writer"}
	errDown   = &instanceErr{"connect: connection refused"}
)

// spinGuard is how many calls a faulty fake answers at once. Beyond it
// every call waits for its context, so that a daemon that spins (which
// today's code did) still lets the synctest bubble advance its clock, and
// the test fails on the count instead of hanging.
const spinGuard = 2000

// faultyHAProxy is a fakeHAProxy whose socket can refuse pushes, fail
// entirely, and whose crt-list file (lines) is kept apart from what it
// serves, as runtime.Client does: Remove edits the file before it talks to
// HAProxy.
type faultyHAProxy struct {
	*fakeHAProxy
	fmu     sync.Mutex
	pushErr error // every push fails with it
	loadErr error // every call fails with it (HAProxy stopped)
	lines   map[string]bool
	calls   int
}

func newFaultyHAProxy(name string) *faultyHAProxy {
	return &faultyHAProxy{fakeHAProxy: newFakeHAProxy(name), lines: map[string]bool{}}
}

func (l *faultyHAProxy) set(pushErr, loadErr error) {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	l.pushErr, l.loadErr = pushErr, loadErr
}

func (l *faultyHAProxy) call(ctx context.Context, errs ...error) error {
	l.fmu.Lock()
	l.calls++
	n := l.calls
	l.fmu.Unlock()
	if err := errors.Join(errs...); err != nil && n > spinGuard {
		<-ctx.Done()
	}
	return errors.Join(errs...)
}

func (l *faultyHAProxy) state() (pushErr, loadErr error) {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.pushErr, l.loadErr
}

func (l *faultyHAProxy) callCount() int {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.calls
}

func (l *faultyHAProxy) listed(name string) bool {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.lines[name]
}

func (l *faultyHAProxy) Push(ctx context.Context, name string, bundle []byte) error {
	pushErr, loadErr := l.state()
	if err := l.call(ctx, pushErr, loadErr); err != nil {
		return err
	}
	l.fmu.Lock()
	l.lines[name] = true
	l.fmu.Unlock()
	return l.fakeHAProxy.Push(ctx, name, bundle)
}

func (l *faultyHAProxy) Remove(ctx context.Context, name string) error {
	l.fmu.Lock()
	delete(l.lines, name)
	l.fmu.Unlock()
	_, loadErr := l.state()
	if err := l.call(ctx, loadErr); err != nil {
		return err
	}
	return l.fakeHAProxy.Remove(ctx, name)
}

func (l *faultyHAProxy) Loaded(ctx context.Context) (map[string]*big.Int, error) {
	_, loadErr := l.state()
	if err := l.call(ctx, loadErr); err != nil {
		return nil, err
	}
	return l.fakeHAProxy.Loaded(ctx)
}

// LoadedOf fails as Loaded does: the embedded fake's would not.
func (l *faultyHAProxy) LoadedOf(ctx context.Context, names []string) (map[string]*big.Int, error) {
	return pickLoaded(ctx, l.Loaded, names)
}

// TestRefusedPushBacksOff (defect 1): a push that HAProxy keeps refusing is
// retried with a growing backoff, not at once; the other instance gets the
// certificate, and the refusing one gets it soon after the fault ends.
func TestRefusedPushBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		good, locked := newFaultyHAProxy("lb1"), newFaultyHAProxy("lb2")
		locked.set(errLocked, nil)
		r := startRigWith(t, newFakeStore(), nil, good, locked)
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		if good.served("a") == nil {
			t.Fatal("the instance that answers does not serve the certificate")
		}
		time.Sleep(time.Hour)
		settle()
		// A probe every 30 s at most costs a few calls (show info, show
		// ssl cert, one push): a few hundred an hour. Spinning makes
		// thousands in a second.
		if n := locked.callCount(); n > 600 {
			t.Fatalf("%d calls to the refusing HAProxy in an hour", n)
		}
		locked.set(nil, nil)
		time.Sleep(time.Minute)
		settle()
		if locked.served("a") == nil {
			t.Fatal("the refusing HAProxy did not get the certificate within a minute of the fault ending")
		}
		if r.iss.count() != 1 {
			t.Fatalf("a local fault caused %d orders", r.iss.count())
		}
	})
}

// TestRemovalWhileHAProxyDown (defects 1 and 2): removing a certificate
// while one HAProxy is stopped takes its crt-list line out of that
// instance's file at once, does not spin, and completes once it answers.
func TestRemovalWhileHAProxyDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := cert("a", "a.test"), cert("b", "b.test")
		ra, sa := validRecord(t, a, time.Now())
		rb, sb := validRecord(t, b, time.Now())
		up, down := newFaultyHAProxy("lb1"), newFaultyHAProxy("lb2")
		for _, l := range []*faultyHAProxy{up, down} {
			l.serving = map[string]*bigInt{"a": sa, "b": sb}
			l.lines = map[string]bool{"a": true, "b": true}
		}
		down.set(nil, errDown)
		r := startRigWith(t, newFakeStore(ra, rb), nil, up, down)
		defer r.stop()
		r.d.SetDesired(desired(a))
		settle()
		if up.served("b") != nil || up.listed("b") {
			t.Fatal("the instance that answers still has b")
		}
		if down.listed("b") {
			t.Fatal("b's crt-list line is still in the stopped instance's file: it would serve b again when it starts")
		}
		time.Sleep(time.Hour)
		settle()
		if n := down.callCount(); n > 600 {
			t.Fatalf("%d calls to the stopped HAProxy in an hour", n)
		}
		// Frozen, not restarted: it still holds b in memory when it answers.
		down.set(nil, nil)
		time.Sleep(time.Minute)
		settle()
		if down.served("b") != nil {
			t.Fatal("b still served by the instance after it answered again")
		}
		if rec := r.st.get("b"); rec.RemovedAt.IsZero() {
			t.Fatal("b never marked removed")
		}
		if down.served("a") == nil {
			t.Fatal("a lost")
		}
	})
}

// TestForcedRenewalSurvivesAFailure (defect 3): an operator's renewal is
// kept until it succeeds, through a failed order and a restart.
func TestForcedRenewalSurvivesAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := cert("a", "a.test")
		ra, _ := validRecord(t, a, time.Now())
		st := newFakeStore(ra)
		r := startRig(t, st, func(o *Options) {
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour,
				fail: func(n int) error {
					if n == 1 {
						return errTransient
					}
					return nil
				}}
		})
		r.d.SetDesired(desired(a))
		settle()
		if err := r.d.Renew("a"); err != nil {
			t.Fatal(err)
		}
		settle()
		if n := r.iss.count(); n != 1 {
			t.Fatalf("orders after renew = %d, want 1", n)
		}
		r.stop()
		// A restart during the backoff must not forget the request.
		r = startRig(t, st, nil)
		defer r.stop()
		r.d.SetDesired(desired(a))
		time.Sleep(2 * time.Minute)
		settle()
		if n := r.iss.count(); n != 1 {
			t.Fatalf("the forced renewal was forgotten after a failure and a restart: %d orders", n)
		}
		if rec := st.get("a"); rec.Attempts != 0 || rec.LastError != "" {
			t.Fatalf("record after the forced renewal: %+v", rec)
		}
		time.Sleep(time.Hour)
		settle()
		if n := r.iss.count(); n != 1 {
			t.Fatalf("renewed again after the forced renewal succeeded: %d orders", n)
		}
	})
}

// TestForcedRenewalSurvivesARestartBeforeItRan (defect 3): a revocation's
// replacement is not lost when hotcert stops while its order runs.
func TestForcedRenewalSurvivesARestartBeforeItRan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := cert("a", "a.test")
		ra, old := validRecord(t, a, time.Now())
		st := newFakeStore(ra)
		gate := make(chan struct{})
		r := startRig(t, st, func(o *Options) {
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour, gate: gate}
		})
		r.d.SetDesired(desired(a))
		settle()
		if err := r.d.Revoke(context.Background(), "a", 1); err != nil {
			t.Fatal(err)
		}
		settle()
		r.stop() // the order is abandoned
		lb := newFakeHAProxy("lb1")
		r = startRig(t, st, nil, lb)
		defer r.stop()
		r.d.SetDesired(desired(a))
		time.Sleep(time.Minute)
		settle()
		if n := r.iss.count(); n != 1 {
			t.Fatalf("after a restart the revoked certificate was not replaced: %d orders", n)
		}
		if s := lb.served("a"); s == nil || s.Cmp(old) == 0 {
			t.Fatalf("HAProxy serves %v, the revoked serial was %v", s, old)
		}
	})
}

// TestDualCertificateKeepsTheHalfThatWasIssued (defect 5): when the second
// key type fails, the first one's bundle is kept and served, and retries
// order only the missing key type.
func TestDualCertificateKeepsTheHalfThatWasIssued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dual := cert("shop", "shop.test")
		dual.KeyTypes = []configs.KeyType{"ecdsa-p256", "rsa2048"}
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
		iss.fail = func(n int) error {
			iss.mu.Lock()
			kt := iss.orders[n-1].KeyType
			iss.mu.Unlock()
			if kt == "rsa2048" && n < 6 {
				return errTransient
			}
			return nil
		}
		st := newFakeStore()
		lb := newFakeHAProxy("lb1")
		r := startRig(t, st, func(o *Options) { o.Issuer = iss }, lb)
		defer r.stop()
		r.d.SetDesired(desired(dual))
		settle()
		if lb.served("shop") == nil {
			t.Fatal("the issued ECDSA half is not served while the RSA half backs off")
		}
		time.Sleep(4 * time.Hour)
		settle()
		ecdsa := 0
		for _, o := range iss.orders {
			if o.KeyType == "ecdsa-p256" {
				ecdsa++
			}
		}
		if ecdsa != 1 {
			t.Fatalf("the ECDSA half was ordered %d times while the RSA half failed", ecdsa)
		}
		if lb.served("shop.rsa2048") == nil {
			t.Fatalf("the RSA half never got served: %d orders", len(iss.orders))
		}
	})
}

// TestPassStateIsPruned (defect 9): the per-certificate maps of the loop
// do not keep certificates that left the domains file.
func TestPassStateIsPruned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		r := startRig(t, st, func(o *Options) { o.Retain = time.Hour })
		defer r.stop()
		var many []configs.Certificate
		for i := range 50 {
			many = append(many, cert(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d.test", i)))
		}
		r.d.SetDesired(desired(many...))
		settle()
		for _, c := range many {
			_ = r.d.Renew(c.Name)
		}
		_ = r.d.RefreshAll()
		r.d.SetDesired(desired(many[0]))
		time.Sleep(2 * time.Hour)
		settle()
		r.d.mu.Lock()
		defer r.d.mu.Unlock()
		if n := len(r.d.finished) + len(r.d.ariDue) + len(r.d.status); n > 3 {
			t.Fatalf("the loop still keeps %d entries for 1 certificate (finished %d, ari %d, status %d)",
				n, len(r.d.finished), len(r.d.ariDue), len(r.d.status))
		}
	})
}

// startRigWith is startRig with HAProxy fakes of any kind.
func startRigWith(t *testing.T, st *fakeStore, edit func(*Options), lbs ...HAProxy) *rig {
	t.Helper()
	return startRig(t, st, func(o *Options) {
		o.HAProxies = lbs
		if edit != nil {
			edit(o)
		}
	})
}

// TestRenewalNamesWhatItReplaces (defect 10): a renewal's order carries the
// certificate it replaces, and a first issuance carries none.
func TestRenewalNamesWhatItReplaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeStore(), func(o *Options) {
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 6 * 24 * time.Hour}
		})
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		settle()
		first, _ := bundle.Leaf(r.st.get("a").Bundles["ecdsa-p256"].PEM)
		time.Sleep(3*24*time.Hour + time.Minute)
		settle()
		if n := r.iss.count(); n != 2 {
			t.Fatalf("orders = %d, want an issuance and a renewal", n)
		}
		if rp := r.iss.orders[0].Replaces; rp != nil {
			t.Fatalf("the first issuance replaces serial %v", rp.SerialNumber)
		}
		if rp := r.iss.orders[1].Replaces; rp == nil || rp.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Fatalf("the renewal replaces %v, want serial %v", rp, first.SerialNumber)
		}
	})
}

// TestCertificatesFollowTheCABack: orders that failed because the CA was
// down wait on a backoff that reaches an hour in a long outage; once the
// CA's directory answers again, they are ordered within a minute, not when
// their backoff ends, and the outage itself costs no order attempts beyond
// the backoff's.
func TestCertificatesFollowTheCABack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &issuer.Error{Problem: "urn:ietf:params:acme:error:serverInternal", Unavailable: true, Err: errors.New("503")}
		var mu sync.Mutex
		caDown := true
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour, pingErr: down}
		iss.fail = func(int) error {
			mu.Lock()
			defer mu.Unlock()
			if caDown {
				return down
			}
			return nil
		}
		st := newFakeStore()
		lb := newFakeHAProxy("lb1")
		r := startRig(t, st, func(o *Options) { o.Issuer = iss }, lb)
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test"), cert("b", "b.test")))
		time.Sleep(3 * time.Hour)
		settle()
		if n := r.iss.count(); n > 2*12 {
			t.Fatalf("%d order attempts in a 3-hour CA outage", n)
		}
		if rec := st.get("a"); !rec.CAUnavailable || time.Until(rec.NextAttempt) < 10*time.Minute {
			t.Fatalf("after 3 hours the record is %+v; want a long backoff, marked as the CA's", rec)
		}
		mu.Lock()
		caDown = false
		mu.Unlock()
		iss.mu.Lock()
		iss.pingErr = nil
		iss.mu.Unlock()
		time.Sleep(time.Minute)
		settle()
		if lb.served("a") == nil || lb.served("b") == nil {
			t.Fatalf("a minute after the CA came back, its certificates are not served (pings %d, orders %d, a: %+v)", iss.pings, iss.count(), st.get("a"))
		}
		if pings := iss.pings; pings > 3*60*4 { // one GET every 15 to 30 s
			t.Fatalf("%d pings in 3 hours", pings)
		}
	})
}
