package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Serial is the serial HAProxy serves for store Path(name); ErrNotLoaded
// when there is no such store or it is empty.
func (c *Client) Serial(ctx context.Context, name string) (*big.Int, error) {
	if err := c.checkOpts(name); err != nil {
		return nil, fmt.Errorf("serial of %s on %s: %w", name, c.opts.Name, err)
	}
	// show ssl cert takes HAProxy's certificate lock too; don't race our own writes.
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return nil, fmt.Errorf("serial of %s on %s: %w", name, c.opts.Name, err)
	}
	defer unlock()
	info, err := c.showCert(ctx, c.Path(name))
	if err != nil {
		return nil, fmt.Errorf("serial of %s on %s: %w", name, c.opts.Name, err)
	}
	return info.serial, nil
}

// Loaded maps every store under CertDir that HAProxy holds, by certificate
// name, to the serial it serves. Empty stores are left out.
func (c *Client) Loaded(ctx context.Context) (map[string]*big.Int, error) {
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return nil, fmt.Errorf("loaded certificates on %s: %w", c.opts.Name, err)
	}
	defer unlock()
	_, stores, err := c.stores(ctx)
	if err != nil {
		return nil, fmt.Errorf("loaded certificates on %s: %w", c.opts.Name, err)
	}
	out := map[string]*big.Int{}
	for _, s := range stores {
		name, ok := strings.CutSuffix(filepath.Base(s), ".pem")
		if !ok || !c.ours(s) || validName(name) != nil {
			continue
		}
		info, err := c.showCert(ctx, s)
		if errors.Is(err, ErrNotLoaded) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("loaded certificates on %s: %w", c.opts.Name, err)
		}
		out[name] = info.serial
	}
	return out, nil
}

// Info identifies the running HAProxy process; a new pid or a smaller uptime
// means it restarted and lost everything pushed at runtime.
type Info struct {
	Pid    int
	Uptime time.Duration
}

// Info reads `show info`. It doubles as the readiness probe.
func (c *Client) Info(ctx context.Context) (Info, error) {
	text, err := c.run(ctx, "show info", contains("Pid: ", "Uptime_sec: "))
	if err != nil {
		return Info{}, fmt.Errorf("show info on %s: %w", c.opts.Name, err)
	}
	var info Info
	for _, l := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		n, _ := strconv.Atoi(strings.TrimSpace(v))
		switch k {
		case "Pid":
			info.Pid = n
		case "Uptime_sec":
			info.Uptime = time.Duration(n) * time.Second
		}
	}
	return info, nil
}

// AbortForeign aborts an open certificate transaction under CertDir (a
// leftover of ours) and returns *TransactionError for anyone else's, which it
// leaves open.
func (c *Client) AbortForeign(ctx context.Context) error {
	unlock, err := lock(ctx, c.cert)
	if err != nil {
		return fmt.Errorf("abort transactions on %s: %w", c.opts.Name, err)
	}
	defer unlock()
	if _, _, err := c.clearTxn(ctx, ""); err != nil {
		return fmt.Errorf("abort transactions on %s: %w", c.opts.Name, err)
	}
	return nil
}
