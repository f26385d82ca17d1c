package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

// severityPrefix is what client-native puts before every command; it counts
// toward HAProxy's buffer.
const severityPrefix = "set severity-output number;"

// sizeMargin keeps pushes well below tune.bufsize: on 2.6.12, commands a few
// bytes over the limit were not only dropped, some hung the connection and
// one made HAProxy abort ("bogus APPCTX ... spinning").
const sizeMargin = 256

// errNoStore is a set ssl cert for a store HAProxy does not have.
var errNoStore = fmt.Errorf("no such certificate store: %w", ErrNotLoaded)

// Push makes HAProxy serve bundle (key, leaf and chain, in any order) as the
// store Path(name): disk first, then new/set/commit/add over the socket, then
// a read-back of the serial.
func (c *Client) Push(ctx context.Context, name string, bundle []byte) error {
	if err := c.push(ctx, name, bundle); err != nil {
		return fmt.Errorf("push %s to %s: %w", name, c.opts.Name, err)
	}
	return nil
}

func (c *Client) push(ctx context.Context, name string, raw []byte) error {
	if err := c.checkOpts(name); err != nil {
		return err
	}
	b, err := sanitise(raw)
	if err != nil {
		return err
	}
	path := c.Path(name)
	set := "set ssl cert " + path + " <<\n" + string(b.pem)
	if size, limit := c.lineSize(set), c.opts.BufSize-sizeMargin; size > limit {
		return &TooLargeError{Size: size, Limit: limit}
	}
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return err
	}
	defer unlock()
	// Checked before anything is written (c.list.add checks again under its
	// lock): a PEM for a crt-list that cannot take it is litter.
	if st, err := os.Stat(c.opts.CrtList); err != nil || st.Size() == 0 {
		return fmt.Errorf("crt-list %s: %w", c.opts.CrtList, ErrNoCrtList)
	}
	if err := atomicfile.WriteGroup(path, b.pem, c.opts.FileMode, c.opts.FileGID); err != nil {
		return err
	}
	if err := c.list.add(path); err != nil {
		return err
	}
	if err := c.load(ctx, name, set, b.serial); err != nil {
		c.st.unsure(name)
		return err
	}
	c.st.pushed(name, path, b.serial)
	return nil
}

// lineSize is what a command line takes in HAProxy's buffer, with the
// severity prefix in front and the end mark after it.
func (c *Client) lineSize(line string) int { return len(severityPrefix) + len(withEndMark(line)) + 1 }

// load runs the transaction in three round trips: a check for an open
// transaction, new (unless the store is known) and set, then commit with
// the serial read back (and the crt-list entry for a new store). The caller
// holds the certificate lock.
func (c *Client) load(ctx context.Context, name, set string, serial *big.Int) error {
	path := c.Path(name)
	if err := c.probeTxn(ctx, path); err != nil {
		return err
	}
	known := c.st.known(name, path)
	created, err := c.newAndSet(ctx, path, set, known)
	if known && errors.Is(err, errNoStore) {
		// HAProxy restarted without the store since the client last looked.
		known = false
		created, err = c.newAndSet(ctx, path, set, false)
	}
	if err != nil {
		return err
	}
	status, err := c.commit(ctx, path, serial, created)
	if err != nil || created || known && status != "Unused" {
		return err
	}
	// An existing store that no crt-list uses ("Unused") is not served yet.
	return c.addToList(ctx, path, status == "Unused")
}

