// Package cluster lets several hotcert nodes share their state through etcd:
// the account, each certificate's record and bundles, who is ordering what,
// and the pending HTTP-01 answers. A certificate is ordered by one node at a
// time, under a claim (an etcd lock tied to the node's session lease), and
// the claim's writes are fenced, so a node whose lease expired can never
// overwrite a newer record. Each node keeps a local copy of every record in
// its own state directory, so it starts and serves while etcd is away.
//
// The package owns the etcd client; nothing else in hotcert imports etcd.
package cluster

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/hotcert/hotcert/store"
)

var (
	// ErrUnavailable: etcd did not take the change (it did not answer in
	// time, or this node has no session); nothing was written to etcd.
	ErrUnavailable = errors.New("etcd unavailable")
	// ErrClaimed: another node holds the claim (the error names it).
	ErrClaimed = errors.New("claimed")
	// ErrFenced: a claim's write was refused because the claim was lost
	// (its session's lease ended) or the record changed since the claim
	// read it. Nothing was written.
	ErrFenced = errors.New("claim no longer holds")
)

const (
	// DefaultPrefix is where hotcert's keys go when Options.Prefix is empty.
	DefaultPrefix = "/hotcert/"
	// DefaultLeaseTTL is how long a dead node's claims stay in force.
	DefaultLeaseTTL = 10 * time.Second
	// callTimeout bounds every etcd call, so that a frozen etcd never holds
	// a caller longer than this.
	callTimeout = 3 * time.Second
)

// Options configures a Cluster.
type Options struct {
	Node               string // this node's name, unique in the cluster; default: the host name
	Endpoints          []string
	Prefix             string // default DefaultPrefix
	TLS                *tls.Config
	Username, Password string
	LeaseTTL           time.Duration // default DefaultLeaseTTL; whole seconds
	// Local is this node's state_dir: a local copy of every record it has
	// seen, and the fields that are this node's alone (RemovedAt).
	Local  *store.File
	Logger *slog.Logger
	Now    func() time.Time
	// Version is this node's hotcert version, shown in members/.
	Version string
}

// Member is one node with a live session.
type Member struct {
	Node    string    `json:"node"`
	Started time.Time `json:"started"`
	Version string    `json:"version"`
}

// Cluster is this node's view of the cluster. It satisfies daemon.Store and
// issuer.HTTPSolver.
type Cluster struct {
	opt    Options
	log    *slog.Logger
	cli    *clientv3.Client
	keys   keys
	health *health
	book   *book
	leased *leased

	changes *queue[string]
	tokens  *queue[TokenEvent]
	answers *answers
	// missReads bounds the etcd reads of tokens the cache lacks.
	missReads *rate

	mu   sync.Mutex
	sess *concurrency.Session
	held map[string]*Claim // claims of this node; nil while one is being taken
	// importedAt is the etcd revision from which this node's standalone
	// state is known to be in etcd (0: not yet). A read made before it may
	// lack a record only because the import had not written it yet.
	importedAt int64
	localErr   string // the last failed write of the local copy, logged once

	kick      chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Open connects to etcd and returns at once: it never fails because etcd is
// down. The session, the watches and the publication of this node's keys
// run in the background until Close, with backoff, and the log hears of
// each change of state, not of each attempt. ctx bounds nothing after Open.
func Open(ctx context.Context, o Options) (*Cluster, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	b, err := loadBook(o.Local)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: o.Endpoints, TLS: o.TLS, Username: o.Username, Password: o.Password,
		// gRPC pings find a connection to a frozen or vanished etcd dead.
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		Logger: zap.NewNop(), // state changes are logged once, by this package
	})
	if err != nil {
		return nil, fmt.Errorf("open cluster: %w", err)
	}
	c := &Cluster{
		opt: o, log: o.Logger, cli: cli, keys: keys{o.Prefix}, book: b,
		health: newHealth(o.Logger), leased: newLeased(),
		changes: newQueue[string](), tokens: newQueue[TokenEvent](),
		held: map[string]*Claim{}, kick: make(chan struct{}, 1),
	}
	c.answers = &answers{m: map[string]string{}, events: c.tokens}
	c.missReads = &rate{max: 20}
	m, _ := json.Marshal(Member{Node: o.Node, Started: o.Now(), Version: o.Version})
	c.leased.set(c.keys.member(o.Node), string(m))
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for _, f := range []func(context.Context){c.keepSession, c.keepPublished, c.followCerts,
		c.followChallenges, c.changes.run, c.tokens.run} {
		c.wg.Go(func() { f(bg) })
	}
	return c, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return o, fmt.Errorf("open cluster: node name: %w", err)
		}
		o.Node = h
	}
	var errs []error
	if !safeSegment(o.Node) {
		errs = append(errs, fmt.Errorf("node name %q: must not contain '/'", o.Node))
	}
	if len(o.Endpoints) == 0 {
		errs = append(errs, errors.New("no etcd endpoints"))
	}
	if o.Local == nil {
		errs = append(errs, errors.New("no local store"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("open cluster: %w", err)
	}
	o.Prefix = cmp.Or(o.Prefix, DefaultPrefix)
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/" // "/hotcert" must not also cover "/hotcert2/"
	}
	o.LeaseTTL = max(cmp.Or(o.LeaseTTL, DefaultLeaseTTL).Round(time.Second), time.Second)
	o.Logger = cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Close revokes the session lease, so that this node's claims, wants,
// pending tokens and member key go at once rather than after the TTL, and
// stops everything Open started.
func (c *Cluster) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		if s := c.session(); s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			_, err = c.cli.Revoke(ctx, s.Lease())
			cancel()
			if err != nil {
				err = fmt.Errorf("close cluster: revoke lease: %w", err)
			}
		}
		c.setSession(nil)
		err = errors.Join(err, c.cli.Close())
	})
	return err
}

// Ready is nil when etcd answers and this node's session lives; otherwise it
// says why not.
func (c *Cluster) Ready() error { return c.health.ready() }

// Changes delivers the names of certificates whose shared record another node
// changed (or deleted), as the watch reports them. Names waiting to be
// received are not repeated. It is closed by Close.
func (c *Cluster) Changes() <-chan string { return c.changes.out }

func (c *Cluster) session() *concurrency.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *Cluster) setSession(s *concurrency.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = s
	if s != nil {
		c.leased.begin(s.Lease())
	}
}

func (c *Cluster) isImported() bool { return c.importedBy(1 << 62) }

// importedBy reports whether a read made at rev saw the import's records.
func (c *Cluster) importedBy(rev int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.importedAt > 0 && rev >= c.importedAt
}

// kickSync asks the publisher to bring etcd up to date.
func (c *Cluster) kickSync() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// unavailable wraps an etcd failure for the caller, and tells the health
// state about it.
func (c *Cluster) unavailable(op string, err error) error {
	c.health.failed(err)
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

var errNoSession = errors.New("no etcd session")

// callCtx bounds one etcd call.
func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}
