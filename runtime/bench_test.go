package runtime

// Benchmarks against a real HAProxy holding 1,000 and 10,000 certificates.
// They start HAProxy themselves and take a minute or two each; run one at a
// time, for example:
//
//	go test -run '^$' -bench 'HotUpdate|PushAll|Reload' -benchtime 1x ./runtime/
//
// (HotUpdate times its own operations; give it -benchtime 300x.)

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var benchSizes = []int{1000, 10000}

// benchCerts makes bundles fast: one ECDSA key shared by every leaf, one
// CA. Bundles are kept for the whole run, keyed by count.
type benchCerts struct {
	ca  *testCA
	key *ecdsa.PrivateKey
}

var (
	benchOnce sync.Once
	benchGen  *benchCerts
	benchMu   sync.Mutex
	benchSets = map[int][][]byte{}
)

func certsFor(b *testing.B, n int) (*benchCerts, [][]byte) {
	b.Helper()
	benchOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(b, err)
		benchGen = &benchCerts{ca: newCA(b), key: key}
	})
	benchMu.Lock()
	defer benchMu.Unlock()
	if set, ok := benchSets[n]; ok {
		return benchGen, set
	}
	set := make([][]byte, n)
	for i := range set {
		set[i], _ = benchGen.leaf(b, benchName(i))
	}
	benchSets[n] = set
	return benchGen, set
}

func benchName(i int) string { return fmt.Sprintf("site%05d", i) }

var benchKeyPEM = sync.OnceValue(func() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(benchGen.key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
})

func (g *benchCerts) leaf(b testing.TB, name string) ([]byte, *big.Int) {
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(b),
		Subject:      pkix.Name{CommonName: name + ".test"},
		DNSNames:     []string{name + ".test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, g.ca.cert, &g.key.PublicKey, g.ca.key)
	must(b, err)
	var out bytes.Buffer
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: g.ca.cert.Raw})
	out.Write(benchKeyPEM())
	return out.Bytes(), tmpl.SerialNumber
}

// loadedHAProxy starts an HAProxy whose crt-list already holds the bundles.
func loadedHAProxy(b *testing.B, g *benchCerts, set [][]byte, args ...string) *haproxy {
	b.Helper()
	h := newHAProxy(b, g.ca)
	var list bytes.Buffer
	list.WriteString(strings.TrimSpace(mustRead(b, h.crtList)) + "\n")
	for i, bundle := range set {
		path := h.client("").Path(benchName(i))
		must(b, os.WriteFile(path, bundle, 0o600))
		list.WriteString(path + "\n")
	}
	must(b, os.WriteFile(h.crtList, list.Bytes(), 0o644))
	h.startLimit = max(time.Minute, time.Duration(len(set))*3*time.Millisecond) // 100,000 take minutes
	start := time.Now()
	h.start(b, args...)
	b.Logf("HAProxy started with %d certificates in %v", len(set), time.Since(start))
	return h
}

func mustRead(b testing.TB, path string) string {
	data, err := os.ReadFile(path)
	must(b, err)
	return string(data)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkHotUpdate renews one certificate in place while HAProxy holds N.
// push is the whole Push (PEM written and fsynced, crt-list file checked,
// abort probe, set, commit with read-back); socket is the runtime API part
// alone; loaded is Loaded when nothing changed (one show info).
func BenchmarkHotUpdate(b *testing.B) {
	if testing.Short() {
		b.Skip("starts HAProxy with thousands of certificates")
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g, _, c, full := fullLoad(b, n, time.Now)
			ctx := context.Background()
			b.Logf("first Loaded (full scan of %d stores) took %v", n, full)
			name := benchName(n / 2)
			renewals := make([][]byte, 16)
			for i := range renewals {
				renewals[i], _ = g.leaf(b, name)
			}
			timed := func(b *testing.B, op func(i int) error) {
				var times []time.Duration
				for i := 0; b.Loop(); i++ {
					t0 := time.Now()
					if err := op(i); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t0))
				}
				b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(percentile(times, 0.9).Microseconds())/1000, "p90-ms")
			}
			b.Run("push", func(b *testing.B) {
				timed(b, func(i int) error { return c.Push(ctx, name, renewals[i%len(renewals)]) })
			})
			b.Run("socket", func(b *testing.B) {
				path := c.Path(name)
				bundles := make([]sanitised, len(renewals))
				for i, r := range renewals {
					bundles[i], _ = sanitise(r)
				}
				timed(b, func(i int) error {
					bd := bundles[i%len(bundles)]
					unlock, _ := lock(ctx, c.cert)
					defer unlock()
					return c.load(ctx, name, "set ssl cert "+path+" <<\n"+string(bd.pem), bd.serial)
				})
			})
			b.Run("loaded", func(b *testing.B) {
				timed(b, func(int) error { _, err := c.Loaded(ctx); return err })
			})
			start := time.Now()
			_, stores, err := c.stores(ctx)
			must(b, err)
			b.Logf("one `show ssl cert` listing of %d stores took %v", len(stores), time.Since(start))
		})
	}
}

