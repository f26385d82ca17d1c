package integration

import (
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The cluster benchmarks run the real binary, built without the
// race detector, in the cluster harness (cluster_env_test.go): one real
// etcd 3.4, Pebble with PEBBLE_VA_NOSLEEP=1, and up to three nodes, each
// beside its own HAProxy.
//
//	go test -run '^$' -bench ClusterChangeToServed -benchtime 1x ./integration/
//	go test -run '^$' -bench ClusterEtcdTraffic    -benchtime 1x ./integration/
//	go test -run '^$' -bench ClusterTenThousand    -benchtime 1x ./integration/

// BenchmarkClusterChangeToServed is the time from a domains change (every
// running node's domains file rewritten with 1 or 50 new certificates) to
// every node's HAProxy serving each of them, checked by a TLS handshake
// with SNI on each load balancer, with one serial per certificate across
// the nodes. nodes=1 is one hotcert alone (no cluster: section), as
// before clusters existed; nodes=1-etcd is one node in a cluster of one, to tell etcd's
// share from the other nodes'; nodes=3 is the cluster. Names resolve, for
// Pebble, to the nodes in turn, so validations go through every load
// balancer. The watcher's 200 ms debounce is included.
func BenchmarkClusterChangeToServed(b *testing.B) {
	modes := []struct {
		name    string
		nodes   int
		cluster bool
	}{{"nodes=1", 1, false}, {"nodes=1-etcd", 1, true}, {"nodes=3", 3, true}}
	for _, m := range modes {
		for _, n := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/certs=%d", m.name, n), func(b *testing.B) {
				c := newClusterEnv(b)
				nodes := c.all()[:m.nodes]
				for _, i := range nodes {
					if m.cluster {
						c.join(i)
					} else {
						c.alone(i)
					}
				}
				for _, i := range nodes {
					waitLog(b, c.start(i), "first reconcile pass done", time.Minute)
				}
				var names []string
				var total time.Duration
				for it := range b.N {
					var fresh []string
					for j := range n {
						name := fmt.Sprintf("c%d-%d-%d", n, it, j)
						c.point(name, nodes[j%len(nodes)])
						fresh = append(fresh, name)
					}
					names = append(names, fresh...)
					t0 := time.Now()
					for _, i := range nodes {
						c.want(i, names...)
					}
					c.waitAllServed(b, 5*time.Minute, fresh, nodes)
					total += time.Since(t0)
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/change")
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "certs/s")
			})
		}
	}
}

