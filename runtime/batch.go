package runtime

import (
	"context"
	"fmt"
	"math/big"
	"strings"
)

// A `show ssl cert <path>` on a connection of its own costs about 160 µs
// on HAProxy 2.6, most of it the connection; about 130 of them joined by
// ';' on one line cost about 20 µs each (figures in docs/benchmarks.md). A
// full read of 100,000 stores takes 16 s one by one and about 2 s batched.

// batchLimit is how many bytes of commands one batched line holds: half of
// tune.bufsize, well clear of the limit that makes HAProxy 2.6 drop or hang
// a command line (see sizeMargin), and long enough that a line holds a
// hundred commands at default settings.
func (c *Client) batchLimit() int { return c.opts.BufSize / 2 }

// readStores reads the stores at paths with `show ssl cert <path>` commands
// joined by ';' on as few lines as the CLI buffer allows; HAProxy answers
// them in order. It calls got with each path and the serial HAProxy serves
// there, nil when it has no such store or the store is empty.
func (c *Client) readStores(ctx context.Context, paths []string, got func(path string, serial *big.Int)) error {
	var line strings.Builder
	for len(paths) > 0 {
		line.Reset()
		n, size := 0, c.lineSize("")
		for ; n < len(paths); n++ {
			if err := validArg("path", paths[n]); err != nil {
				return err
			}
			const cmd = "show ssl cert "
			if size += len(cmd) + len(paths[n]) + 1; n > 0 && size > c.batchLimit() {
				break
			}
			if n > 0 {
				line.WriteByte(';')
			}
			line.WriteString(cmd)
			line.WriteString(paths[n])
		}
		serials, err := c.readLine(ctx, line.String(), paths[:n])
		if err != nil {
			return err
		}
		for i, p := range paths[:n] {
			got(p, serials[i])
		}
		paths = paths[n:]
	}
	return nil
}

// readLine sends one line of `show ssl cert` commands for paths and returns
// each store's serial, nil for a store HAProxy does not have.
func (c *Client) readLine(ctx context.Context, line string, paths []string) ([]*big.Int, error) {
	c.log.Debug("runtime command", "cmd", "show ssl cert", "stores", len(paths))
	raw, err := c.exec(ctx, line)
	if err != nil {
		return nil, err
	}
	replies := splitCertReplies(raw)
	if len(replies) != len(paths) {
		what := fmt.Sprintf("show ssl cert (%d stores, from %s)", len(paths), paths[0])
		return nil, unexpected(what, fmt.Sprintf("%d replies: %.200s", len(replies), raw))
	}
	out := make([]*big.Int, len(paths))
	for i, r := range replies {
		if out[i], err = certReply(paths[i], r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// certReply is the serial in one reply to `show ssl cert <path>`, nil for
// no store or an empty one. It is parseReply and parseCert without their
// copies: a full read at 100,000 stores parses 100,000 of these.
func certReply(path, r string) (*big.Int, error) {
	failed := false
	if len(r) >= 5 && r[0] == '[' && r[2] == ']' && r[3] == ':' && r[1] >= '0' && r[1] <= '9' {
		failed = r[1] <= '3'
		r = strings.TrimLeft(r[4:], " ")
	}
	switch {
	case strings.Contains(r, lockedText):
		return nil, fmt.Errorf("show ssl cert %s: %w", path, ErrLocked)
	case failed && strings.Contains(r, "Not found"):
		return nil, nil
	case failed:
		return nil, unexpected("show ssl cert "+path, r)
	}
	// Replies are matched to commands by position; the name in each proves
	// that the positions agree.
	rest, ok := strings.CutPrefix(r, "Filename: "+path+"\n")
	if !ok {
		return nil, unexpected("show ssl cert "+path, r)
	}
	_, rest, found := strings.Cut(rest, "\nSerial: ")
	if !found && strings.HasPrefix(rest, "Serial: ") {
		rest, found = rest[len("Serial: "):], true
	}
	if !found {
		return nil, nil // an empty store has no serial
	}
	hex, _, _ := strings.Cut(rest, "\n")
	serial, ok := new(big.Int).SetString(strings.TrimSpace(hex), 16)
	if !ok {
		return nil, unexpected("show ssl cert "+path, r)
	}
	return serial, nil
}

// splitCertReplies cuts the answer to a line of `show ssl cert <path>`
// commands into one reply per command. HAProxy ends each reply with an
// empty line; a part that starts neither a store ("Filename: ") nor a
// message ("[N]: ") belongs to the reply before it, so that a reply with an
// empty line inside stays whole.
func splitCertReplies(raw string) []string {
	var out []string
	for part := range strings.SplitSeq(raw, "\n\n") {
		starts := strings.HasPrefix(part, "Filename: ") || len(part) >= 4 && part[0] == '[' && part[2] == ']' && part[3] == ':'
		if len(out) > 0 && !starts {
			out[len(out)-1] += "\n\n" + part
			continue
		}
		out = append(out, part)
	}
	return out
}
