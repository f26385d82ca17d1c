package runtime

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

const lockedText = "Operations on certificates are currently locked"

// endMark follows every command line. client-native returns whatever it
// read when a read fails, trimmed of the empty line that ends a complete
// reply, so a reply cut short reads like a complete shorter one: a crt-list
// without its last lines, a serial without its last digits. HAProxy answers
// commands in order, so the end mark's answer at the end shows that every
// reply before it arrived whole.
const endMark = "show version"

// withEndMark appends endMark to cmd: after ';' on the same line, or, after
// a payload, on the line after the empty line that ends the payload.
func withEndMark(cmd string) string {
	if !strings.Contains(cmd, "\n") {
		return cmd + ";" + endMark
	}
	if !strings.HasSuffix(cmd, "\n") {
		cmd += "\n"
	}
	return cmd + "\n" + endMark
}

// cutEndMark returns raw without the end mark's answer ("[6]: 2.6.12-1"),
// and false when that answer is not there: the connection ended early.
func cutEndMark(raw string) (string, bool) {
	body, last := "", raw
	if i := strings.LastIndex(raw, "\n\n"); i >= 0 {
		body, last = raw[:i], raw[i+2:]
	}
	v, ok := strings.CutPrefix(last, "[6]: ")
	if !ok || v == "" || v[0] < '0' || v[0] > '9' || strings.Contains(v, "\n") {
		return "", false
	}
	return strings.TrimSpace(body), true
}

// parseReply strips the "[N]: " severity prefixes that client-native asks
// for ("set severity-output number") and reports whether HAProxy flagged an
// error (severity 0 to 3). Success messages from I/O handlers carry no prefix.
func parseReply(raw string) (text string, failed bool) {
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	for i, l := range lines {
		if len(l) >= 5 && l[0] == '[' && l[2] == ']' && l[3] == ':' && l[1] >= '0' && l[1] <= '9' {
			if i == 0 && l[1] <= '3' {
				failed = true
			}
			lines[i] = strings.TrimSpace(l[4:])
		}
	}
	return strings.Join(lines, "\n"), failed
}

// run sends cmd and checks the reply with ok. Replies that show another
// writer holds HAProxy's certificate lock become ErrLocked.
func (c *Client) run(ctx context.Context, cmd string, ok func(text string, failed bool) bool) (string, error) {
	c.log.Debug("runtime command", "cmd", firstLine(cmd))
	raw, err := c.exec(ctx, cmd)
	if err != nil {
		return "", err
	}
	text, failed := parseReply(raw)
	switch {
	case strings.Contains(text, lockedText):
		return text, fmt.Errorf("%s: %w", firstLine(cmd), ErrLocked)
	case strings.Contains(text, "Unknown map identifier"):
		return text, fmt.Errorf("%s: map %w", firstLine(cmd), ErrNotLoaded)
	case !ok(text, failed):
		return text, unexpected(firstLine(cmd), text)
	}
	return text, nil
}

func contains(subs ...string) func(string, bool) bool {
	return func(text string, failed bool) bool {
		for _, s := range subs {
			if !strings.Contains(text, s) {
				return false
			}
		}
		return !failed && text != ""
	}
}

// stores lists HAProxy's certificate stores and the open transaction, if any.
func (c *Client) stores(ctx context.Context) (txn string, names []string, err error) {
	text, err := c.run(ctx, "show ssl cert", func(t string, failed bool) bool {
		return !failed && strings.Contains(t, "# filename")
	})
	if err != nil {
		return "", nil, err
	}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '*':
			txn = l[1:]
		default:
			names = append(names, l)
		}
	}
	return txn, names, nil
}

// certInfo is the part of "show ssl cert <path>" hotcert uses.
type certInfo struct {
	status string
	serial *big.Int
}

func (c *Client) showCert(ctx context.Context, path string) (certInfo, error) {
	text, err := c.run(ctx, "show ssl cert "+path, showCertOK)
	if err != nil {
		return certInfo{}, err
	}
	return parseCert(path, text)
}

func showCertOK(t string, failed bool) bool {
	return failed && strings.Contains(t, "Not found") || !failed && strings.Contains(t, "Filename: ")
}

func parseCert(path, text string) (certInfo, error) {
	var info certInfo
	for _, l := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "Status":
			info.status = v
		case "Serial":
			info.serial, _ = new(big.Int).SetString(strings.TrimSpace(v), 16)
		}
	}
	if info.serial == nil {
		return info, fmt.Errorf("%s: %w", path, ErrNotLoaded)
	}
	return info, nil
}

// listed returns the line numbers at which HAProxy's in-memory crt-list
// holds path (runtime additions included).
func (c *Client) listed(ctx context.Context, path string) ([]int64, error) {
	all, err := c.showCrtList(ctx)
	return all[path], err
}

// listing is the set of store paths in HAProxy's in-memory crt-list.
func (c *Client) listing(ctx context.Context) (map[string]bool, error) {
	all, err := c.showCrtList(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(all))
	for p := range all {
		out[p] = true
	}
	return out, nil
}

// showCrtList maps every store path in HAProxy's in-memory crt-list to its
// line numbers.
func (c *Client) showCrtList(ctx context.Context) (map[string][]int64, error) {
	list := c.opts.CrtList
	text, err := c.run(ctx, "show ssl crt-list -n "+list, func(t string, failed bool) bool {
		return !failed && strings.HasPrefix(t, "# "+list) || strings.Contains(t, "didn't find the specified filename")
	})
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(text, "# ") {
		return nil, fmt.Errorf("crt-list %s (it must be named exactly as on the bind line): %w", list, ErrNotLoaded)
	}
	out := map[string][]int64{}
	for _, l := range strings.Split(text, "\n")[1:] {
		f, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		i := strings.LastIndexByte(f, ':')
		if i < 0 {
			continue
		}
		if line, err := strconv.ParseInt(f[i+1:], 10, 64); err == nil {
			out[f[:i]] = append(out[f[:i]], line)
		}
	}
	return out, nil
}

// reply is one command's answer in a line of several commands.
type reply struct {
	text   string
	failed bool
}

// runAll sends a line of commands separated by ';' and splits the answer
// into one reply per command (HAProxy ends each with an empty line). It
// saves round trips; every reply still has to be checked by the caller.
func (c *Client) runAll(ctx context.Context, cmd string) ([]reply, error) {
	c.log.Debug("runtime command", "cmd", firstLine(cmd))
	raw, err := c.exec(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var out []reply
	for _, part := range strings.Split(raw, "\n\n") {
		text, failed := parseReply(part)
		if strings.Contains(text, lockedText) {
			return nil, fmt.Errorf("%s: %w", firstLine(cmd), ErrLocked)
		}
		out = append(out, reply{text, failed})
	}
	return out, nil
}