// waitAllServed waits until each of nodes serves each of names, checking
// only the pairs not yet seen served, and fails if two nodes serve one
// name with different serials.
func (c *clusterEnv) waitAllServed(tb testing.TB, limit time.Duration, names []string, nodes []int) {
	tb.Helper()
	type pair struct {
		node int
		name string
	}
	var pending []pair
	for _, name := range names {
		for _, i := range nodes {
			pending = append(pending, pair{i, name})
		}
	}
	serials := map[string]*big.Int{}
	deadline := time.Now().Add(limit)
	for len(pending) > 0 {
		if err := c.exited(); err != nil {
			tb.Fatal(err)
		}
		var left []pair
		for _, p := range pending {
			s, err := c.serving(p.node, p.name)
			if err != nil {
				left = append(left, p)
				continue
			}
			if first, ok := serials[p.name]; ok && first.Cmp(s) != 0 {
				tb.Fatalf("%s: node index %d serves serial %x, another node %x", p.name, p.node, s, first)
			}
			serials[p.name] = s
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d (node, certificate) pairs not served within %s, e.g. %+v", len(pending), len(names)*len(nodes), limit, pending[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// etcdMetrics is a scrape of etcd's own Prometheus metrics, from its
// client URL.
type etcdMetrics map[string]float64

func (s *etcdServer) metrics(tb testing.TB) etcdMetrics {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(s.Endpoint() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		tb.Fatalf("etcd /metrics: %v", err)
	}
	return flattenMetrics(fams)
}

// sum adds every series of metric family name.
func (m etcdMetrics) sum(name string) float64 {
	var t float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			t += v
		}
	}
	return t
}

// etcdTraffic is what etcd served between two scrapes: round trips are
// gRPC messages etcd received (one per unary call, one per message on a
// stream: a watch created or cancelled, a lease keep-alive), bytes are
// etcd's own counts of the bytes of gRPC client traffic.
type etcdTraffic struct {
	msgs, recvBytes, sentBytes float64
	byMethod                   map[string]float64
}

func etcdDelta(a, b etcdMetrics) etcdTraffic {
	d := etcdTraffic{
		msgs:      b.sum("grpc_server_msg_received_total") - a.sum("grpc_server_msg_received_total"),
		recvBytes: b.sum("etcd_network_client_grpc_received_bytes_total") - a.sum("etcd_network_client_grpc_received_bytes_total"),
		sentBytes: b.sum("etcd_network_client_grpc_sent_bytes_total") - a.sum("etcd_network_client_grpc_sent_bytes_total"),
		byMethod:  map[string]float64{},
	}
	for k, v := range b {
		if !strings.HasPrefix(k, "grpc_server_msg_received_total{") {
			continue
		}
		if dv := v - a[k]; dv != 0 {
			method := k
			if i := strings.Index(k, `grpc_method="`); i >= 0 {
				method = k[i+len(`grpc_method="`):]
				method = method[:strings.IndexByte(method, '"')]
			}
			d.byMethod[method] += dv
		}
	}
	return d
}

func (d etcdTraffic) String() string {
	var ms []string
	for k := range d.byMethod {
		ms = append(ms, k)
	}
	sort.Strings(ms)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%.0f round trips, %.0f bytes received, %.0f sent; by method:", d.msgs, d.recvBytes, d.sentBytes)
	for _, k := range ms {
		fmt.Fprintf(&sb, " %s=%.0f", k, d.byMethod[k])
	}
	return sb.String()
}

// BenchmarkClusterEtcdTraffic reads etcd's own metrics around the
// issuance of N certificates in the three-node cluster, and over an idle
// minute before (no certificates) and after (N certificates), and reports
//
//	rt/cert         gRPC messages etcd received per certificate, from the domains change until all three serve it
//	recv-B/cert     bytes etcd received per certificate, same window
//	sent-B/cert     bytes etcd sent per certificate, same window
//	idle0-rt/min    round trips per minute of the idle cluster with no certificates
//	idleN-rt/min    round trips per minute of the idle cluster with N certificates
//	idleN-B/min     bytes (received plus sent) per minute of the idle cluster with N certificates
//
// The issuance window includes the idle traffic of its own duration
// (reported separately; a few seconds' worth).
func BenchmarkClusterEtcdTraffic(b *testing.B) {
	const idle = 30 * time.Second
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			c := newClusterEnv(b)
			for i := range c.nodes {
				c.join(i)
			}
			for i := range c.nodes {
				waitLog(b, c.start(i), "first reconcile pass done", time.Minute)
			}
			time.Sleep(2 * time.Second) // the nodes' start-up writes settle
			var rt, recv, sent, idle0, idleN, idleNB, took float64
			for it := range b.N {
				m0 := c.etcd.metrics(b)
				time.Sleep(idle)
				m1 := c.etcd.metrics(b)
				i0 := etcdDelta(m0, m1)
				b.Logf("idle, %d certificates, %s: %s", it*n, idle, i0)
				idle0 += i0.msgs * float64(time.Minute) / float64(idle)

				var names []string
				for j := range (it + 1) * n {
					names = append(names, fmt.Sprintf("t%d", j))
					c.point(names[j], j%len(c.nodes))
				}
				t0 := time.Now()
				for i := range c.nodes {
					c.want(i, names...)
				}
				c.waitAllServed(b, 5*time.Minute, names[it*n:], c.all())
				took += time.Since(t0).Seconds()
				m2 := c.etcd.metrics(b)
				iss := etcdDelta(m1, m2)
				b.Logf("issuing %d in %s: %s", n, time.Since(t0).Round(time.Millisecond), iss)
				rt += iss.msgs / float64(n)
				recv += iss.recvBytes / float64(n)
				sent += iss.sentBytes / float64(n)

				time.Sleep(5 * time.Second) // what follows the last certificate served
				m3 := c.etcd.metrics(b)
				b.Logf("the 5 s after: %s", etcdDelta(m2, m3))
				time.Sleep(idle)
				m4 := c.etcd.metrics(b)
				iN := etcdDelta(m3, m4)
				b.Logf("idle, %d certificates, %s: %s", (it+1)*n, idle, iN)
				idleN += iN.msgs * float64(time.Minute) / float64(idle)
				idleNB += (iN.recvBytes + iN.sentBytes) * float64(time.Minute) / float64(idle)
			}
			N := float64(b.N)
			b.ReportMetric(rt/N, "rt/cert")
			b.ReportMetric(recv/N, "recv-B/cert")
			b.ReportMetric(sent/N, "sent-B/cert")
			b.ReportMetric(idle0/N, "idle0-rt/min")
			b.ReportMetric(idleN/N, "idleN-rt/min")
			b.ReportMetric(idleNB/N, "idleN-B/min")
			b.ReportMetric(took/N, "issue-s")
		})
	}
}