// probeTxn finds an open transaction with one O(1) command: abort answers
// with the path of whatever transaction is open. A leftover of ours (from a
// push that timed out) is aborted; anyone else's is reported and left alone.
func (c *Client) probeTxn(ctx context.Context, path string) error {
	const other = "The ongoing transaction is about '"
	text, err := c.run(ctx, "abort ssl cert "+path, func(t string, _ bool) bool {
		return strings.Contains(t, "No ongoing transaction") || strings.HasPrefix(t, other) ||
			strings.Contains(t, "Transaction aborted for certificate '"+path+"'")
	})
	if err != nil {
		return err
	}
	open, found := strings.CutPrefix(text, other)
	switch {
	case strings.HasPrefix(text, "Transaction aborted"):
		c.log.Warn("aborted a stale certificate transaction", "store", path)
	case found:
		open, _, _ = strings.Cut(open, "'")
		if !c.ours(open) {
			return &TransactionError{Open: open}
		}
		c.log.Warn("aborting stale certificate transaction", "store", open, "pushing", path)
		_, err = c.run(ctx, "abort ssl cert "+open, contains("Transaction aborted for certificate"))
	}
	return err
}

// newAndSet opens the transaction. Unless the store is known to exist it
// sends "new ssl cert" on the same line; new fails harmlessly when the
// store exists, and reports whether it created it.
func (c *Client) newAndSet(ctx context.Context, path, set string, known bool) (created bool, err error) {
	newCmd := "new ssl cert " + path
	line := set
	switch {
	case known:
	case c.lineSize(newCmd+";"+set) <= c.opts.BufSize-sizeMargin:
		line = newCmd + ";" + set
	default:
		if created, err = c.newStore(ctx, path); err != nil {
			return false, err
		}
	}
	rs, err := c.runAll(ctx, line)
	if err == nil && line != set {
		created, err = newReply(path, rs[0])
		rs = rs[1:]
	}
	if err == nil && len(rs) != 1 {
		err = unexpected("set ssl cert "+path, fmt.Sprint(rs))
	}
	if err != nil {
		c.abort(ctx, path)
		return false, err
	}
	return created, c.checkSet(ctx, path, rs[0])
}

func (c *Client) newStore(ctx context.Context, path string) (bool, error) {
	rs, err := c.runAll(ctx, "new ssl cert "+path)
	if err != nil {
		return false, err
	}
	return newReply(path, rs[0])
}

func newReply(path string, r reply) (created bool, err error) {
	switch {
	case !r.failed && r.text == "New empty certificate store '"+path+"'!":
		return true, nil
	case r.failed && strings.Contains(r.text, "'"+path+"' already exists"):
		return false, nil
	}
	return false, unexpected("new ssl cert "+path, r.text)
}

// checkSet checks that HAProxy names our path: 2.6 answers a set for B while
// A is open with "Transaction updated for certificate A!".
func (c *Client) checkSet(ctx context.Context, path string, r reply) error {
	for _, verb := range []string{"created", "updated"} {
		if !r.failed && r.text == "Transaction "+verb+" for certificate "+path+"!" {
			return nil
		}
	}
	other, found := strings.CutPrefix(r.text, "Transaction updated for certificate ")
	if r.failed && strings.Contains(r.text, "not referenced by the configuration") {
		return fmt.Errorf("set ssl cert %s: %w", path, errNoStore)
	}
	if r.failed || !found {
		c.abort(ctx, path)
		return unexpected("set ssl cert "+path, r.text)
	}
	other = strings.TrimSuffix(other, "!")
	// Our payload now sits in someone else's transaction; committing it would
	// serve our certificate under their name, so it must not survive.
	c.abort(ctx, other)
	return &TransactionError{Open: other}
}

