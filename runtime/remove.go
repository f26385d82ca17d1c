package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/hotcert/hotcert/atomicfile"
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
	if err := removeLine(c.opts.CrtList, path); err != nil {
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

// fileLocks serialise edits of one crt-list file, which several instances
// on a host may share.
var fileLocks sync.Map

func lockFile(path string) func() {
	m, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	m.(*sync.Mutex).Lock()
	return m.(*sync.Mutex).Unlock
}

// addLine appends "<path>" to the crt-list file unless a line for path is
// already there (with or without options), so a restart loads the certificate.
//
// The file must exist with at least one line: HAProxy refuses to start with
// an empty crt-list, and the first line is the default certificate, which
// HAProxy never lets go of. A certificate of hotcert's in that place could
// never be removed again, so a missing or empty list is refused.
func addLine(list, path string) error {
	defer lockFile(list)()
	if listHas(list, path) {
		return nil
	}
	readID, _ := idOf(list)
	data, mode, err := readList(list)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("crt-list %s: %w", list, ErrNoCrtList)
	}
	if !hasLine(data, path) {
		if !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		if err := atomicfile.Write(list, append(data, path+"\n"...), mode); err != nil {
			return err
		}
	}
	listConfirm(list, readID, path)
	return nil
}

func removeLine(list, path string) error {
	defer lockFile(list)()
	defer listForget(list)
	data, mode, err := readList(list)
	if err != nil {
		return err
	}
	all := lines(data)
	kept := slices.DeleteFunc(slices.Clone(all), func(l string) bool { return lineFor(l, path) })
	if len(kept) == len(all) {
		// Nothing to take out; a rewrite would turn a missing or empty
		// list into a lone newline, which HAProxy refuses to start with.
		return nil
	}
	return atomicfile.Write(list, []byte(strings.Join(kept, "\n")+"\n"), mode)
}

func readList(list string) ([]byte, os.FileMode, error) {
	data, err := os.ReadFile(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0o644, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("crt-list: %w", err)
	}
	st, err := os.Stat(list)
	if err != nil {
		return nil, 0, fmt.Errorf("crt-list: %w", err)
	}
	return data, st.Mode().Perm(), nil
}

func lines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// hasLine is lineFor over the whole file without splitting it: with
// 10,000 lines, splitting cost milliseconds on every renewal.
func hasLine(data []byte, path string) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(path))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		if (start == 0 || data[start-1] == '\n') && (end == len(data) || strings.IndexByte(" \t\n", data[end]) >= 0) {
			return true
		}
		i = end
	}
}

func lineFor(line, path string) bool {
	f := strings.Fields(line)
	return len(f) > 0 && f[0] == path
}
