package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

// unload takes path out of HAProxy's memory in two round trips whatever
// the number of certificates: the crt-list entry, then any transaction of
// ours on it and the store.
func (c *Client) unload(ctx context.Context, path string) error {
	if err := c.unlist(ctx, path); err != nil {
		return err
	}
	cmd := "abort ssl cert " + path + ";del ssl cert " + path
	rs, err := c.runAll(ctx, cmd)
	if err != nil {
		return err
	}
	if len(rs) != 2 {
		return unexpected(cmd, fmt.Sprint(rs))
	}
	// The abort answers whatever is open: nothing, ours (aborted), or
	// someone else's, which is not ours to touch and does not stop the delete.
	if a := rs[0].text; !strings.Contains(a, "No ongoing transaction") && !strings.Contains(a, "Transaction aborted") &&
		!strings.HasPrefix(a, "The ongoing transaction is about '") {
		return unexpected("abort ssl cert "+path, a)
	}
	if d := rs[1]; !d.failed && strings.Contains(d.text, "Certificate '"+path+"' deleted!") ||
		d.failed && strings.Contains(d.text, "'"+path+"' doesn't exist") {
		return nil
	}
	return unexpected("del ssl cert "+path, rs[1].text)
}

// unlist deletes the in-memory crt-list entry for path with one command.
// Only when there are several (someone added one by hand) does it read the
// whole list for their line numbers, because HAProxy refuses an ambiguous
// delete.
func (c *Client) unlist(ctx context.Context, path string) error {
	list := c.opts.CrtList
	deleted := "Entry '" + path + "' deleted in crtlist '" + list + "'"
	text, err := c.run(ctx, "del ssl crt-list "+list+" "+path, func(t string, failed bool) bool {
		return !failed && strings.Contains(t, deleted) || failed && strings.HasPrefix(t, "Can't delete the entry: ")
	})
	why := strings.TrimPrefix(text, "Can't delete the entry: ")
	switch {
	case err != nil || strings.Contains(text, deleted):
		return err
	case strings.HasPrefix(why, "crt-list '"):
		return fmt.Errorf("crt-list %s (it must be named exactly as on the bind line): %w", list, ErrNotLoaded)
	case strings.Contains(why, "in several entries"):
		return c.unlistEach(ctx, path)
	case strings.HasPrefix(why, "certificate '"+path+"' ") &&
		(strings.HasSuffix(why, "does not exist!") || strings.HasSuffix(why, "is empty!") || strings.Contains(why, "can't be found in crt-list")):
		return nil // no store, or one no crt-list entry can use
	}
	return unexpected("del ssl crt-list "+list+" "+path, text)
}

// unlistEach deletes every in-memory crt-list entry for path, last line
// first, by line number.
func (c *Client) unlistEach(ctx context.Context, path string) error {
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
