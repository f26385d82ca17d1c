package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/hotcert/hotcert/issuer"
)

// ariIssuer answers renewal information from a script.
type ariIssuer struct {
	fakeIssuer
	win   *issuer.Window
	retry time.Duration
	err   error
}

func (a *ariIssuer) RenewalInfo(context.Context, *x509.Certificate) (*issuer.Window, time.Duration, error) {
	return a.win, a.retry, a.err
}

func TestRefreshStoresTheWindowAndKeepsItOnAnError(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := cert("shop", "shop.example.test")
	rec, _ := validRecord(t, c, now)
	st := newFakeStore(rec)
	win := &issuer.Window{Start: now.Add(10 * 24 * time.Hour), End: now.Add(11 * 24 * time.Hour)}
	ari := &ariIssuer{win: win, retry: 6 * time.Hour}
	d := New(Options{Issuer: ari, Store: st, Now: func() time.Time { return now }})

	if err := d.refresh(context.Background(), c, d.opt.Store.Put); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Get("shop")
	if !got.ARIStart.Equal(win.Start) || !got.ARIEnd.Equal(win.End) || !got.ARICheckAt.Equal(now.Add(6*time.Hour)) {
		t.Fatalf("after a good answer: window %v..%v, next check %v", got.ARIStart, got.ARIEnd, got.ARICheckAt)
	}

	ari.win, ari.retry, ari.err = nil, 0, errors.New("connection reset")
	if err := d.refresh(context.Background(), c, d.opt.Store.Put); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Get("shop")
	if !got.ARIStart.Equal(win.Start) {
		t.Fatalf("a failed question lost the window: %v", got.ARIStart)
	}
	if !got.ARICheckAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after an error the next check is %v, want in an hour", got.ARICheckAt)
	}

	ari.err = issuer.ErrNoARI
	if err := d.refresh(context.Background(), c, d.opt.Store.Put); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Get("shop")
	if !got.ARIStart.IsZero() || !got.ARICheckAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("a CA without ARI: window %v, next check %v; want none, tomorrow", got.ARIStart, got.ARICheckAt)
	}
}
