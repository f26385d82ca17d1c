package daemon

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// TestDecide walks every branch of decide, in the order the checks run.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := cert("shop", "shop.example.test", "www.shop.example.test")
	base, serial := validRecord(t, c, now)
	// validRecord's leaf runs from now-1h to now+90d; renewal is when a third is left.
	renewAt := notAfter(t, base).Add(-(90*24*time.Hour + time.Hour) / 3)
	other := big.NewInt(7)

	with := func(edit func(r *store.Record)) *store.Record {
		r := base.Clone()
		edit(r)
		return r
	}
	serving := served{"lb1": {"shop": serial}}
	cases := []struct {
		name   string
		c      configs.Certificate
		rec    *store.Record
		srv    served
		dir    string // the directory orders go to
		now    time.Time
		action action
		reason string // a part of the reason
		wake   time.Time
	}{
		{name: "new", c: c, rec: nil, srv: serving, now: now, action: actIssue, reason: "new certificate"},
		{name: "refused", c: c, now: now, srv: serving, action: actNone, reason: "refused by the CA", wake: now.Add(12 * time.Hour),
			rec: with(func(r *store.Record) {
				r.Attempts, r.Permanent, r.Spec, r.NextAttempt = 1, true, specOf(c), now.Add(12*time.Hour)
			})},
		{name: "refused, tried again after the long wait", c: c, now: now, srv: serving, action: actNone, wake: earliest(renewAt, base.ARICheckAt),
			rec: with(func(r *store.Record) {
				r.Attempts, r.Permanent, r.Spec, r.NextAttempt = 1, true, specOf(c), now.Add(-time.Second)
			})},
		{name: "refused, but an HAProxy lacks the issued bundle", c: c, now: now, srv: served{"lb1": {"shop": serial}, "lb2": {}},
			action: actPush, reason: "lb2 does not serve", wake: now.Add(12 * time.Hour),
			rec: with(func(r *store.Record) {
				r.Attempts, r.Permanent, r.Spec, r.NextAttempt = 1, true, specOf(c), now.Add(12*time.Hour)
			})},
		{name: "backing off, but an HAProxy lacks the issued bundle", c: c, now: now, srv: served{"lb1": {}},
			action: actPush, reason: "lb1 does not serve", wake: now.Add(time.Minute),
			rec: with(func(r *store.Record) { r.Attempts, r.Spec, r.NextAttempt = 1, specOf(c), now.Add(time.Minute) })},
		{name: "backing off", c: c, now: now, srv: serving, action: actNone, reason: "backing off", wake: now.Add(time.Minute),
			rec: with(func(r *store.Record) { r.Attempts, r.Spec, r.NextAttempt = 1, specOf(c), now.Add(time.Minute) })},
		{name: "backoff over", c: c, now: now, srv: serving, action: actNone, wake: earliest(renewAt, base.ARICheckAt),
			rec: with(func(r *store.Record) { r.Attempts, r.Spec, r.NextAttempt = 1, specOf(c), now.Add(-time.Second) })},
		{name: "an edit escapes a refusal", c: cert("shop", "shop.example.test"), now: now, srv: serving, action: actIssue, reason: "names changed",
			rec: with(func(r *store.Record) { r.Attempts, r.Permanent, r.Spec = 1, true, specOf(c) })},
		{name: "names changed", c: cert("shop", "shop.example.test", "new.example.test"), rec: base, srv: serving, now: now,
			action: actIssue, reason: "names changed"},
		{name: "never issued, backoff over: not a change of names", c: c, srv: serving, now: now,
			action: actIssue, reason: "new certificate, attempt 3 after a failure",
			rec: &store.Record{Name: "shop", Attempts: 2, Spec: specOf(c), NextAttempt: now.Add(-time.Second), Bundles: map[string]store.Bundle{}}},
		{name: "never issued, then edited", c: cert("shop", "shop.example.test"), srv: serving, now: now, action: actIssue, reason: "new certificate",
			rec: &store.Record{Name: "shop", Attempts: 2, Spec: specOf(c), NextAttempt: now.Add(time.Hour), Bundles: map[string]store.Bundle{}}},
		{name: "issued by another directory", c: c, srv: serving, dir: "https://b.test/dir", now: now, action: actRenew,
			reason: "issued by https://a.test/dir, now https://b.test/dir",
			rec:    with(func(r *store.Record) { r.Directory = "https://a.test/dir" })},
		{name: "written before directories were kept", c: c, rec: base, srv: serving, dir: "https://b.test/dir", now: now,
			action: actNone, wake: base.ARICheckAt},
		{name: "a move that failed half-way goes on after its backoff", srv: serving, dir: "https://b.test/dir", now: now,
			c: configs.Certificate{Name: "shop", Domains: c.Domains, KeyTypes: []configs.KeyType{"ecdsa-p256"}}, action: actRenew,
			reason: "the last order has still to issue ecdsa-p256",
			rec: with(func(r *store.Record) {
				r.Directory, r.Pending, r.Attempts, r.Spec = "https://b.test/dir", []string{"ecdsa-p256"}, 1, specOf(c)
				r.NextAttempt = now.Add(-time.Second)
			})},
		{name: "key type added", c: configs.Certificate{Name: "shop", Domains: c.Domains, KeyTypes: []configs.KeyType{"ecdsa-p256", "rsa2048"}},
			rec: base, srv: serving, now: now, action: actIssue, reason: "no bundle for key type rsa2048"},
		{name: "renewal due", c: c, rec: base, srv: serving, now: renewAt, action: actRenew, reason: "a third of the lifetime left"},
		{name: "renewal due in the ARI window", c: c, srv: serving, now: now.Add(24 * time.Hour), action: actRenew, reason: "ARI",
			rec: with(func(r *store.Record) {
				r.ARIStart, r.ARIEnd, r.ARICheckAt = now, now.Add(48*time.Hour), now.Add(48*time.Hour)
			})},
		{name: "unreadable bundle", c: c, srv: serving, now: now, action: actRenew, reason: "unreadable",
			rec: with(func(r *store.Record) {
				r.Bundles["ecdsa-p256"] = store.Bundle{KeyType: "ecdsa-p256", PEM: []byte("junk")}
			})},
		{name: "renewal information due", c: c, srv: serving, now: now, action: actRefresh, wake: renewAt,
			rec: with(func(r *store.Record) { r.ARICheckAt = time.Time{} })},
		{name: "not loaded", c: c, rec: base, srv: served{"lb1": {}}, now: now, action: actPush, reason: "lb1 does not serve the stored shop", wake: renewAt},
		{name: "old serial loaded", c: c, rec: base, srv: served{"lb1": {"shop": serial}, "lb2": {"shop": other}}, now: now,
			action: actPush, reason: "lb2 does not serve", wake: renewAt},
		{name: "dropped key type still loaded", c: c, rec: base, srv: served{"lb1": {"shop": serial, "shop.rsa2048": other}}, now: now,
			action: actPush, reason: "lb1 still serves shop.rsa2048", wake: renewAt},
		{name: "another certificate's store is not stale", c: c, rec: base, srv: served{"lb1": {"shop": serial, "shop.example": other}}, now: now,
			action: actNone, wake: earliest(renewAt, base.ARICheckAt)},
		{name: "instance down is not a push", c: c, rec: base, srv: served{"lb1": {"shop": serial}, "lb2": nil}, now: now,
			action: actNone, wake: earliest(renewAt, base.ARICheckAt)},
		{name: "all served", c: c, rec: base, srv: serving, now: now, action: actNone, wake: base.ARICheckAt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.c, tc.rec, tc.srv, tc.dir, tc.now)
			if got.Action != tc.action {
				t.Fatalf("action = %v (%q), want %v", got.Action, got.Reason, tc.action)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("reason = %q, want it to contain %q", got.Reason, tc.reason)
			}
			if !tc.wake.IsZero() && !got.Wake.Equal(tc.wake) {
				t.Fatalf("wake = %v, want %v", got.Wake, tc.wake)
			}
		})
	}
}

