package daemon

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

const (
	dirA = "https://a.test/dir"
	dirB = "https://b.test/dir"
)

// TestMoveToAnotherDirectory: a certificate issued by A is ordered again
// from B, every key type of it and without naming A's certificate as the
// one replaced; A's bundles stay served until B's replace them, and when
// the second half fails, only that half is ordered again.
func TestMoveToAnotherDirectory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dual := cert("shop", "shop.test")
		dual.KeyTypes = []configs.KeyType{"ecdsa-p256", "rsa2048"}
		rec, oldECDSA := validRecord(t, dual, time.Now())
		oldPEM, oldRSA := makeBundle(t, dual.Domains, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
		rec.Bundles["rsa2048"] = store.Bundle{KeyType: "rsa2048", PEM: oldPEM}
		rec.KeyTypes, rec.Directory, rec.Spec = []string{"ecdsa-p256", "rsa2048"}, dirA, specOf(dual)
		lb := newFakeHAProxy("lb1")
		lb.serving["shop"], lb.serving["shop.rsa2048"] = oldECDSA, oldRSA
		iss := &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour}
		iss.fail = func(n int) error {
			if n == 2 { // the first RSA order
				return errTransient
			}
			return nil
		}
		st := newFakeStore(rec)
		r := startRig(t, st, func(o *Options) { o.Issuer, o.Directory = iss, dirB }, lb)
		defer r.stop()
		r.d.SetDesired(desired(dual))
		settle()
		if got := st.get("shop"); got.Directory != dirB || len(got.Pending) != 1 || got.Pending[0] != "rsa2048" {
			t.Fatalf("after the RSA half failed: directory %q, pending %v", got.Directory, got.Pending)
		}
		if s := lb.served("shop"); s == nil || s.Cmp(oldECDSA) == 0 {
			t.Fatal("B's ECDSA certificate is not served")
		}
		if s := lb.served("shop.rsa2048"); s == nil || s.Cmp(oldRSA) != 0 {
			t.Fatalf("A's RSA certificate is no longer served (%v) while B's is not issued", s)
		}
		r.expectOrders(t, 2*time.Minute, 3, "ECDSA, RSA, and RSA again")
		for i, o := range r.iss.orders {
			if o.Replaces != nil {
				t.Fatalf("order %d names A's certificate as the one it replaces", i+1)
			}
		}
		if got := r.iss.orders[2].KeyType; got != "rsa2048" {
			t.Fatalf("the retry ordered %s", got)
		}
		got := st.get("shop")
		leaf, _ := leafOf(got.Bundles["rsa2048"])
		if got.Directory != dirB || len(got.Pending) != 0 || lb.served("shop.rsa2048").Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("after the move: directory %q, pending %v", got.Directory, got.Pending)
		}
		r.expectOrders(t, time.Hour, 3, "none once the move was done")
	})
}

// TestRecordWithoutDirectoryIsNotMoved: records written before hotcert kept
// the directory count as the current one's, so an upgrade orders nothing.
func TestRecordWithoutDirectoryIsNotMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cert("shop", "shop.test")
		rec, serial := validRecord(t, c, time.Now())
		lb := newFakeHAProxy("lb1")
		lb.serving["shop"] = serial
		r := startRig(t, newFakeStore(rec), func(o *Options) { o.Directory = dirB }, lb)
		defer r.stop()
		r.d.SetDesired(desired(c))
		r.expectOrders(t, time.Hour, 0, "none for a record of an older hotcert")
	})
}

// TestSelfCheckFailureRetriesSoon: a failed self-check is the local setup's
// fault, usually being fixed, so its backoff stops at 15 minutes.
func TestSelfCheckFailureRetriesSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local := &issuer.Error{Cert: "a", Domain: "a.test", Local: true,
			Err: errors.New("HAProxy at 127.0.0.1:80 answered 503 for a.test/.well-known/acme-challenge/x: the ACME route is missing")}
		var logged failedLines
		r := startRig(t, newFakeStore(), func(o *Options) {
			o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			o.Issuer = &fakeIssuer{tb: t, now: time.Now, lifetime: 90 * 24 * time.Hour,
				fail: func(n int) error {
					if n <= 8 {
						return local
					}
					return nil
				}}
		})
		defer r.stop()
		r.d.SetDesired(desired(cert("a", "a.test")))
		var waits []time.Duration
		for range 8 {
			settle()
			rec := r.st.get("a")
			waits = append(waits, rec.NextAttempt.Sub(rec.LastAttempt))
			if rec.Permanent || rec.LastError != local.Error() {
				t.Fatalf("record after a failed self-check: %+v", rec)
			}
			time.Sleep(time.Until(rec.NextAttempt) + time.Second)
		}
		settle()
		want := []time.Duration{1, 2, 4, 8, 15, 15, 15, 15}
		for i, w := range want {
			if waits[i] != w*time.Minute {
				t.Fatalf("waits %v, want %v minutes", waits, want)
			}
		}
		if rec := r.st.get("a"); len(rec.Bundles) != 1 {
			t.Fatalf("not issued once the route was fixed: %+v", rec)
		}
		// The short backoff must not make the log repeat itself.
		if n := logged.n.Load(); n != 1 {
			t.Fatalf("the same self-check failure logged %d times as an error", n)
		}
	})
}

// expectOrders lets the daemon run for d and checks how many orders it
// placed in all.
func (r *rig) expectOrders(t *testing.T, d time.Duration, want int, what string) {
	t.Helper()
	time.Sleep(d)
	settle()
	if n := r.iss.count(); n != want {
		t.Fatalf("%d orders, want %d: %s", n, want, what)
	}
}

// failedLines counts the log's "failed" errors; slog writes each line
// with one Write.
type failedLines struct{ n atomic.Int32 }

func (f *failedLines) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("level=ERROR msg=failed")) {
		f.n.Add(1)
	}
	return len(p), nil
}

// revokeRefuser refuses every revocation, as a CA does for another CA's
// certificate.
type revokeRefuser struct{ *fakeIssuer }

func (revokeRefuser) Revoke(context.Context, []byte, crypto.Signer, int) error {
	return errors.New("unauthorized: certificate not found")
}

// TestRevokeNamesTheIssuingDirectory: a certificate that another directory
// issued cannot be revoked at the new one, and the error says why.
func TestRevokeNamesTheIssuingDirectory(t *testing.T) {
	rec, _ := validRecord(t, cert("shop", "shop.example.com"), time.Now())
	rec.Directory = dirA
	d := New(Options{Issuer: revokeRefuser{&fakeIssuer{tb: t}}, Store: newFakeStore(rec), Directory: dirB})
	err := d.Revoke(context.Background(), "shop", 1)
	if want := "(it was issued by " + dirA + ", and acme.directory now names " + dirB + ")"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
