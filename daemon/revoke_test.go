package daemon

import (
	"context"
	"crypto"
	"sync"
	"testing"
	"time"
)

// keyRecordingIssuer keeps the certificate key each revocation was given.
type keyRecordingIssuer struct {
	*fakeIssuer
	mu   sync.Mutex
	keys []crypto.Signer
}

func (r *keyRecordingIssuer) Revoke(_ context.Context, _ []byte, key crypto.Signer, _ int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return nil
}

// TestRevokePassesTheStoredKey: a keyCompromise revocation must be signed with the
// certificate's own key, so the issuer gets the key held in the stored bundle.
func TestRevokePassesTheStoredKey(t *testing.T) {
	rec, _ := validRecord(t, cert("shop", "shop.example.com"), time.Now())
	iss := &keyRecordingIssuer{fakeIssuer: &fakeIssuer{tb: t}}
	d := New(Options{Issuer: iss, Store: newFakeStore(rec)})
	if err := d.Revoke(context.Background(), "shop", 1); err != nil {
		t.Fatal(err)
	}
	if len(iss.keys) != 1 || iss.keys[0] == nil || !testKey.PublicKey.Equal(iss.keys[0].Public()) {
		t.Fatalf("revocation got keys %v, want the bundle's key", iss.keys)
	}
}