// TestDecideIsStable: the same inputs give the same decision, so a pass
// repeated without a change queues nothing new.
func TestDecideIsStable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := cert("shop", "shop.example.test")
	rec, serial := validRecord(t, c, now)
	srv := served{"lb1": {"shop": serial}}
	first := decide(c, rec, srv, "", now)
	for range 3 {
		if again := decide(c, rec.Clone(), srv, "", now); again != first {
			t.Fatalf("decision changed: %+v then %+v", first, again)
		}
	}
}

func TestStoreNamesKeepTheFirstKeyTypeUnsuffixed(t *testing.T) {
	c := configs.Certificate{Name: "shop", KeyTypes: []configs.KeyType{"ecdsa-p256", "rsa2048"}}
	got := bundleNames(c)
	if got["ecdsa-p256"] != "shop" || got["rsa2048"] != "shop.rsa2048" || len(got) != 2 {
		t.Fatalf("bundleNames = %v", got)
	}
}

// TestMemoParsesEachLeafOnce: records come out of the memo with what
// decisions need of their leaves, so a pass never parses x509; the memo
// holds no PEM, which Get reads from the store.
func TestMemoParsesEachLeafOnce(t *testing.T) {
	c := cert("a", "a.test")
	rec, serial := validRecord(t, c, time.Now())
	m := newMemo(newFakeStore(rec))
	recs, err := m.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	leaf := recs["a"].Bundles["ecdsa-p256"].Leaf
	if leaf == nil || leaf.SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("loaded leaf = %v, want serial %v", leaf, serial)
	}
	put, _ := validRecord(t, c, time.Now())
	if err := m.Put(put); err != nil {
		t.Fatal(err)
	}
	held, err := m.some([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	got := held["a"].Bundles["ecdsa-p256"]
	if got.Leaf == nil {
		t.Fatal("a stored record's leaf is not parsed")
	}
	if got.PEM != nil {
		t.Fatal("the memo keeps a bundle's PEM")
	}
	if full, err := m.Get("a"); err != nil || !bytes.Equal(full.Bundles["ecdsa-p256"].PEM, put.Bundles["ecdsa-p256"].PEM) {
		t.Fatalf("Get = %v, %v; want the stored PEM", full, err)
	}
	if _, err := leafOf(store.Bundle{PEM: []byte("junk")}); err == nil {
		t.Fatal("junk parsed")
	}
}

func notAfter(t *testing.T, r *store.Record) time.Time {
	t.Helper()
	leaf, err := bundle.Leaf(r.Bundles["ecdsa-p256"].PEM)
	if err != nil {
		t.Fatal(err)
	}
	return leaf.NotAfter
}

// TestStatusFollowsEachPass: a kept status is rebuilt as soon as what
// HAProxy serves or what the store holds changes.
func TestStatusFollowsEachPass(t *testing.T) {
	now := time.Now()
	c := cert("a", "a.test")
	rec, serial := validRecord(t, c, now)
	lb := newFakeHAProxy("lb1")
	lb.serving["a"] = serial
	st := newFakeStore(rec)
	d := New(Options{Issuer: &fakeIssuer{tb: t, now: time.Now}, Store: st, HAProxies: []HAProxy{lb}})
	d.SetDesired(desired(c))
	ctx := t.Context()
	loaded := func() string { return d.Status()[0].Loaded["lb1"] }

	d.pass(ctx)
	if got := loaded(); got != serial.Text(16) || d.Status()[0].State != "ok" {
		t.Fatalf("status = %+v, want serial %x loaded and ok", d.Status()[0], serial)
	}
	lb.serving["a"] = big.NewInt(99)
	d.pass(ctx)
	if got := loaded(); got != "63" || d.Status()[0].State != "push" {
		t.Fatalf("after HAProxy changed: loaded %q, state %q; want 63 and push", got, d.Status()[0].State)
	}
	next, newSerial := validRecord(t, c, now)
	next.LastError = "something"
	if err := d.opt.Store.Put(next); err != nil {
		t.Fatal(err)
	}
	d.pass(ctx)
	if s := d.Status()[0]; s.Serial != newSerial.Text(16) || s.LastError != "something" {
		t.Fatalf("after the store changed: serial %s, last error %q", s.Serial, s.LastError)
	}
}

// Pointing a failed certificate at another DNS provider is an edit, tried
// at once; a certificate without dns_provider keeps the spec it always had.
func TestSpecOfNamesTheDNSProvider(t *testing.T) {
	c := configs.Certificate{Name: "shop", Domains: []string{"shop.example.test"}, KeyTypes: []configs.KeyType{"ecdsa-p256"}}
	if got := specOf(c); got != "shop.example.test|ecdsa-p256|" {
		t.Fatalf("spec without dns_provider = %q", got)
	}
	a, b := c, c
	a.DNSProvider, b.DNSProvider = "scripted", "cloud"
	if specOf(a) == specOf(b) || specOf(a) == specOf(c) {
		t.Fatalf("specs %q, %q and %q must differ", specOf(a), specOf(b), specOf(c))
	}
}
