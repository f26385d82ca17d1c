package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// ErrNotIssued: the certificate is in the domains file but has no
// certificate yet, so there is nothing to revoke.
var ErrNotIssued = errors.New("no certificate has been issued for it yet")

// Revoke revokes every stored certificate (each key type) of name at the CA,
// with an RFC 5280 reason code, and then forces a renewal so that HAProxy
// soon serves a certificate that is not revoked. A name removed from the
// domains file whose state is still kept can be revoked too; it is not
// renewed.
func (d *Daemon) Revoke(ctx context.Context, name string, reason int) error {
	d.mu.Lock()
	wanted := d.wants(name)
	d.mu.Unlock()
	rec, err := d.opt.Store.Get(name)
	switch {
	case errors.Is(err, store.ErrNotFound) && !wanted:
		return ErrUnknownCertificate
	case errors.Is(err, store.ErrNotFound) || (err == nil && len(rec.Bundles) == 0):
		return ErrNotIssued
	case err != nil:
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	var errs []error
	revoked := 0
	for kt, b := range rec.Bundles {
		leaf, err := bundle.Leaf(b.PEM) // Get's record is full: its PEM is here
		if err != nil {
			errs = append(errs, fmt.Errorf("revoke %s (%s): %w", name, kt, err))
			continue
		}
		key, err := issuer.ParseKey(b.PEM) // the bundle is leaf, chain, key
		if err != nil {
			errs = append(errs, fmt.Errorf("revoke %s (%s): %w", name, kt, err))
			continue
		}
		if err := d.opt.Issuer.Revoke(ctx, leaf.Raw, key, reason); err != nil {
			if by := issuedBy(rec, kt); by != "" && by != d.opt.Directory && d.opt.Directory != "" {
				// Only the CA that issued a certificate can revoke it.
				err = fmt.Errorf("%w (it was issued by %s, and acme.directory now names %s)", err, by, d.opt.Directory)
			}
			errs = append(errs, fmt.Errorf("revoke %s (%s, serial %x): %w", name, kt, leaf.SerialNumber, err))
			continue
		}
		revoked++
		d.log.Warn("certificate revoked", "cert", name, "key_type", kt, "serial", leaf.SerialNumber.Text(16), "reason", reason)
	}
	if revoked > 0 && wanted {
		if err := d.Renew(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// issuedBy is the directory that issued rec's bundle of key type kt, "" when
// the record is older than hotcert's keeping it.
func issuedBy(rec *store.Record, kt string) string {
	if rec.MovedFrom != "" && slices.Contains(rec.Pending, kt) {
		return rec.MovedFrom
	}
	return rec.Directory
}