// BenchmarkClusterTenThousand is one node in a cluster with 10,000
// certificates, through the real binary: its HAProxy already serves them
// (as in BenchmarkTenThousandCertificates), and the node's state_dir holds
// them, so its first start in the cluster imports them into etcd, and its
// second loads them from etcd. No ACME is needed. It reports
//
//	first-startup-s   first start in the cluster, until the first pass is done (the import goes on beside it)
//	import-s          first start until its 10,000 records are in etcd
//	startup-s         second start: 10,000 records loaded from etcd, until the first pass is done
//	rss-MB            resident memory after the second start's first pass
//	reload-cpu-ms     CPU for re-reading the unchanged 10,000-entry domains file and the pass it asks for
//	pass-cpu-ms       CPU of the idle process over two minutes, by the verify passes it ran (every 30 s)
//	edit-ms           an edit adding one certificate (issued earlier, in etcd) until served over TLS
func BenchmarkClusterTenThousand(b *testing.B) {
	const n = 10_000
	c := newClusterEnv(b)
	e := c.nodes[0]
	h := e.lbs[0]
	names := fillStores(b, e, n)
	h.StartTimeout = time.Minute
	h.restart()
	all := domainsYAML(names, nil)
	withExtra := domainsYAML(append(names[:n:n], "extra"), nil)
	c.join(0)
	e.writeDomains(all)
	if b.N > 1 {
		// the next iteration's first start would find the import done
		b.Skip("run with -benchtime 1x")
	}
	var first, imp, startup, rss, reload, pass, edit float64
	for range b.N {
		t0 := time.Now()
		p := c.start(0)
		waitLog(b, p, "first reconcile pass done", 10*time.Minute)
		first += time.Since(t0).Seconds()
		// The import runs beside the daemon: wait for its end, or the
		// second start would finish it.
		waitLog(b, p, "moved this node's standalone state into etcd", 10*time.Minute)
		imp += time.Since(t0).Seconds()
		c.stop(0)

		t0 = time.Now()
		p = c.start(0)
		waitLog(b, p, "first reconcile pass done", 10*time.Minute)
		startup += time.Since(t0).Seconds()
		pid := p.cmd.Process.Pid
		rss += float64(procRSS(b, pid)) / (1 << 20)
		nothingDone(b, c.ca, p)

		const reloads = 5
		cpu0 := procCPU(b, pid)
		for i := range reloads {
			e.writeDomains(all)
			waitLogCount(b, p, "domains file loaded", i+2, time.Minute)
			time.Sleep(500 * time.Millisecond)
		}
		reload += float64((procCPU(b, pid) - cpu0).Milliseconds()) / reloads

		api := e.adminAPI(b)
		passes0 := api.passes()
		cpu0 = procCPU(b, pid)
		time.Sleep(2 * time.Minute)
		cpu1 := procCPU(b, pid)
		passes := api.passes() - passes0
		if passes < 1 {
			b.Fatalf("no pass in two idle minutes")
		}
		b.Logf("idle two minutes: %v CPU, %v passes", cpu1-cpu0, passes)
		pass += float64((cpu1 - cpu0).Milliseconds()) / passes

		t1 := time.Now()
		e.writeDomains(withExtra)
		h.waitServed("extra.example.test", e.bundle(0, "extra"), time.Minute)
		edit += float64(time.Since(t1).Milliseconds())
		e.writeDomains(all)
		c.stop(0)
	}
	N := float64(b.N)
	b.ReportMetric(first/N, "first-startup-s")
	b.ReportMetric(imp/N, "import-s")
	b.ReportMetric(startup/N, "startup-s")
	b.ReportMetric(rss/N, "rss-MB")
	b.ReportMetric(reload/N, "reload-cpu-ms")
	b.ReportMetric(pass/N, "pass-cpu-ms")
	b.ReportMetric(edit/N, "edit-ms")
}