// BenchmarkPushAll pushes N new certificates into an HAProxy that has none,
// three ways, each on a fresh HAProxy: raw writes the commands a careful
// operator would send (new, set, commit, add; one connection each) straight
// to the socket; client is the Client's runtime API part (abort probe,
// new+set, commit+read-back+add); push is the whole Push (sanitise, PEM and
// crt-list written and fsynced, then the socket).
func BenchmarkPushAll(b *testing.B) {
	if testing.Short() {
		b.Skip("starts HAProxy with thousands of certificates")
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g, set := certsFor(b, n)
			clean := make([]sanitised, n)
			for i, raw := range set {
				clean[i], _ = sanitise(raw)
			}
			ways := []struct {
				name string
				push func(b *testing.B, h *haproxy, c *Client, i int)
			}{
				{"raw", func(b *testing.B, h *haproxy, c *Client, i int) { rawPush(b, h, c.Path(benchName(i)), clean[i].pem) }},
				{"rawsame", func(b *testing.B, h *haproxy, c *Client, i int) { rawSame(b, h, c.Path(benchName(i)), clean[i].pem) }},
				{"client", func(b *testing.B, h *haproxy, c *Client, i int) {
					path := c.Path(benchName(i))
					must(b, c.load(context.Background(), benchName(i), "set ssl cert "+path+" <<\n"+string(clean[i].pem), clean[i].serial))
				}},
				{"push", func(b *testing.B, h *haproxy, c *Client, i int) {
					must(b, c.Push(context.Background(), benchName(i), set[i]))
				}},
			}
			rate := map[string]float64{}
			for range b.N {
				for _, w := range ways {
					h := startHAProxy(b, g.ca)
					c := h.client("lb1")
					_, err := c.Loaded(context.Background())
					must(b, err)
					start := time.Now()
					for i := range n {
						w.push(b, h, c, i)
					}
					rate[w.name] = float64(n) / time.Since(start).Seconds()
					sameSerial(b, w.name+": last certificate served", servedSerial(b, h.https, benchName(n-1)+".test", nil), clean[n-1].serial)
					h.stop()
				}
			}
			for _, w := range ways {
				b.ReportMetric(rate[w.name], w.name+"-certs/s")
			}
			b.ReportMetric(rate["client"]/rate["raw"], "client/raw")
			b.ReportMetric(rate["client"]/rate["rawsame"], "client/rawsame")
			b.ReportMetric(rate["push"]/rate["raw"], "push/raw")
		})
	}
}

// rawSame writes raw to the socket exactly the command lines a push of a
// new certificate sends (the transaction probe, new+set, and
// commit+read-back+add), so that client/rawsame is the client's own
// overhead: client-native, deadlines and reply checks.
func rawSame(b *testing.B, h *haproxy, path string, pemData []byte) {
	rawSend(b, h,
		"abort ssl cert "+path+"\n",
		"new ssl cert "+path+";set ssl cert "+path+" <<\n"+string(pemData)+"\n",
		"commit ssl cert "+path+";show ssl cert "+path+";add ssl crt-list "+h.crtList+" "+path+"\n")
}

// rawPush sends new, set, commit and add on one connection each.
func rawPush(b *testing.B, h *haproxy, path string, pemData []byte) {
	rawSend(b, h,
		"new ssl cert "+path+"\n",
		"set ssl cert "+path+" <<\n"+string(pemData)+"\n",
		"commit ssl cert "+path+"\n",
		"add ssl crt-list "+h.crtList+" "+path+"\n")
}

// rawSend sends each command on a connection of its own and reads each
// answer to the end, checking only that it is not an error.
func rawSend(b *testing.B, h *haproxy, cmds ...string) {
	for _, cmd := range cmds {
		conn, err := net.Dial("unix", h.sock)
		must(b, err)
		_, err = conn.Write([]byte(cmd))
		must(b, err)
		var out bytes.Buffer
		_, err = out.ReadFrom(conn)
		conn.Close()
		must(b, err)
		if strings.Contains(out.String(), "Can't") || strings.Contains(out.String(), "rror") {
			b.Fatalf("%s: %s", firstLine(cmd), out.String())
		}
	}
}