// commit commits and reads the serial back on one line; for a store it just
// created it also adds the crt-list entry, which HAProxy refuses ("is
// empty") if the commit failed. It returns the store's Status.
func (c *Client) commit(ctx context.Context, path string, want *big.Int, created bool) (string, error) {
	line := "commit ssl cert " + path + ";show ssl cert " + path
	if created {
		line += ";" + c.addCmd(path)
	}
	rs, err := c.runAll(ctx, line)
	if err != nil {
		c.abort(ctx, path)
		return "", err
	}
	if r := rs[0]; r.failed || !strings.Contains(r.text, "Committing "+path) || !strings.Contains(r.text, "Success!") {
		c.abort(ctx, path)
		err := unexpected("commit ssl cert "+path, r.text)
		if errors.Is(err, ErrUnexpectedReply) {
			return "", fmt.Errorf("%w: %w", ErrCommitFailed, err)
		}
		return "", err
	}
	if len(rs) != 2+btoi(created) {
		return "", fmt.Errorf("%w: %w", ErrVerify, unexpected("show ssl cert "+path, fmt.Sprint(rs[1:])))
	}
	info, err := c.verify(path, rs[1], want)
	if err == nil && created {
		err = c.added(path, rs[2])
	}
	return info.status, err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Client) verify(path string, r reply, want *big.Int) (certInfo, error) {
	if !showCertOK(r.text, r.failed) {
		return certInfo{}, fmt.Errorf("%w: %w", ErrVerify, unexpected("show ssl cert "+path, r.text))
	}
	info, err := parseCert(path, r.text)
	if err != nil {
		return info, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if info.serial.Cmp(want) != 0 {
		return info, fmt.Errorf("%w: %s serves serial %X, pushed %X", ErrVerify, path, info.serial, want)
	}
	return info, nil
}

// addToList adds path to HAProxy's crt-list unless it is there; fresh
// re-reads the list instead of trusting what the client knows.
func (c *Client) addToList(ctx context.Context, path string, fresh bool) error {
	if fresh {
		c.st.listed = nil
	}
	listed, err := c.knownListed(ctx, path)
	if err != nil || listed {
		return err
	}
	rs, err := c.runAll(ctx, c.addCmd(path))
	if err != nil {
		return err
	}
	return c.added(path, rs[0])
}

func (c *Client) addCmd(path string) string { return "add ssl crt-list " + c.opts.CrtList + " " + path }

func (c *Client) added(path string, r reply) error {
	list := c.opts.CrtList
	switch {
	case !r.failed && strings.Contains(r.text, "Inserting certificate '"+path+"' in crt-list '"+list+"'") &&
		strings.Contains(r.text, "Success!"):
		return nil
	case strings.Contains(r.text, "crt-list '"+list+"' does not exist"):
		return fmt.Errorf("crt-list %s (it must be named exactly as on the bind line): %w", list, ErrNotLoaded)
	}
	return unexpected(c.addCmd(path), r.text)
}

// abort is best effort cleanup after a failure that is already being
// reported. It runs even when the caller's context is done, because a
// transaction left open blocks every later certificate write.
func (c *Client) abort(ctx context.Context, path string) {
	_, err := c.run(context.WithoutCancel(ctx), "abort ssl cert "+path, func(t string, _ bool) bool {
		return strings.Contains(t, "Transaction aborted") || strings.Contains(t, "No ongoing transaction")
	})
	if err != nil {
		c.log.Warn("abort ssl cert failed", "store", path, "err", err)
	}
}

// clearTxn aborts a leftover transaction of ours (under CertDir, for example
// from a push that timed out) and refuses to touch anyone else's.
func (c *Client) clearTxn(ctx context.Context, path string) (string, []string, error) {
	txn, stores, err := c.stores(ctx)
	if err != nil || txn == "" {
		return txn, stores, err
	}
	if !c.ours(txn) {
		return txn, stores, &TransactionError{Open: txn}
	}
	c.log.Warn("aborting stale certificate transaction", "store", txn, "pushing", path)
	_, err = c.run(ctx, "abort ssl cert "+txn, contains("Transaction aborted for certificate"))
	return "", stores, err
}

func (c *Client) ours(path string) bool {
	return filepath.Dir(path) == filepath.Clean(c.opts.CertDir)
}

func (c *Client) checkOpts(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	for _, p := range []string{c.opts.CertDir, c.opts.CrtList} {
		if err := validArg("path", p); err != nil || !filepath.IsAbs(p) {
			return fmt.Errorf("instance %s: path %q must be absolute with no spaces or ';': %w", c.opts.Name, p, ErrInvalidName)
		}
	}
	return nil
}
