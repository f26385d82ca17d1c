package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/atomicfile"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// BenchmarkPassNoChange is the CPU time of a reconcile pass when nothing
// changed, over 10,000 and 100,000 certificates that are all valid and
// loaded: the pass every verify tick costs. The goal is at most 250 ms at
// 100,000, and a pass that looks only at what changed costs microseconds.
// The HAProxy is a fake that answers Loaded from memory with the same map
// and a fixed Epoch, as runtime.Client does while nothing changed, so this
// measures the daemon alone; the client's cost is measured in runtime.
func BenchmarkPassNoChange(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchPass(b, n, true) })
	}
}

// BenchmarkPassFull is the same pass when it must look at every
// certificate: at start-up, when an HAProxy's Epoch moves, and every
// fullEvery as a safety net.
func BenchmarkPassFull(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchPass(b, n, false) })
	}
}

func benchPass(b *testing.B, n int, epoch bool) {
	d, st, _ := benchDaemon(b, n, epoch)
	ctx := context.Background()
	d.pass(ctx)  // reads the store once, as the first pass after start-up does
	runtime.GC() // so that the set-up's garbage is not counted as the passes' CPU
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	passes := 0
	for b.Loop() {
		d.pass(ctx)
		passes++
	}
	b.StopTimer()
	// The machine may be shared: CPU time (GC included) says more than the
	// wall clock.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(passes), "cpu-ms/pass")
	b.ReportMetric(float64(d.decidedLast()), "decided/pass")
	if len(d.jobs) != 0 {
		b.Fatalf("a pass with nothing to do queued %d actions", len(d.jobs))
	}
	if st.lists != 1 {
		b.Fatalf("passes read the store %d times, want once", st.lists)
	}
	if s, ok := d.StatusOf("c000000"); len(d.Status()) != n || !ok || s.State != "ok" || !s.Ready {
		b.Fatalf("status: %d rows, first %+v", len(d.Status()), s)
	}
}

// BenchmarkPassAfterEdit is the CPU time of what one edited certificate
// costs the daemon: SetDesired with the new set (a diff by name and
// definition) and the pass it asks for. The pass must cost the same at 100
// and at 100,000 certificates; SetDesired's diff is one map lookup per
// certificate.
func BenchmarkPassAfterEdit(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d, _, certs := benchDaemon(b, n, true)
			ctx := context.Background()
			d.pass(ctx)
			edited := append([]configs.Certificate(nil), certs...)
			sets := []*configs.Domains{desired(certs...), desired(edited...)}
			edited[n/2] = cert(edited[n/2].Name, "edited.example.test")
			runtime.GC()
			b.ReportAllocs()
			var setCPU, passCPU time.Duration
			i := 0
			for b.Loop() {
				i++
				t0 := cpuTime(b)
				d.SetDesired(sets[i%2])
				t1 := cpuTime(b)
				d.pass(ctx)
				passCPU += cpuTime(b) - t1
				setCPU += t1 - t0
				if got := d.decidedLast(); got != 1 {
					b.Fatalf("the pass after one edit decided %d certificates", got)
				}
				for len(d.jobs) > 0 { // the edit's order; never run
					j := <-d.jobs
					d.mu.Lock()
					delete(d.inflight, j.cert.Name)
					d.mu.Unlock()
				}
			}
			b.ReportMetric(float64(passCPU.Microseconds())/1000/float64(i), "pass-cpu-ms")
			b.ReportMetric(float64(setCPU.Microseconds())/1000/float64(i), "setdesired-cpu-ms")
		})
	}
}