// BenchmarkReload is the comparison: the time from a seamless reload
// (SIGUSR2 to the master of `haproxy -W -S`) until a TLS handshake serves a
// certificate newly written to disk, with N loaded.
func BenchmarkReload(b *testing.B) {
	if testing.Short() {
		b.Skip("starts HAProxy with thousands of certificates")
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			g, set := certsFor(b, n)
			master := shortTempDir(b) + "/master.sock"
			h := loadedHAProxy(b, g, set, "-W", "-S", master)
			for !strings.Contains(masterCmd(master, "show proc"), "worker") {
				time.Sleep(20 * time.Millisecond) // the master is still starting
			}
			name := benchName(n / 2)
			path := h.client("").Path(name)
			var times []time.Duration
			for range b.N {
				bundle, serial := g.leaf(b, name)
				must(b, os.WriteFile(path, bundle, 0o600))
				start := time.Now()
				masterCmd(master, "reload") // what SIGUSR2 does, once the master listens
				for {
					if s := trySerial(h.https, name+".test"); s != nil && s.Cmp(serial) == 0 {
						break
					}
					if time.Since(start) > 2*time.Minute {
						b.Fatalf("reload with %d certificates not served after 2 minutes:\n%s", n, h.log)
					}
					time.Sleep(10 * time.Millisecond)
				}
				times = append(times, time.Since(start))
			}
			b.ReportMetric(float64(percentile(times, 0.5).Milliseconds()), "p50-ms")
		})
	}
}

// masterCmd sends one command to the master CLI; "" when it does not answer.
func masterCmd(sock, cmd string) string {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte(cmd + "\n"))
	var out bytes.Buffer
	out.ReadFrom(conn)
	return out.String()
}

// trySerial is one handshake; nil while HAProxy does not answer.
func trySerial(addr, sni string) *big.Int {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr,
		&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return nil
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// loadedSizes are the sizes BenchmarkLoaded runs at. 100,000 takes about
// ten minutes, most of it HAProxy's own start-up:
//
//	go test -run '^$' -bench 'Loaded/100000' -benchtime 1x -timeout 30m ./runtime/
var loadedSizes = []int{10000, 100000}

// BenchmarkLoaded is what verifying HAProxy costs while it holds N
// certificates. full is the first Loaded: the listing and every store,
// read many to a line; onebyone is 2,000 of those stores read with a
// connection each, as before batching, scaled to N; unchanged is a Loaded
// when nothing changed (one show info, no copy of the map); slice is a
// Loaded with a slice of the rolling check due; listing is the store
// listing alone, read once per Rescan; remove and pushnew are a Remove and
// the Push of a new certificate.
func BenchmarkLoaded(b *testing.B) {
	if testing.Short() {
		b.Skip("starts HAProxy with thousands of certificates")
	}
	for _, n := range loadedSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			now := time.Now()
			g, _, c, full := fullLoad(b, n, func() time.Time { return now })
			b.ReportMetric(full.Seconds(), "full-s")
			ctx := context.Background()
			const sample = 2000
			start := time.Now()
			for i := range sample {
				_, err := c.showCert(ctx, c.Path(benchName(i*(n/sample))))
				must(b, err)
			}
			b.ReportMetric(time.Since(start).Seconds()*float64(n)/sample, "onebyone-s")
			p50ms := func(op func() error) float64 {
				var times []time.Duration
				for range 50 {
					t0 := time.Now()
					must(b, op())
					times = append(times, time.Since(t0))
				}
				return float64(percentile(times, 0.5).Microseconds()) / 1000
			}
			loaded := func() error { _, err := c.Loaded(ctx); return err }
			b.ReportMetric(p50ms(loaded), "unchanged-ms")
			b.ReportMetric(p50ms(func() error { now = now.Add(c.opts.Rescan / perCycle); return loaded() }), "slice-ms")
			b.ReportMetric(p50ms(func() error { _, _, err := c.stores(ctx); return err }), "listing-ms")
			// A certificate taken out and put back: the socket work is O(1),
			// the crt-list file is rewritten whole (O(N) bytes, two fsyncs).
			name := benchName(n / 2)
			bundle, _ := g.leaf(b, name)
			var removes, pushes []time.Duration
			for range 20 {
				t0 := time.Now()
				must(b, c.Remove(ctx, name))
				t1 := time.Now()
				must(b, c.Push(ctx, name, bundle))
				removes, pushes = append(removes, t1.Sub(t0)), append(pushes, time.Since(t1))
			}
			b.ReportMetric(float64(percentile(removes, 0.5).Microseconds())/1000, "remove-ms")
			b.ReportMetric(float64(percentile(pushes, 0.5).Microseconds())/1000, "pushnew-ms")
		})
	}
}

// fullLoad starts an HAProxy holding n certificates and reads them all
// with a new client's first Loaded, which it times.
func fullLoad(b *testing.B, n int, now func() time.Time) (*benchCerts, *haproxy, *Client, time.Duration) {
	g, set := certsFor(b, n)
	h := loadedHAProxy(b, g, set)
	// The bundles are on disk now. Kept in memory, 100,000 of them would
	// make the timed read pay for the garbage collector's work on them,
	// which hotcert does not hold.
	benchMu.Lock()
	delete(benchSets, n)
	benchMu.Unlock()
	set = nil
	goruntime.GC()
	c := h.client("lb1")
	c.opts.Now = now
	start := time.Now()
	loaded, err := c.Loaded(context.Background())
	must(b, err)
	if len(loaded) != n {
		b.Fatalf("Loaded() has %d certificates, want %d", len(loaded), n)
	}
	return g, h, c, time.Since(start)
}
