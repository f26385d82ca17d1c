package integration

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/lab"
	"github.com/hotcert/hotcert/internal/testca"
)

// The cluster tests' world: one real etcd, Pebble, and three
// nodes. Node i is a hotcert with its own directory, hotcert.yaml,
// state_dir and domains file, and its own HAProxy, all on its own address
// 127.0.0.(i+2), with the same HTTPS, HTTP, challenge and admin ports on
// each address, as load balancers behind one name have. Pebble validates
// http-01 on that shared HTTP port of the address a name resolves to,
// which the test chooses for each name.

// clusterAddrs are the nodes' addresses. On Linux every address of
// 127.0.0.0/8 is loopback without any configuration.
var clusterAddrs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

const (
	clusterLeaseTTL = 3 * time.Second
	clusterPrefix   = "/hotcert-itest/"
	// clusterConverge bounds first issuance and convergence after a
	// change: orders take about a second (PEBBLE_VA_NOSLEEP), the nodes
	// run with the race detector on two shared cores.
	clusterConverge = 90 * time.Second
)

type clusterEnv struct {
	t     testing.TB
	ca    *testca.CA
	etcd  *etcdServer
	nodes []*env
	acme  *caTraffic

	mu    sync.Mutex
	pids  []int          // node i's running hotcert, 0 when none: read by the CA proxy's hook
	hosts map[string]int // certificate name → the node whose address its name resolves to
}

// newClusterEnv starts etcd, Pebble behind a watching proxy, and the three
// load balancers; no hotcert yet, and every node's domains file is empty.
// Call join or alone for each node, then start.
func newClusterEnv(t testing.TB) *clusterEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs three hotcert, three HAProxy, etcd and Pebble")
	}
	// Orders in about a second, so that the bounds are lease_ttl plus an
	// order or two; and every order validates its names, so that the
	// validations each load balancer took can be counted.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	needTool(t, "haproxy")
	c := &clusterEnv{t: t, pids: make([]int, len(clusterAddrs)), hosts: map[string]int{}}
	c.etcd = startEtcd(t)
	var ports []int
	for len(ports) < 4 {
		p, err := lab.FreePortOn(clusterAddrs...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	httpsPort, httpPort, challenge, admin := ports[0], ports[1], ports[2], ports[3]
	ca, err := testca.Start(testca.Options{HTTPPort: httpPort})
	if err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() { ca.Close() })
	c.ca = ca
	// One proxy for all nodes: a cluster shares one account, which Pebble
	// names by a URL on the host the client used, so every node must use
	// the same directory URL. The proxy tells the nodes apart by their
	// connections.
	c.acme = &caTraffic{c: c}
	proxy, err := ca.NewProxy(c.acme.hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	root := t.TempDir()
	for i, addr := range clusterAddrs {
		lb := startHAProxyWith(t, lab.Options{Addr: addr, HTTPSPort: httpsPort, HTTPPort: httpPort,
			Challenge: net.JoinHostPort(addr, strconv.Itoa(challenge))})
		n := &env{t: t, ca: ca, lbs: []*haproxy{lb}, dir: filepath.Join(root, fmt.Sprintf("node%d", i+1)),
			name: fmt.Sprintf("node%d", i+1), host: addr, challenge: challenge, admin: admin, directory: proxy.DirectoryURL}
		if err := os.Mkdir(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		n.layout()
		n.writeDomains("certificates: []\n")
		c.nodes = append(c.nodes, n)
	}
	// Runs after the nodes are killed (cleanups run last first), with
	// their logs still in memory.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range c.nodes {
			if n.proc != nil {
				t.Logf("last log lines of %s:\n%s", n.name, logTail(n.proc, 150))
			}
		}
	})
	return c
}

