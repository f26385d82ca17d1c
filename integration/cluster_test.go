package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// The cluster tests run the real binary as three nodes, each
// beside its own real HAProxy on 127.0.0.2, 127.0.0.3 and 127.0.0.4, all
// on one real etcd, with Pebble resolving each name to one chosen load
// balancer. clusterEnv (cluster_env_test.go) is their world.
//
//	go test -race -count=1 -run TestCluster ./integration/

// TestClusterHarness checks the harness itself with nodes that run alone
// (no cluster: section): three HAProxy on three addresses with the same
// ports, Pebble resolving each name to the address the test chose, etcd
// answering, and the CA proxy telling which node placed each order. Each
// node's certificate resolves to its own load balancer, the only one
// whose hotcert can answer its challenge.
func TestClusterHarness(t *testing.T) {
	c := newClusterEnv(t)
	names := []string{"own1", "own2", "own3"}
	for i := range c.nodes {
		c.alone(i)
		c.want(i, names[i])
		c.point(names[i], i)
	}
	lbPids := c.haproxyPids()
	g := c.acme.hold(newOrderOf("own2"))
	c.startAll()
	if k := g.wait(clusterConverge); k != 1 {
		t.Fatalf("own2's order held at the gate came from node index %d, want 1", k)
	}
	g.open(true)
	served := map[string]*big.Int{}
	for i, n := range names {
		served[n] = c.waitServed(clusterConverge, []string{n}, i)[n]
	}
	for _, cs := range c.acme.certsSeen() {
		if cs.node < 0 || cs.serial.Cmp(served[names[cs.node]]) != 0 {
			t.Fatalf("download of serial %x attributed to node index %d; served: %v", cs.serial, cs.node, served)
		}
	}
	for i := range c.nodes {
		c.settled(i)
		for j, n := range names {
			if j == i {
				continue
			}
			if err := c.notServing(i, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := c.validations(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("validations by load balancer: %v, want one each", got)
	}
	by := c.acme.orderedBy()
	for i, n := range names {
		if !slices.Equal(by[n], []int{i}) {
			t.Fatalf("orders of %s by node index %v, want [%d]; orders: %+v", n, by[n], i, c.acme.ordersSeen())
		}
	}
	if got := c.haproxyPids(); !slices.Equal(got, lbPids) {
		t.Fatalf("HAProxy pids went from %v to %v: an instance was restarted or reloaded", lbPids, got)
	}
	if err := c.etcd.Healthy(); err != nil {
		t.Fatal(err)
	}
	if kvs, err := c.etcd.list(clusterPrefix); err != nil || len(kvs) != 0 {
		t.Fatalf("nodes that run alone wrote %d keys to etcd (%v)", len(kvs), err)
	}
	// Reading etcd as the other tests do: a prefix covers its keys only.
	for _, k := range []string{"/harness/a", "/harness/b", "/harnesz"} {
		c.etcd.put(k, "v"+k)
	}
	if kvs, err := c.etcd.list("/harness/"); err != nil || len(kvs) != 2 || string(kvs[1].Value) != "v/harness/b" {
		t.Fatalf("list /harness/: %+v %v", kvs, err)
	}
	if v, ok, err := c.etcd.get("/harnesz"); err != nil || !ok || string(v.Value) != "v/harnesz" || v.ModRevision == 0 {
		t.Fatalf("get /harnesz: %+v %v %v", v, ok, err)
	}
	c.stopAll()
}

// TestClusterSharedCertificates: six certificates in every node's file
// are ordered once each for the cluster and served by all three HAProxy
// with one serial each; no HAProxy reloads; and some validations reach a
// load balancer whose node did not place the order, whose hotcert answers
// the challenge of another.
func TestClusterSharedCertificates(t *testing.T) {
	c := newClusterEnv(t)
	names := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
	for k, n := range names {
		c.point(n, k%len(c.nodes))
	}
	// That no validation reached another node's load balancer could only
	// be chance (each node ordering exactly the names that resolve to it),
	// but then the test would prove nothing: if the first five orders all
	// matched, the sixth name is pointed at another node's load balancer,
	// before its node has the CA's answer and so before any validation.
	c.acme.setOnOrder(func(o orderSeen) {
		seen := c.acme.ordersSeen()
		if len(seen) != len(names) || o.node < 0 {
			return
		}
		for _, s := range seen[:len(seen)-1] {
			for _, n := range s.names {
				if c.host(n) != s.node {
					return
				}
			}
		}
		c.point(o.names[0], (o.node+1)%len(c.nodes))
	})
	c.joinAll(names...)
	lbPids := c.haproxyPids()
	c.startAll()
	serials := c.waitServed(clusterConverge, names, c.all()...)
	c.settledAll()
	if got := c.ca.Orders(); got != len(names) {
		t.Fatalf("the CA saw %d orders for %d certificates; orders: %+v", got, len(names), c.acme.ordersSeen())
	}
	by := c.acme.orderedBy()
	want := make([]int, len(c.nodes))
	var crossed []string
	var table strings.Builder
	for _, n := range names {
		if len(by[n]) != 1 || by[n][0] < 0 {
			t.Fatalf("%s: ordered by node indexes %v, want one known node; orders: %+v", n, by[n], c.acme.ordersSeen())
		}
		h := c.host(n)
		want[h]++
		if by[n][0] != h {
			crossed = append(crossed, n)
		}
		fmt.Fprintf(&table, "\n  %s: ordered by %s, validated through %s's HAProxy (%s), serial %x",
			n, c.nodes[by[n][0]].name, c.nodes[h].name, clusterAddrs[h], serials[n])
	}
	t.Logf("orders:%s", table.String())
	if got := c.validations(); !slices.Equal(got, want) {
		t.Fatalf("validations by load balancer: %v, want %v (one for each name resolving there)", got, want)
	}
	if len(crossed) == 0 {
		t.Fatalf("no validation reached a load balancer whose node did not place the order:%s", table.String())
	}
	if got := c.haproxyPids(); !slices.Equal(got, lbPids) {
		t.Fatalf("HAProxy pids went from %v to %v: an instance was restarted or reloaded", lbPids, got)
	}
	// What etcd holds: the bundle served, under the contract's keys, and
	// nothing outside the prefix.
	for _, n := range names {
		_, bundle, err := c.stored(n)
		if err != nil {
			t.Fatal(err)
		}
		if s := pemSerial(t, bundle.Value); s.Cmp(serials[n]) != 0 {
			t.Fatalf("etcd's bundle of %s has serial %x, HAProxy serves %x", n, s, serials[n])
		}
	}
	all, err := c.etcd.list("")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		if !strings.HasPrefix(string(k.Key), clusterPrefix) {
			t.Errorf("key %q is outside the prefix %s", k.Key, clusterPrefix)
		}
	}
	for _, n := range c.nodes {
		if strings.Contains(n.proc.Logs(), "PRIVATE KEY") {
			t.Errorf("%s logged a private key", n.name)
		}
	}
	// hotcert status shows the cluster's members and this node's serials.
	out, errOut, code := runBin(t, "status", "--config", c.nodes[1].cfgPath)
	if code != 0 || !strings.Contains(out, "cluster node node2; members: node1 node2 node3") {
		t.Errorf("hotcert status (exit %d) does not show the cluster:\n%s%s", code, out, errOut)
	}
	for _, n := range names {
		if !strings.Contains(out, fmt.Sprintf("=%x", serials[n])) {
			t.Errorf("hotcert status does not show node2's serial %x of %s:\n%s", serials[n], n, out)
		}
	}
	c.stopAll()
}

// TestClusterCertificateOfOneNode: a certificate that only node1 lists is
// served by node1 alone, though the CA validates it through node2's load
// balancer.
func TestClusterCertificateOfOneNode(t *testing.T) {
	c := newClusterEnv(t)
	c.joinAll()
	c.want(0, "solo")
	c.point("solo", 1)
	c.startAll()
	c.waitServed(clusterConverge, []string{"solo"}, 0)
	c.settledAll()
	for _, i := range []int{1, 2} {
		if err := c.notServing(i, "solo"); err != nil {
			t.Fatalf("a certificate only node1 lists: %v", err)
		}
	}
	if got := c.ca.Orders(); got != 1 {
		t.Fatalf("the CA saw %d orders, want 1", got)
	}
	if by := c.acme.orderedBy()["solo"]; !slices.Equal(by, []int{0}) {
		t.Fatalf("solo ordered by node indexes %v, want [0] (node1)", by)
	}
	if got := c.validations(); !slices.Equal(got, []int{0, 1, 0}) {
		t.Fatalf("validations by load balancer: %v, want only node2's", got)
	}
	c.stopAll()
}

// TestClusterKillWhileOrdering: the node ordering a certificate is killed
// with SIGKILL once the CA has created its order, before the node has the
// answer. The other nodes serve the certificate within lease_ttl plus one
// order (measured on a first certificate, plus 5 s for a node to notice);
// the CA sees at most one order per certificate plus one per kill; and
// the killed node, started again, serves everything without ordering.
func TestClusterKillWhileOrdering(t *testing.T) {
	c := newClusterEnv(t)
	c.joinAll("warm")
	c.point("warm", 0)
	c.startAll()
	warm := c.waitServed(clusterConverge, []string{"warm"}, c.all()...)
	oneOrder := time.Since(c.acme.ordersSeen()[0].at)

	g := c.acme.hold(newOrderOf("taken"))
	for i := range c.nodes {
		c.want(i, "warm", "taken")
	}
	k := g.wait(clusterConverge)
	if k < 0 {
		t.Fatalf("the order of taken came from no known node: %+v", c.acme.ordersSeen())
	}
	others := c.except(k)
	c.point("taken", others[0]) // a load balancer whose hotcert stays up
	c.kill(k)
	killed := time.Now()
	g.open(false)
	bound := clusterLeaseTTL + oneOrder + 5*time.Second
	taken := c.waitServed(bound, []string{"taken"}, others...)
	t.Logf("%s killed while ordering; %s and %s served taken %s later (bound %s: lease_ttl %s + one order %s + 5 s)",
		c.nodes[k].name, c.nodes[others[0]].name, c.nodes[others[1]].name,
		time.Since(killed).Round(100*time.Millisecond), bound.Round(100*time.Millisecond), clusterLeaseTTL, oneOrder.Round(100*time.Millisecond))
	if got := c.ca.Orders(); got > 2+1 {
		t.Fatalf("the CA saw %d orders, more than 2 certificates + 1 kill; orders: %+v", got, c.acme.ordersSeen())
	}

	orders := c.ca.Orders()
	c.start(k)
	again := c.waitServed(clusterConverge, []string{"warm", "taken"}, c.all()...)
	c.settled(k)
	if again["warm"].Cmp(warm["warm"]) != 0 || again["taken"].Cmp(taken["taken"]) != 0 {
		t.Fatalf("after its restart the cluster serves warm %x and taken %x, before %x and %x",
			again["warm"], again["taken"], warm["warm"], taken["taken"])
	}
	if got := c.ca.Orders(); got != orders {
		t.Fatalf("the restarted %s placed %d orders; orders: %+v", c.nodes[k].name, got-orders, c.acme.ordersSeen())
	}
	c.stopAll()
}

// TestClusterEtcdFrozen: etcd is frozen (SIGSTOP) for 20 s while every
// node's domains file adds a certificate and node3's drops one. Through
// the freeze every node stays up, completes reconcile passes, reports not
// ready, and its HAProxy serves what it served: nothing is ordered or
// removed. Within 60 s of etcd's return, every node serves the added
// certificate with one serial, and node3 alone has dropped the other.
func TestClusterEtcdFrozen(t *testing.T) {
	const freezeFor, convergeAfter = 20 * time.Second, 60 * time.Second
	c := newClusterEnv(t)
	c.joinAll("a", "b")
	c.point("a", 0)
	c.point("b", 1)
	c.point("c", 2)
	c.startAll()
	before := c.waitServed(clusterConverge, []string{"a", "b"}, c.all()...)
	lbPids := c.haproxyPids()
	orders := c.ca.Orders()

	thaw := c.etcd.freeze()
	frozenAt := time.Now()
	c.want(0, "a", "b", "c")
	c.want(1, "a", "b", "c")
	c.want(2, "a", "c")
	for i, n := range c.nodes {
		// Passes that looked at the new files: without them, that nothing
		// was ordered or removed would prove nothing.
		n.twoPasses(t, n.adminAPI(t))
		if time.Since(frozenAt) > freezeFor {
			t.Fatalf("%s took until %s into the freeze to complete two passes", c.nodes[i].name, time.Since(frozenAt))
		}
	}
	unready := make([]bool, len(c.nodes))
	for time.Since(frozenAt) < freezeFor {
		for i := range c.nodes {
			if err := c.alive(i); err != nil {
				t.Fatalf("etcd frozen: %v", err)
			}
			if code, err := c.health(i); err == nil && code == 503 {
				unready[i] = true
			}
		}
		now, err := c.servedBy([]string{"a", "b"}, c.all())
		if err != nil {
			t.Fatalf("etcd frozen %s: %v", time.Since(frozenAt).Round(time.Second), err)
		}
		for n, s := range now {
			if s.Cmp(before[n]) != 0 {
				t.Fatalf("etcd frozen: %s is served with serial %x, before %x", n, s, before[n])
			}
		}
		if got := c.ca.Orders(); got != orders {
			t.Fatalf("etcd frozen: the CA saw %d new orders", got-orders)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, u := range unready {
		if !u {
			t.Errorf("%s never reported not ready on /healthz while etcd was frozen for %s", c.nodes[i].name, freezeFor)
		}
	}
	thaw()
	thawed := time.Now()
	var after map[string]*big.Int
	eventually(t, convergeAfter, "the change applied everywhere once etcd is back", func() (err error) {
		if after, err = c.servedBy([]string{"a", "c"}, c.all()); err != nil {
			return err
		}
		b, err := c.servedBy([]string{"b"}, []int{0, 1})
		if err != nil {
			return err
		}
		after["b"] = b["b"]
		return c.notServing(2, "b")
	})
	t.Logf("converged %s after etcd came back", time.Since(thawed).Round(100*time.Millisecond))
	if after["a"].Cmp(before["a"]) != 0 || after["b"].Cmp(before["b"]) != 0 {
		t.Fatalf("a and b were re-issued: %x %x, before %x %x", after["a"], after["b"], before["a"], before["b"])
	}
	c.settledAll()
	if got := c.ca.Orders(); got != orders+1 {
		t.Fatalf("the CA saw %d orders after etcd's return, want 1 (c); orders: %+v", got-orders, c.acme.ordersSeen())
	}
	if got := c.haproxyPids(); !slices.Equal(got, lbPids) {
		t.Fatalf("HAProxy pids went from %v to %v: an instance was restarted or reloaded", lbPids, got)
	}
	c.stopAll()
}

// TestClusterNodeThatRanAlone: node1 runs alone (no cluster: section) with
// x and y while node2 and node3 form a cluster with p. node1 then joins
// the cluster, listing p too: its state moves into etcd, and it serves x
// and y with the serials it had and p with the cluster's. node2 and node3
// then list x and y and serve node1's serials. The CA sees no new order.
func TestClusterNodeThatRanAlone(t *testing.T) {
	c := newClusterEnv(t)
	c.alone(0)
	c.want(0, "x", "y")
	c.point("x", 0)
	c.point("y", 0)
	for _, i := range []int{1, 2} {
		c.join(i)
		c.want(i, "p")
	}
	c.point("p", 2)
	c.startAll()
	serials := c.waitServed(clusterConverge, []string{"p"}, 1, 2)
	for n, s := range c.waitServed(clusterConverge, []string{"x", "y"}, 0) {
		serials[n] = s
	}
	c.settled(0)
	orders := c.ca.Orders()
	if orders != 3 {
		t.Fatalf("the CA saw %d orders before node1 joined, want 3 (x and y by node1, p once for the cluster); orders: %+v",
			orders, c.acme.ordersSeen())
	}

	c.stop(0)
	c.join(0)
	c.want(0, "x", "y", "p")
	c.start(0)
	eventually(t, 60*time.Second, "node1's certificates in etcd", func() error {
		for _, n := range []string{"x", "y"} {
			_, bundle, err := c.stored(n)
			if err != nil {
				return err
			}
			if s := pemSerial(t, bundle.Value); s.Cmp(serials[n]) != 0 {
				return fmt.Errorf("etcd's bundle of %s has serial %x; node1 had %x", n, s, serials[n])
			}
		}
		return nil
	})
	all := []string{"x", "y", "p"}
	checkSame(t, "node1 in the cluster", c.waitServed(60*time.Second, all, 0), serials)
	for _, i := range []int{1, 2} {
		c.want(i, all...)
	}
	checkSame(t, "every node", c.waitServed(60*time.Second, all, c.all()...), serials)
	c.settledAll()
	if got := c.ca.Orders(); got != orders {
		t.Fatalf("joining placed %d orders; orders: %+v", got-orders, c.acme.ordersSeen())
	}
	c.stopAll()
}

// TestClusterFencing: the node ordering a certificate is frozen (SIGSTOP)
// once the CA has validated its order, before it has the answer to its
// finalize request, and stays frozen until another node has ordered the
// certificate again and every other node serves it: its lease has
// expired. Thawed, it has its answer and downloads its own certificate;
// yet etcd keeps the bundle and record the other node wrote, and every
// node, the thawed one too, serves that certificate.
func TestClusterFencing(t *testing.T) {
	c := newClusterEnv(t)
	c.joinAll("fence")
	c.point("fence", 0)
	g := c.acme.hold(finalize)
	c.startAll()
	k := g.wait(clusterConverge)
	if k < 0 {
		t.Fatalf("the finalize request came from no known node")
	}
	thaw := c.freeze(k)
	others := c.except(k)
	c.point("fence", others[0]) // a load balancer whose hotcert answers
	theirs := c.waitServed(clusterLeaseTTL+clusterConverge, []string{"fence"}, others...)["fence"]
	state, bundle, err := c.stored("fence")
	if err != nil {
		t.Fatal(err)
	}
	if s := pemSerial(t, bundle.Value); s.Cmp(theirs) != 0 {
		t.Fatalf("etcd's bundle has serial %x, the other nodes serve %x", s, theirs)
	}
	written := recordOf(t, state.Value)

	thaw()
	g.open(true)
	var mine *big.Int
	eventually(t, 60*time.Second, c.nodes[k].name+" downloads the certificate of its own order", func() error {
		for _, cs := range c.acme.certsSeen() {
			if cs.node == k {
				mine = cs.serial
				return nil
			}
		}
		return fmt.Errorf("no download by %s yet", c.nodes[k].name)
	})
	if mine.Cmp(theirs) == 0 {
		t.Fatalf("%s downloaded %x, the other node's certificate", c.nodes[k].name, mine)
	}
	c.settled(k)
	final := c.waitServed(60*time.Second, []string{"fence"}, c.all()...)["fence"]
	if final.Cmp(theirs) != 0 {
		t.Fatalf("the cluster serves %x after the thaw, %x before; %s's own was %x", final, theirs, c.nodes[k].name, mine)
	}
	state, after, err := c.stored("fence")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.Value, bundle.Value) {
		t.Fatalf("etcd's bundle changed after the thaw: serial %x, was %x", pemSerial(t, after.Value), theirs)
	}
	if now := recordOf(t, state.Value); !now.LastAttempt.Equal(written.LastAttempt) || now.Ordering {
		t.Fatalf("etcd's record was overwritten after the thaw: last_attempt %s ordering %v, was %s %v",
			now.LastAttempt, now.Ordering, written.LastAttempt, written.Ordering)
	}
	if got := c.ca.Orders(); got != 2 {
		t.Fatalf("the CA saw %d orders, want 2 (the frozen node's and the other's)", got)
	}
	c.stopAll()
}

// checkSame fails unless got has want's serial for every name it has.
func checkSame(t *testing.T, who string, got, want map[string]*big.Int) {
	t.Helper()
	for n, s := range got {
		if s.Cmp(want[n]) != 0 {
			t.Fatalf("%s: %s is served with serial %x, want %x (no new order)", who, n, s, want[n])
		}
	}
}

// pemSerial is the serial of the first certificate in a PEM bundle.
func pemSerial(t *testing.T, b []byte) *big.Int {
	t.Helper()
	certs := parseCerts(t, b)
	return certs[0].SerialNumber
}

// sharedRecord is what the fencing test reads of a record in etcd.
type sharedRecord struct {
	LastAttempt time.Time `json:"last_attempt"`
	Ordering    bool      `json:"ordering"`
}

func recordOf(t *testing.T, b []byte) sharedRecord {
	t.Helper()
	var r sharedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("etcd's record does not parse: %v\n%s", err, b)
	}
	return r
}
