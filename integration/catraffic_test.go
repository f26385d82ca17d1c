package integration

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
)

// caTraffic watches what the nodes ask the CA: which node placed each
// order and downloaded each certificate. A gate holds the CA's answer to
// one request until the test lets it go, so that a node can be killed or
// frozen in the middle of an order, at a known step.
type caTraffic struct {
	c *clusterEnv

	mu     sync.Mutex
	orders []orderSeen
	certs  []certSeen
	gates  []*gate
	// onOrder runs in the proxy for each new order, before the node has
	// the CA's answer: before anything of the order is validated.
	onOrder func(orderSeen)
}

type orderSeen struct {
	node  int // -1 when the test could not tell (the error says why)
	err   error
	names []string
	at    time.Time
}

type certSeen struct {
	node   int
	serial *big.Int
	at     time.Time
}

// gate holds the answer to the first request that matches.
type gate struct {
	c       *clusterEnv
	match   func(x *testca.Exchange, names []string) bool
	fired   bool
	reached chan int  // the node that sent the request
	release chan bool // true delivers the answer, false drops it
}

// hold sets a gate on the first request that match accepts (names are
// the order's, for a new order).
func (w *caTraffic) hold(match func(x *testca.Exchange, names []string) bool) *gate {
	g := &gate{c: w.c, match: match, reached: make(chan int, 1), release: make(chan bool, 1)}
	w.mu.Lock()
	w.gates = append(w.gates, g)
	w.mu.Unlock()
	// Whatever happens to the test, the proxy's handler must end.
	w.c.t.Cleanup(func() {
		select {
		case g.release <- false:
		default: // an answer is already waiting there
		}
	})
	return g
}

// newOrderOf matches the new order for certificate name.
func newOrderOf(name string) func(*testca.Exchange, []string) bool {
	return func(x *testca.Exchange, names []string) bool { return isNewOrder(x) && slices.Contains(names, name) }
}

// finalize matches a finalize request: the order is validated, and the
// node waits for its certificate.
func finalize(x *testca.Exchange, _ []string) bool {
	return strings.HasPrefix(x.Path, "/finalize-order/")
}

// wait returns the node whose request reached the gate.
func (g *gate) wait(limit time.Duration) int {
	t := g.c.t
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case n := <-g.reached:
			return n
		case <-deadline:
			t.Fatalf("no request reached the gate within %s", limit)
		case <-time.After(100 * time.Millisecond):
			if err := g.c.exited(); err != nil {
				t.Fatalf("waiting for a request at the gate: %v", err)
			}
		}
	}
}

// open lets the held answer go to the node (deliver) or drops it.
func (g *gate) open(deliver bool) { g.release <- deliver }

func isNewOrder(x *testca.Exchange) bool {
	return x.Method == http.MethodPost && x.Path == "/order-plz" && x.Status == http.StatusCreated
}

func (w *caTraffic) hook(x *testca.Exchange) bool {
	var names []string
	isCert := strings.HasPrefix(x.Path, "/certZ/") && x.Status == http.StatusOK
	node, err := -1, error(nil)
	if isNewOrder(x) || isCert || finalize(x, nil) {
		node, err = w.c.owner(x.Remote, x.Local)
	}
	if isNewOrder(x) {
		names = orderNames(x.Response)
		o := orderSeen{node: node, err: err, names: names, at: time.Now()}
		w.mu.Lock()
		w.orders = append(w.orders, o)
		f := w.onOrder
		w.mu.Unlock()
		if f != nil {
			f(o)
		}
	}
	if isCert {
		if blk, _ := pem.Decode(x.Response); blk != nil {
			if leaf, err := x509.ParseCertificate(blk.Bytes); err == nil {
				w.mu.Lock()
				w.certs = append(w.certs, certSeen{node: node, serial: leaf.SerialNumber, at: time.Now()})
				w.mu.Unlock()
			}
		}
	}
	w.mu.Lock()
	var g *gate
	for _, c := range w.gates {
		if !c.fired && c.match(x, names) {
			c.fired, g = true, c
			break
		}
	}
	w.mu.Unlock()
	if g == nil {
		return true
	}
	g.reached <- node
	return <-g.release
}

// setOnOrder sets the func run for each new order; see onOrder.
func (w *caTraffic) setOnOrder(f func(orderSeen)) {
	w.mu.Lock()
	w.onOrder = f
	w.mu.Unlock()
}

// ordersSeen is a copy of the new orders so far.
func (w *caTraffic) ordersSeen() []orderSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.orders)
}

// certsSeen is a copy of the certificate downloads so far.
func (w *caTraffic) certsSeen() []certSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.certs)
}

// orderedBy is the node that placed each certificate's orders, in order.
func (w *caTraffic) orderedBy() map[string][]int {
	out := map[string][]int{}
	for _, o := range w.ordersSeen() {
		for _, n := range o.names {
			out[n] = append(out[n], o.node)
		}
	}
	return out
}

// orderNames are the certificate names of a new order's identifiers
// (n.example.test is certificate n).
func orderNames(body []byte) []string {
	var o struct{ Identifiers []struct{ Value string } }
	if json.Unmarshal(body, &o) != nil {
		return nil
	}
	var out []string
	for _, id := range o.Identifiers {
		out = append(out, strings.TrimSuffix(id.Value, ".example.test"))
	}
	return out
}

// owner is the node whose hotcert holds the client end of the connection
// from remote.
func (c *clusterEnv) owner(remote, proxy string) (int, error) {
	c.mu.Lock()
	pids := slices.Clone(c.pids)
	c.mu.Unlock()
	return connOwner(remote, proxy, pids)
}

// connOwner returns the index in pids of the process that holds the
// client end of the loopback TCP connection whose client address is
// remote (127.0.0.1:port): the socket whose local port that is, in
// /proc/net/tcp, and the process with that socket among its open files.
// The connection is open while the proxy handles its request, so the
// lookup cannot miss a process that is alive.
func connOwner(remote, proxy string, pids []int) (int, error) {
	local, err := procAddr(remote)
	if err != nil {
		return -1, err
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return -1, err
	}
	// The same local port can also be in the table for a connection to
	// another peer, or in TIME_WAIT with no socket (inode 0): the line must
	// name the proxy as its peer and a live socket.
	peer, _ := procAddr(proxy)
	targets := map[string]bool{}
	for _, l := range strings.Split(string(table), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 9 && f[1] == local && (peer == "" || f[2] == peer) && f[9] != "0" {
			targets["socket:["+f[9]+"]"] = true
		}
	}
	if len(targets) == 0 {
		return -1, fmt.Errorf("no socket on %s in /proc/net/tcp", remote)
	}
	for i, pid := range pids {
		if pid == 0 {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); targets[l] {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no node holds the connection from %s (sockets %v)", remote, targets)
}

// procAddr writes an IPv4 host:port as /proc/net/tcp does: the address's
// four bytes as one little-endian hexadecimal number, then the port.
func procAddr(hostPort string) (string, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host).To4()
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return "", fmt.Errorf("not an IPv4 host:port: %q", hostPort)
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p), nil
}