// all is every node's index.
func (c *clusterEnv) all() []int {
	out := make([]int, len(c.nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

// join writes node i's hotcert.yaml with the cluster: section.
func (c *clusterEnv) join(i int) {
	n := c.nodes[i]
	n.extraConfig = fmt.Sprintf(`cluster:
  node: %s
  etcd:
    endpoints: [%s]
    prefix: %s
  lease_ttl: %s
`, n.name, c.etcd.Endpoint(), clusterPrefix, clusterLeaseTTL)
	n.writeConfig()
}

// except is every node's index but k's.
func (c *clusterEnv) except(k int) []int {
	return slices.DeleteFunc(c.all(), func(i int) bool { return i == k })
}

// joinAll puts every node in the cluster, each listing names.
func (c *clusterEnv) joinAll(names ...string) {
	for i := range c.nodes {
		c.join(i)
		c.want(i, names...)
	}
}

// startAll starts every node's hotcert.
func (c *clusterEnv) startAll() {
	c.t.Helper()
	for i := range c.nodes {
		c.start(i)
	}
}

// stopAll stops every node's hotcert with SIGTERM, each expected to exit
// cleanly.
func (c *clusterEnv) stopAll() {
	c.t.Helper()
	for i := range c.nodes {
		c.stop(i)
	}
}

// alone writes node i's hotcert.yaml without a cluster: section: it runs
// on its own, with its state in state_dir.
func (c *clusterEnv) alone(i int) {
	c.nodes[i].extraConfig = ""
	c.nodes[i].writeConfig()
}

// want writes node i's domains file: certificates named n with the name
// n.example.test.
func (c *clusterEnv) want(i int, names ...string) {
	c.nodes[i].writeDomains(domainsYAML(names, nil))
}

// point makes the CA resolve certificate name's name to node i's address,
// so that its validations go through node i's HAProxy. The CA proxy's
// hook calls it too, so it cannot fail the test; SetHost takes every
// address of clusterAddrs.
func (c *clusterEnv) point(name string, i int) {
	c.mu.Lock()
	c.hosts[name] = i
	c.mu.Unlock()
	_ = c.ca.SetHost(name+".example.test", clusterAddrs[i])
}

// host is the node whose load balancer validates certificate name.
func (c *clusterEnv) host(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[name]
}

func (c *clusterEnv) start(i int) *process {
	c.t.Helper()
	p := c.nodes[i].start()
	c.setPid(i, p.cmd.Process.Pid)
	return p
}

// kill sends SIGKILL to node i's hotcert and waits for it.
func (c *clusterEnv) kill(i int) {
	c.nodes[i].proc.kill()
	c.setPid(i, 0)
}

// stop sends SIGTERM to node i's hotcert and expects a clean exit.
func (c *clusterEnv) stop(i int) {
	c.t.Helper()
	c.nodes[i].proc.stop(c.t)
	c.setPid(i, 0)
}

// freeze stops node i's hotcert with SIGSTOP; the returned func sends
// SIGCONT, and so does the test's cleanup should it fail meanwhile.
func (c *clusterEnv) freeze(i int) (thaw func()) {
	c.t.Helper()
	pid := c.nodes[i].proc.cmd.Process.Pid
	thaw = func() { syscall.Kill(pid, syscall.SIGCONT) }
	c.t.Cleanup(thaw)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	return thaw
}

func (c *clusterEnv) setPid(i, pid int) {
	c.mu.Lock()
	c.pids[i] = pid
	c.mu.Unlock()
}

// exited reports a node that was started, and neither killed nor
// stopped since, whose hotcert has exited: waiting for it to serve would
// only run out the clock.
func (c *clusterEnv) exited() error {
	c.mu.Lock()
	pids := slices.Clone(c.pids)
	c.mu.Unlock()
	for i, pid := range pids {
		if pid == 0 {
			continue
		}
		if err := c.alive(i); err != nil {
			return err
		}
	}
	return nil
}

// alive reports node i's hotcert having exited.
func (c *clusterEnv) alive(i int) error {
	p := c.nodes[i].proc
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("%s exited: %v", c.nodes[i].name, err)
	default:
		return nil
	}
}

// serving checks that node i's HAProxy serves certificate name with the
// bundle in its cert_dir, and returns the serial.
func (c *clusterEnv) serving(i int, name string) (*big.Int, error) {
	n := c.nodes[i]
	onDisk, err := lab.LeafFile(n.bundle(0, name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	got, err := n.lbs[0].Served(name+".example.test", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.name, err)
	}
	if got.SerialNumber.Cmp(onDisk.SerialNumber) != 0 {
		return nil, fmt.Errorf("%s serves %s with serial %x; its cert_dir has %x", n.name, name, got.SerialNumber, onDisk.SerialNumber)
	}
	return got.SerialNumber, nil
}

// servedBy checks that each of nodes serves each of names, all with the
// same serial for a name, and returns the serials.
func (c *clusterEnv) servedBy(names []string, nodes []int) (map[string]*big.Int, error) {
	out := map[string]*big.Int{}
	for _, name := range names {
		for _, i := range nodes {
			s, err := c.serving(i, name)
			if err != nil {
				return nil, err
			}
			if first, ok := out[name]; ok && first.Cmp(s) != 0 {
				return nil, fmt.Errorf("%s: %s serves serial %x, %s serves %x", name, c.nodes[nodes[0]].name, first, c.nodes[i].name, s)
			}
			out[name] = s
		}
	}
	return out, nil
}

// waitServed waits until each of nodes serves each of names with one
// serial per name, and returns the serials.
func (c *clusterEnv) waitServed(limit time.Duration, names []string, nodes ...int) map[string]*big.Int {
	c.t.Helper()
	var out map[string]*big.Int
	eventually(c.t, limit, fmt.Sprintf("%v served by nodes %v with one serial each", names, nodes), func() (err error) {
		if err := c.exited(); err != nil {
			c.t.Fatal(err)
		}
		out, err = c.servedBy(names, nodes)
		return err
	})
	return out
}

// notServing checks that node i's HAProxy serves the placeholder for
// name, that its crt-list does not name it, and that its cert_dir has no
// bundle of it.
func (c *clusterEnv) notServing(i int, name string) error {
	n := c.nodes[i]
	if err := servesPlaceholder(n.lbs[0], name+".example.test"); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	list, err := os.ReadFile(n.lbs[0].CrtList)
	if err != nil {
		return err
	}
	if strings.Contains(string(list), n.bundle(0, name)) {
		return fmt.Errorf("%s's crt-list names %s", n.name, name)
	}
	if _, err := os.Stat(n.bundle(0, name)); err == nil {
		return fmt.Errorf("%s's cert_dir has %s", n.name, n.bundle(0, name))
	}
	return nil
}

// settled returns once node i has completed two reconcile passes that
// began after the call (SIGHUP asks for them), and fails the test if any
// of them decided to order something: proof, by the pass counter and not
// by a sleep, that the node had every chance to act.
func (c *clusterEnv) settled(i int) {
	c.t.Helper()
	if err := c.exited(); err != nil {
		c.t.Fatal(err)
	}
	n := c.nodes[i]
	if o := ordering(n.statusAfterTwoPasses(c.t, n.adminAPI(c.t))); len(o) != 0 {
		c.t.Fatalf("%s decided to order %v", n.name, o)
	}
}

// settledAll is settled for every node.
func (c *clusterEnv) settledAll() {
	c.t.Helper()
	for i := range c.nodes {
		c.settled(i)
	}
}

// health is node i's /healthz status code.
func (c *clusterEnv) health(i int) (int, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + c.nodes[i].hostPort(c.nodes[i].admin) + "/healthz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// pebbleFetches is how many requests Pebble's VA sends for one http-01
// validation: it fetches the token three times at once, as a CA checking
// from several vantage points does.
const pebbleFetches = 3

// validations is how many http-01 validations each node's HAProxy took:
// the requests on its HTTP port, where only Pebble connects, by
// pebbleFetches.
func (c *clusterEnv) validations() []int {
	c.t.Helper()
	out := make([]int, len(c.nodes))
	for i, n := range c.nodes {
		v, err := n.lbs[0].HTTPRequests()
		if err != nil {
			c.t.Fatalf("%s's HAProxy: %v", n.name, err)
		}
		if v%pebbleFetches != 0 {
			c.t.Fatalf("%s's HAProxy took %d requests, not validations of %d each", n.name, v, pebbleFetches)
		}
		out[i] = v / pebbleFetches
	}
	return out
}

// haproxyPids is each load balancer's worker pid, to show that none was
// restarted or reloaded.
func (c *clusterEnv) haproxyPids() []int {
	out := make([]int, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.lbs[0].pid()
	}
	return out
}

// stored reads certificate name's shared record and its ecdsa-p256 bundle
// from etcd, under the keys of the cluster contract.
func (c *clusterEnv) stored(name string) (state, bundle kv, err error) {
	state, ok, err := c.etcd.get(clusterPrefix + "certs/" + name + "/state")
	if err == nil && !ok {
		err = fmt.Errorf("etcd holds no record of %s", name)
	}
	if err != nil {
		return kv{}, kv{}, err
	}
	bundle, ok, err = c.etcd.get(clusterPrefix + "certs/" + name + "/bundle/ecdsa-p256")
	if err == nil && !ok {
		err = fmt.Errorf("etcd holds no bundle of %s", name)
	}
	return state, bundle, err
}
