// Package testca runs a Pebble ACME CA in-process, with its own DNS server, for integration tests
// and the demo. It is a real package (not _test) because `make demo` uses it too.
//
// Pebble reads PEBBLE_VA_NOSLEEP, PEBBLE_WFE_NONCEREJECT and PEBBLE_AUTHZREUSE from the
// environment when Start builds it; setting them is left to the caller.
package testca

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotcert/hotcert/internal/lab"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configures the CA.
type Options struct {
	// HTTPPort is the port Pebble's VA connects to for http-01, on the
	// address the name resolves to: in a cluster, every load balancer
	// listens on it, each on its own address.
	HTTPPort int
	// Hosts maps names to the IPv4 address the in-process DNS answers for
	// them (a cluster test points each name at one load balancer); every
	// other name resolves to 127.0.0.1. SetHost changes it later.
	Hosts      map[string]string
	RequireEAB bool              // refuse accounts without external account binding
	EABKeys    map[string]string // key id -> base64url HMAC key
	Blocklist  []string          // domains Pebble refuses
	Logger     io.Writer         // Pebble's log; nil → io.Discard
	// DNSResolver (host:port) is the DNS server Pebble's VA asks instead of the in-process
	// one, e.g. a real BIND for dns-01 tests. It must answer A records for http-01 names.
	DNSResolver string
}

// CA is a running Pebble instance.
type CA struct {
	DirectoryURL  string // https://127.0.0.1:<port>/dir
	ManagementURL string // https://127.0.0.1:<port>
	RootsPEM      []byte // PEM to trust for the ACME and management listeners' TLS
	DNSAddr       string // 127.0.0.1:<port>; names resolve to 127.0.0.1 (A only) unless Hosts says otherwise, or Options.DNSResolver

	acme   *http.Server
	mgmt   *http.Server
	dns    *challtestsrv.ChallSrv
	client *http.Client
	tls    *tls.Config
	orders atomic.Int64
	chals  atomic.Int64
}

// Profiles offered by the test CA, as in Pebble's own test configuration.
var profiles = map[string]ca.Profile{
	"default":    {Description: "The profile you know and love", ValidityPeriod: 90 * 24 * 3600},
	"shortlived": {Description: "A short-lived cert profile", ValidityPeriod: 6 * 24 * 3600},
}

const (
	newOrderPath  = "/order-plz"
	challengePath = "/chalZ/"
)

// Start runs Pebble and its DNS server on loopback ports chosen by the kernel.
func Start(opts Options) (*CA, error) {
	w := opts.Logger
	if w == nil {
		w = io.Discard
	}
	logger := log.New(w, "Pebble ", log.LstdFlags)
	tlsConf, rootsPEM, err := selfSignedTLS()
	if err != nil {
		return nil, fmt.Errorf("testca: tls: %w", err)
	}
	c := &CA{RootsPEM: rootsPEM, tls: tlsConf}
	c.client, err = trustingClient(rootsPEM)
	if err != nil {
		return nil, err
	}
	if opts.DNSResolver != "" {
		if len(opts.Hosts) > 0 {
			return nil, errors.New("testca: Hosts needs the in-process DNS, not DNSResolver")
		}
		c.DNSAddr = opts.DNSResolver
	} else if c.dns, c.DNSAddr, err = startDNS(logger); err != nil {
		return nil, err
	}
	for name, addr := range opts.Hosts {
		if err := c.SetHost(name, addr); err != nil {
			c.Close()
			return nil, err
		}
	}
	store := db.NewMemoryStore()
	for id, key := range opts.EABKeys {
		if err := store.AddExternalAccountKeyByID(id, key); err != nil {
			c.Close()
			return nil, fmt.Errorf("testca: eab key %q: %w", id, err)
		}
	}
	for _, d := range opts.Blocklist {
		if err := store.AddBlockedDomain(d); err != nil {
			c.Close()
			return nil, fmt.Errorf("testca: blocklist %q: %w", d, err)
		}
	}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, opts.HTTPPort, 0, false, c.DNSAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"},
		false, opts.RequireEAB, 0, 0)

	acmeAddr, err := c.serve(&c.acme, serialize(c.countOrders(front.Handler())), tlsConf)
	if err != nil {
		c.Close()
		return nil, err
	}
	mgmtAddr, err := c.serve(&c.mgmt, front.ManagementHandler(), tlsConf)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.DirectoryURL = "https://" + acmeAddr + wfe.DirectoryPath
	c.ManagementURL = "https://" + mgmtAddr
	return c, nil
}

