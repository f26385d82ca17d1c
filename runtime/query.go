package runtime

import (
	"context"
	"fmt"
	"math/big"
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

// Info identifies the running HAProxy process; a new pid or a smaller uptime
// means it restarted and lost everything pushed at runtime.
type Info struct {
	Pid     int
	Uptime  time.Duration
	Started time.Time // Start_time_sec; zero when HAProxy does not report it
}

// Info reads `show info`. It doubles as the readiness probe.
func (c *Client) Info(ctx context.Context) (Info, error) {
	info, err := c.info(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("show info on %s: %w", c.opts.Name, err)
	}
	return info, nil
}

// Ping asks HAProxy for `show info` and reports whether it answered; it is
// the cheapest proof that the socket works.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Info(ctx)
	return err
}

func (c *Client) info(ctx context.Context) (Info, error) {
	text, err := c.run(ctx, "show info", contains("Pid: ", "Uptime_sec: "))
	if err != nil {
		return Info{}, err
	}
	var info Info
	for _, l := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "Pid":
			info.Pid = int(n)
		case "Uptime_sec":
			info.Uptime = time.Duration(n) * time.Second
		case "Start_time_sec":
			info.Started = time.Unix(n, 0)
		}
	}
	if info.Pid == 0 {
		return Info{}, unexpected("show info", text)
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
