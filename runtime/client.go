// Package runtime drives HAProxy's runtime API (the stats socket) to serve,
// renew and remove certificates and to answer HTTP-01 challenges from a map,
// without reloads. It is the only package that reads HAProxy's reply text;
// callers see typed errors.
//
// Client is one HAProxy instance. It owns the socket connection, the
// certificate lock that serialises HAProxy's one certificate transaction,
// and state, what it last read of the stores that process holds, so that
// Loaded costs one `show info` when nothing changed, and a rolling check
// that re-reads a bounded slice of the stores now and then. Beside it, each Client
// has a challengeMap: the HTTP-01 map entries it added, under locks of their
// own, put back when HAProxy restarts. A crtList is one crt-list file on
// disk, with the lock for editing it and the lines hotcert confirmed in it;
// there is one per file path, shared by every Client that names the file.
// Fleet is every instance, and MapSolver answers challenges through all of
// them. MapMirror keeps a map on all of them in step with token events from
// elsewhere, a goroutine per instance.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	cnruntime "github.com/haproxytech/client-native/v5/runtime"
	cnoptions "github.com/haproxytech/client-native/v5/runtime/options"
)

// Options describe one HAProxy instance.
type Options struct {
	Name    string        // instance name from the config ("lb1"), used in errors and results
	Socket  string        // unix stats socket with level admin
	CertDir string        // absolute; certificate <name> is stored at CertDir/<name>.pem, its HAProxy store name
	CrtList string        // absolute path of the crt-list file used on the bind line (exactly as in haproxy.cfg)
	Timeout time.Duration // per command; default 5s
	Logger  *slog.Logger
	// BufSize is HAProxy's tune.bufsize; default 16384. A certificate command
	// and its payload must fit in it on HAProxy 2.6.
	BufSize int
	// Rescan is how long the rolling check takes to read every store again
	// when there are at most 10,000, to notice changes made by someone else,
	// and how often it looks for stores added by someone else; default 10m.
	// See check.go.
	Rescan time.Duration
	Now    func() time.Time // default time.Now
	// FileMode is the mode of the bundles written to CertDir; default 0600.
	// FileGID, when positive, is the group given to them and to the
	// crt-list, so that an HAProxy that is not root can read them when it
	// starts again (the crt-list keeps its mode).
	FileMode os.FileMode
	FileGID  int
}

const defaultBufSize = 16384

// Client talks to one HAProxy. It is safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
	// cert serialises certificate operations: HAProxy 2.6 has one certificate
	// transaction per process, and interleaved writers corrupt each other.
	cert chan struct{}
	st   state // guarded by cert
	seen Info  // the process the last show info described; guarded by cert
	// epoch counts the changes to what HAProxy serves that this client did
	// not make itself; see Epoch.
	epoch atomic.Uint64

	// challenges is the challenge map entries, with locks of their own:
	// answering a challenge never waits for a certificate push.
	challenges *challengeMap
	list       *crtList // Options.CrtList, shared with other clients of the same file

	connMu sync.Mutex
	conn   *cnruntime.SingleRuntime
}

// New returns a client for one HAProxy. It does not dial.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.BufSize <= 0 {
		opts.BufSize = defaultBufSize
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		opts: opts,
		log:  log.With("haproxy", opts.Name),
		cert: make(chan struct{}, 1),
	}
	c.challenges = newChallengeMap(c.run, c.log)
	c.list = crtListAt(opts.CrtList, opts.FileGID)
	return c
}

// Name is the instance name from Options.
func (c *Client) Name() string { return c.opts.Name }

// Path is the store name and file of certificate name: CertDir/<name>.pem.
func (c *Client) Path(name string) string { return filepath.Join(c.opts.CertDir, name+".pem") }

func lock(ctx context.Context, sem chan struct{}) (unlock func(), err error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	}
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

// single returns the client-native connection. SingleRuntime holds a mutex
// for the whole exchange and waits up to 30 s on a silent socket, so after a
// timeout we drop it and later commands get a fresh one instead of queueing
// behind the hung call.
func (c *Client) single() *cnruntime.SingleRuntime {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conn == nil {
		s := &cnruntime.SingleRuntime{}
		// With DoNotCheckRuntimeOnInit, Init only records the path.
		_ = s.Init(c.opts.Socket, 0, 0, cnoptions.RuntimeOptions{DoNotCheckRuntimeOnInit: true})
		c.conn = s
	}
	return c.conn
}

func (c *Client) drop(s *cnruntime.SingleRuntime) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conn == s {
		c.conn = nil
	}
}

// exec runs one command with the per-command deadline. client-native takes
// no context, so the call runs in a goroutine that we abandon on timeout; its
// own 30 s socket deadline ends it later.
func (c *Client) exec(ctx context.Context, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	s := c.single()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.ExecuteRaw(withEndMark(cmd))
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("%s: %w: %w", c.opts.Socket, ErrUnavailable, r.err)
		}
		out, ok := cutEndMark(r.out)
		if !ok {
			return "", fmt.Errorf("%s: %s: %w", c.opts.Socket, firstLine(cmd), ErrTruncated)
		}
		return out, nil
	case <-ctx.Done():
		c.drop(s)
		return "", fmt.Errorf("%s: %w", firstLine(cmd), ctxErr(ctx))
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