func (c *CA) serve(dst **http.Server, h http.Handler, tlsConf *tls.Config) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("testca: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	*dst = srv
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return ln.Addr().String(), nil
}

// startDNS runs challtestsrv on a free port. challtestsrv binds by address (UDP and TCP on the
// same port), so a port is picked, released and retried if someone else grabbed it meanwhile.
func startDNS(logger *log.Logger) (*challtestsrv.ChallSrv, string, error) {
	var lastErr error
	for range 5 {
		addr, err := freePort()
		if err != nil {
			return nil, "", err
		}
		srv, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: logger})
		if err != nil {
			return nil, "", fmt.Errorf("testca: dns: %w", err)
		}
		// Pebble dials the first address it resolves, AAAA first: answer A records only.
		srv.SetDefaultDNSIPv6("")
		srv.SetDefaultDNSIPv4("127.0.0.1")
		srv.Run()
		if lastErr = waitTCP(addr, 2*time.Second); lastErr == nil {
			return srv, addr, nil
		}
		srv.Shutdown()
	}
	return nil, "", fmt.Errorf("testca: dns did not start: %w", lastErr)
}

func freePort() (string, error) {
	port, err := lab.FreeTCPUDPPort()
	if err != nil {
		return "", fmt.Errorf("testca: pick port: %w", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

func waitTCP(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the listeners and the DNS server. Pebble's validation goroutines are not
// stoppable; they end with the process.
func (c *CA) Close() error {
	var errs []error
	for _, s := range []*http.Server{c.acme, c.mgmt} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if c.dns != nil {
		c.dns.Shutdown()
	}
	return errors.Join(errs...)
}

// serialize lets one ACME request into Pebble at a time. Pebble's web
// front end has data races between concurrent requests (two newAccount
// calls for one key write the same account; finalize sets an order's
// status without the lock that a GET of the order takes), which the race
// detector reports and which fail every test of the binary. Each request
// is short: issuance and validation run in Pebble's own goroutines.
func serialize(next http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Orders reports how many newOrder requests Pebble accepted.
func (c *CA) Orders() int { return int(c.orders.Load()) }

// Challenges reports how many POSTs to a challenge URL Pebble answered with
// 200. A client posts to a challenge to have it validated (x/crypto's
// Accept), so a client that never did leaves it at 0: the CA validated
// nothing.
func (c *CA) Challenges() int { return int(c.chals.Load()) }

func (c *CA) countOrders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n *atomic.Int64
		var ok int
		switch {
		case r.Method == http.MethodPost && r.URL.Path == newOrderPath:
			n, ok = &c.orders, http.StatusCreated
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, challengePath):
			n, ok = &c.chals, http.StatusOK
		default:
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status == ok {
			n.Add(1)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// SetTXT adds a TXT record to the in-process DNS, for dns-01 tests. challtestsrv registers its
// handler on miekg/dns's global mux, so with several CAs in one process the records of the
// last one started are served by all.
func (c *CA) SetTXT(host, value string) { c.dns.AddDNSTXTRecord(host, value) }

// ClearTXT removes every TXT record of host.
func (c *CA) ClearTXT(host string) { c.dns.DeleteDNSTXTRecord(host) }

// SetHost makes the in-process DNS answer addr (IPv4) for name from now on; Pebble resolves
// a name at each validation, so this also moves the validations of orders already placed.
// An empty addr returns name to the default, 127.0.0.1.
func (c *CA) SetHost(name, addr string) error {
	if c.dns == nil {
		return errors.New("testca: SetHost needs the in-process DNS, not DNSResolver")
	}
	if ip := net.ParseIP(addr); addr != "" && (ip == nil || ip.To4() == nil) {
		return fmt.Errorf("testca: host %s: %q is not an IPv4 address", name, addr)
	}
	c.dns.DeleteDNSARecord(name)
	if addr != "" {
		c.dns.AddDNSARecord(name, []string{addr})
	}
	return nil
}
