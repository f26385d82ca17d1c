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
	for len(paths) > 0 {
		n, line := 0, ""
		for n < len(paths) {
			if err := validArg("path", paths[n]); err != nil {
				return err
			}
			cmd := "show ssl cert " + paths[n]
			if n > 0 && c.lineSize(line+";"+cmd) > c.batchLimit() {
				break
			}
			if n > 0 {
				line += ";"
			}
			line += cmd
			n++
		}
		serials, err := c.readLine(ctx, line, paths[:n])
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
	what := fmt.Sprintf("show ssl cert (%d stores, from %s)", len(paths), paths[0])
	if len(replies) != len(paths) {
		return nil, unexpected(what, fmt.Sprintf("%d replies: %.200s", len(replies), raw))
	}
	out := make([]*big.Int, len(paths))
	for i, r := range replies {
		text, failed := parseReply(r)
		switch {
		case strings.Contains(text, lockedText):
			return nil, fmt.Errorf("%s: %w", what, ErrLocked)
		case !showCertOK(text, failed):
			return nil, unexpected("show ssl cert "+paths[i], text)
		case failed:
			continue // no such store
		}
		// Replies are matched to commands by position; the name in each
		// proves that the positions agree.
		if name, _, _ := strings.Cut(strings.TrimPrefix(text, "Filename: "), "\n"); name != paths[i] {
			return nil, unexpected("show ssl cert "+paths[i], text)
		}
		info, err := parseCert(paths[i], text)
		if err == nil {
			out[i] = info.serial
		}
	}
	return out, nil
}

// splitCertReplies cuts the answer to a line of `show ssl cert <path>`
// commands into one reply per command. HAProxy ends each reply with an
// empty line; a part that starts neither a store ("Filename: ") nor a
// message ("[N]: ") belongs to the reply before it, so that a reply with an
// empty line inside stays whole.
func splitCertReplies(raw string) []string {
	var out []string
	for _, part := range strings.Split(raw, "\n\n") {
		starts := strings.HasPrefix(part, "Filename: ") || len(part) >= 4 && part[0] == '[' && part[2] == ']' && part[3] == ':'
		if len(out) > 0 && !starts {
			out[len(out)-1] += "\n\n" + part
			continue
		}
		out = append(out, part)
	}
	return out
}
