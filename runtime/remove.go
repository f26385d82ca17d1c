package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

// Remove takes certificate name out of HAProxy (del ssl crt-list, then del
// ssl cert) and off disk. The crt-list line goes first, so that an HAProxy
// that restarts meanwhile, or cannot be reached now, does not load the
// certificate again; the PEM file goes last. Removing a certificate that is
// not there succeeds.
func (c *Client) Remove(ctx context.Context, name string) error {
	if err := c.remove(ctx, name); err != nil {
		return fmt.Errorf("remove %s from %s: %w", name, c.opts.Name, err)
	}
	return nil
}

func (c *Client) remove(ctx context.Context, name string) error {
	if err := c.checkOpts(name); err != nil {
		return err
	}
	path := c.Path(name)
	// The file first, and before waiting for the socket: an HAProxy that
	// is stopped or frozen loads this file when it starts, and must not
	// find the certificate there.
	if err := c.list.remove(path); err != nil {
		return err
	}
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.unload(ctx, path); err != nil {
		c.st.unsure(name)
		return err
	}
	c.st.removed(name, path)
	return atomicfile.Remove(path)
}

func (c *Client) unload(ctx context.Context, path string) error {
	if err := c.unlist(ctx, path); err != nil {
		return err
	}
	txn, stores, err := c.stores(ctx)
	if err != nil {
		return err
	}
	if txn == path {
		c.abort(ctx, path)
	}
	if slices.Contains(stores, path) {
		if _, err := c.run(ctx, "del ssl cert "+path, contains("Certificate '"+path+"' deleted!")); err != nil {
			return err
		}
	}
	return nil
}

// unlist deletes every in-memory crt-list entry for path, last line first,
// by line number, because HAProxy refuses an ambiguous delete.
func (c *Client) unlist(ctx context.Context, path string) error {
	lines, err := c.listed(ctx, path)
	if err != nil {
		return err
	}
	slices.Reverse(lines)
	list := c.opts.CrtList
	for _, n := range lines {
		cmd := fmt.Sprintf("del ssl crt-list %s %s:%d", list, path, n)
		if _, err := c.run(ctx, cmd, contains("Entry '"+path+"' deleted in crtlist '"+list+"'")); err != nil {
			return err
		}
	}
	return nil
}
