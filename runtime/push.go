package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotcert/hotcert/atomicfile"
)

// severityPrefix is what client-native puts before every command; it counts
// toward HAProxy's buffer.
const severityPrefix = "set severity-output number;"

// sizeMargin keeps pushes well below tune.bufsize: on 2.6.12, commands a few
// bytes over the limit were not only dropped, some hung the connection and
// one made HAProxy abort ("bogus APPCTX ... spinning").
const sizeMargin = 256

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
	if size, limit := len(severityPrefix)+len(set)+1, c.opts.BufSize-sizeMargin; size > limit {
		return &TooLargeError{Size: size, Limit: limit}
	}
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return err
	}
	defer unlock()
	if err := atomicfile.Write(path, b.pem, 0o600); err != nil {
		return err
	}
	if err := addLine(c.opts.CrtList, path); err != nil {
		return err
	}
	if err := c.load(ctx, path, set); err != nil {
		return err
	}
	return c.verify(ctx, path, b.serial)
}

func (c *Client) verify(ctx context.Context, path string, want *big.Int) error {
	info, err := c.showCert(ctx, path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if info.serial.Cmp(want) != 0 {
		return fmt.Errorf("%w: %s serves serial %X, pushed %X", ErrVerify, path, info.serial, want)
	}
	return nil
}

// load runs the transaction; the caller holds the certificate lock.
func (c *Client) load(ctx context.Context, path, set string) error {
	_, stores, err := c.clearTxn(ctx, path)
	if err != nil {
		return err
	}
	if !slices.Contains(stores, path) {
		if _, err := c.run(ctx, "new ssl cert "+path, contains("New empty certificate store '"+path+"'")); err != nil {
			return err
		}
	}
	if err := c.setCert(ctx, path, set); err != nil {
		return err
	}
	if _, err := c.run(ctx, "commit ssl cert "+path, contains("Committing "+path, "Success!")); err != nil {
		c.abort(ctx, path)
		if errors.Is(err, ErrUnexpectedReply) {
			return fmt.Errorf("%w: %w", ErrCommitFailed, err)
		}
		return err
	}
	return c.addToList(ctx, path)
}

// setCert checks that HAProxy names our path: 2.6 answers a set for B while A
// is open with "Transaction updated for certificate A!".
func (c *Client) setCert(ctx context.Context, path, set string) error {
	text, err := c.run(ctx, set, func(t string, failed bool) bool {
		return !failed && strings.HasPrefix(t, "Transaction ")
	})
	if err != nil {
		c.abort(ctx, path)
		return err
	}
	for _, verb := range []string{"created", "updated"} {
		if text == "Transaction "+verb+" for certificate "+path+"!" {
			return nil
		}
	}
	other, found := strings.CutPrefix(text, "Transaction updated for certificate ")
	if !found {
		c.abort(ctx, path)
		return unexpected("set ssl cert "+path, text)
	}
	other = strings.TrimSuffix(other, "!")
	// Our payload now sits in someone else's transaction; committing it would
	// serve our certificate under their name, so it must not survive.
	c.abort(ctx, other)
	return &TransactionError{Open: other}
}

func (c *Client) addToList(ctx context.Context, path string) error {
	lines, err := c.listed(ctx, path)
	if err != nil || len(lines) > 0 {
		return err
	}
	list := c.opts.CrtList
	_, err = c.run(ctx, "add ssl crt-list "+list+" "+path,
		contains("Inserting certificate '"+path+"' in crt-list '"+list+"'", "Success!"))
	return err
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
