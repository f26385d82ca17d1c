package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/store"
)

// BenchmarkTenThousandCertificates runs the real binary (built without the
// race detector) against a real HAProxy that already serves 10,000
// certificates, with their valid bundles in the state directory: no ACME is
// needed. Each iteration starts hotcert and reports
//
//	startup-s      start of the process until the first pass is done
//	rss-MB         resident memory after the first pass (VmRSS)
//	reload-cpu-ms  CPU for re-reading an unchanged 10,000-entry domains file and the pass it asks for
//	edit-ms        from a domains-file edit that adds one certificate (issued earlier, kept in the store) to HAProxy serving it over TLS
//
//	go test -run '^$' -bench TenThousand -benchtime 1x ./integration/
func BenchmarkTenThousandCertificates(b *testing.B) {
	const n = 10_000
	e := newEnv(b, envOptions{})
	h := e.lbs[0]
	names := fillStores(b, e, n)
	// HAProxy loads the 10,000 certificates from its crt-list, as after a
	// reboot; on a busy machine that takes more than lab's default 10 s.
	h.StartTimeout = time.Minute
	h.restart()
	all := domainsYAML(names, nil)
	withExtra := domainsYAML(append(names[:n:n], "extra"), nil)
	e.writeDomains(all)
	// TestMain built hotcertBin without the race detector for benchmarks.
	var startup, rss, reload, edit float64
	for range b.N {
		t0 := time.Now()
		p := e.start()
		waitLog(b, p, "first reconcile pass done", 5*time.Minute)
		startup += time.Since(t0).Seconds()
		rss += float64(procRSS(b, p.cmd.Process.Pid)) / (1 << 20)
		if got := e.ca.Orders(); got != 0 {
			b.Fatalf("hotcert ordered %d certificates that were valid", got)
		}
		if c := strings.Count(p.Logs(), "action=push"); c != 0 {
			b.Fatalf("hotcert pushed %d certificates that HAProxy already served", c)
		}

		const reloads = 5
		cpu0 := procCPU(b, p.cmd.Process.Pid)
		for i := range reloads {
			e.writeDomains(all)
			waitLogCount(b, p, "domains file loaded", i+2, time.Minute)
			time.Sleep(500 * time.Millisecond) // the pass the load asked for
		}
		reload += float64((procCPU(b, p.cmd.Process.Pid) - cpu0).Milliseconds()) / reloads

		t1 := time.Now()
		e.writeDomains(withExtra)
		h.waitServed("extra.example.test", e.bundle(0, "extra"), time.Minute)
		edit += float64(time.Since(t1).Milliseconds())

		e.writeDomains(all) // take it out again for the next iteration
		deadline := time.Now().Add(time.Minute)
		for servesPlaceholder(h, "extra.example.test") != nil {
			if time.Now().After(deadline) {
				b.Fatal("extra was not removed")
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.stop(b)
	}
	b.ReportMetric(startup/float64(b.N), "startup-s")
	b.ReportMetric(rss/float64(b.N), "rss-MB")
	b.ReportMetric(reload/float64(b.N), "reload-cpu-ms")
	b.ReportMetric(edit/float64(b.N), "edit-ms")
}

// fillStores issues n certificates from a local CA and lays them out as
// hotcert and HAProxy keep them, plus one more, "extra", that was removed
// from the domains file an hour ago (so re-adding it costs no order).
func fillStores(b *testing.B, e *env, n int) []string {
	b.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	h := e.lbs[0]
	var list strings.Builder
	old, _ := os.ReadFile(h.CrtList)
	list.Write(old)
	var names []string
	for i := range n + 1 {
		name := fmt.Sprintf("b%05d", i)
		if i == n {
			name = "extra"
		} else {
			names = append(names, name)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), Subject: pkix.Name{CommonName: name + ".example.test"},
			DNSNames: []string{name + ".example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			b.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(key)
		bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), caPEM...)
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...)
		rec := store.Record{Name: name, Domains: []string{name + ".example.test"}, KeyTypes: []string{"ecdsa-p256"},
			ARICheckAt: now.Add(24 * time.Hour), Jitter: 0.5}
		if i == n {
			rec.RemovedAt = now.Add(-time.Hour)
		}
		// Written directly in the store's layout: 10,000 atomic writes with
		// fsync would make the set-up take minutes.
		dir := filepath.Join(e.stateDir, "certs", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		js, _ := json.Marshal(rec)
		writeFile(b, filepath.Join(dir, "state.json"), string(js))
		writeFile(b, filepath.Join(dir, "ecdsa-p256.pem"), string(bundle))
		if i < n {
			writeFile(b, filepath.Join(h.CertDir, name+".pem"), string(bundle))
			fmt.Fprintln(&list, filepath.Join(h.CertDir, name+".pem"))
		}
	}
	writeFile(b, h.CrtList, list.String())
	return names
}

func waitLog(b *testing.B, p *process, what string, limit time.Duration) {
	b.Helper()
	waitLogCount(b, p, what, 1, limit)
}

func waitLogCount(b *testing.B, p *process, what string, count int, limit time.Duration) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for strings.Count(p.Logs(), what) < count {
		if time.Now().After(deadline) {
			b.Fatalf("%q not logged %d times within %v", what, count, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procRSS is a process's resident memory in bytes.
func procRSS(b *testing.B, pid int) int64 {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// procCPU is a process's user and system CPU time.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	d, err := cpuTime(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// cpuTime is procCPU for callers that are not the test's goroutine: it
// reads /proc/PID/stat, whose times are in clock ticks of 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses: utime is the
	// 12th and stime the 13th of them.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond, nil
}