// BenchmarkMemoBytesPerRecord is the heap the memo holds per record at
// 10,000 records, measured after a GC: each bundle's serial and dates, not
// its PEM nor its parsed certificate.
func BenchmarkMemoBytesPerRecord(b *testing.B) {
	const n = 10_000
	now := time.Now()
	var recs []*store.Record
	for i := range n {
		c := cert(fmt.Sprintf("c%06d", i), fmt.Sprintf("c%06d.example.test", i), fmt.Sprintf("www.c%06d.example.test", i))
		r, _ := validRecord(b, c, now)
		recs = append(recs, r)
	}
	st := freshStore{newFakeStore(recs...)}
	recs = nil
	var held float64
	for b.Loop() {
		before := heapInUse()
		m := newMemo(st)
		if _, err := m.snapshot(); err != nil {
			b.Fatal(err)
		}
		held = float64(heapInUse()-before) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(held, "bytes/record")
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// freshStore is a fakeStore whose List returns PEM of its own, as a store
// that reads the disk does.
type freshStore struct{ *fakeStore }

func (s freshStore) List() ([]*store.Record, error) {
	recs, err := s.fakeStore.List()
	for _, r := range recs {
		for kt, bd := range r.Bundles {
			bd.PEM = append([]byte(nil), bd.PEM...)
			r.Bundles[kt] = bd
		}
	}
	return recs, err
}

// benchDaemon is a daemon over n valid certificates that one HAProxy
// serves. The bundles are shared among the certificates, which the daemon
// never notices: making 100,000 would be most of the benchmark.
func benchDaemon(b *testing.B, n int, epoch bool) (*Daemon, *fakeStore, []configs.Certificate) {
	now := time.Now()
	loaded := map[string]*big.Int{}
	var recs []*store.Record
	var certs []configs.Certificate
	var pool []*store.Record
	for i := range n {
		c := cert(fmt.Sprintf("c%06d", i), fmt.Sprintf("c%06d.example.test", i), fmt.Sprintf("www.c%06d.example.test", i))
		if len(pool) < 500 {
			r, _ := validRecord(b, c, now)
			pool = append(pool, r)
		}
		r := pool[i%len(pool)].Clone()
		r.Name, r.Domains = c.Name, c.Domains
		leaf, err := leafOf(r.Bundles["ecdsa-p256"])
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
		certs = append(certs, c)
		loaded[c.Name] = leaf.SerialNumber
	}
	st := newFakeStore(recs...)
	var lb HAProxy = &staticHAProxy{name: "lb1", loaded: loaded}
	if !epoch {
		lb = noEpoch{lb}
	}
	d := New(Options{Issuer: &fakeIssuer{tb: b, now: time.Now}, Store: st, HAProxies: []HAProxy{lb}, Now: time.Now})
	d.SetDesired(desired(certs...))
	return d, st, certs
}

// staticHAProxy serves a fixed set and answers Loaded with the same map
// every time, which the caller must not modify, as runtime.Client does.
type staticHAProxy struct {
	name   string
	loaded map[string]*big.Int
}

func (s *staticHAProxy) Name() string                                        { return s.name }
func (s *staticHAProxy) Push(context.Context, string, []byte) error          { return nil }
func (s *staticHAProxy) Remove(context.Context, string) error                { return nil }
func (s *staticHAProxy) Loaded(context.Context) (map[string]*big.Int, error) { return s.loaded, nil }
func (s *staticHAProxy) Ping(context.Context) error                          { return nil }
func (s *staticHAProxy) Epoch() uint64                                       { return 1 }

// noEpoch hides an HAProxy's Epoch: every pass is full.
type noEpoch struct{ HAProxy }

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStartupRead is the memo's first read of a state directory with
// 10,000 and 100,000 records: most of what start-up costs before the first
// pass. "facts": state.json as hotcert writes it, with its bundles' leaf
// facts (store.File.ListSlim reads no bundle); "in-full": written before
// the facts were kept (an upgrade's first start), every bundle read and
// its leaf parsed.
//
//	go test -run '^$' -bench 'StartupRead' -benchtime 2x ./daemon/
func BenchmarkStartupRead(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, facts := range []bool{true, false} {
			b.Run(fmt.Sprintf("%d/%s", n, map[bool]string{true: "facts", false: "in-full"}[facts]), func(b *testing.B) {
				dir := b.TempDir()
				f, err := store.NewFile(dir)
				if err != nil {
					b.Fatal(err)
				}
				writeStateDir(b, dir, n, facts)
				if _, full, err := f.ListSlim(); err != nil || (full == 0) != facts {
					b.Fatalf("ListSlim read %d records in full (%v); the set-up wrote facts: %v", full, err, facts)
				}
				for b.Loop() {
					t0, c0 := time.Now(), cpuTime(b)
					m := newMemo(f)
					if err := m.load(); err != nil {
						b.Fatal(err)
					}
					if len(m.recs) != n {
						b.Fatalf("read %d records, want %d", len(m.recs), n)
					}
					b.ReportMetric(float64(time.Since(t0).Milliseconds()), "wall-ms")
					b.ReportMetric(float64((cpuTime(b) - c0).Milliseconds()), "cpu-ms")
				}
			})
		}
	}
}

// writeStateDir writes n records as store.File lays them out, without the
// fsync of each that Put does, which would make setting up 100,000 take
// minutes; with facts, state.json has its bundle's leaf facts as Put
// writes them (store/leaves.go).
func writeStateDir(b *testing.B, dir string, n int, facts bool) {
	now := time.Now()
	var pems [][]byte
	var leaves []*x509.Certificate
	for i := range 100 {
		pem, _ := makeBundle(b, []string{fmt.Sprintf("p%d.example.test", i)}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		leaf, err := bundle.Leaf(pem)
		if err != nil {
			b.Fatal(err)
		}
		pems, leaves = append(pems, pem), append(leaves, leaf)
	}
	for i := range n {
		name := fmt.Sprintf("c%06d", i)
		cd := filepath.Join(dir, "certs", name)
		if err := os.MkdirAll(cd, 0o700); err != nil {
			b.Fatal(err)
		}
		pemPath := filepath.Join(cd, "ecdsa-p256.pem")
		if err := os.WriteFile(pemPath, pems[i%len(pems)], 0o600); err != nil {
			b.Fatal(err)
		}
		leavesJSON := ""
		if facts {
			fi, err := os.Stat(pemPath)
			if err != nil {
				b.Fatal(err)
			}
			leaf := leaves[i%len(leaves)]
			leavesJSON = fmt.Sprintf(`,"leaves":{"ecdsa-p256":{"serial":%q,"not_before":%q,"not_after":%q,"inode":%d,"size":%d,"mtime":%q}}`,
				leaf.SerialNumber.Text(16), leaf.NotBefore.Format(time.RFC3339Nano), leaf.NotAfter.Format(time.RFC3339Nano),
				atomicfile.Inode(fi), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		}
		state := fmt.Sprintf(`{"format":1,"name":%q,"domains":["%s.example.test"],"key_types":["ecdsa-p256"],"ari_check_at":%q,"jitter":0.5%s}`,
			name, name, now.Add(6*time.Hour).Format(time.RFC3339), leavesJSON)
		if err := os.WriteFile(filepath.Join(cd, "state.json"), []byte(state), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
