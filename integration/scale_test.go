package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/atomicfile"
	"github.com/hotcert/hotcert/store"
)

// bigScale is the size from which a benchmark runs only when -bench names
// it: `make bench` (-bench .) must not spend minutes and several GB of
// HAProxy memory on it.
const bigScale = 100_000

// layout is how the benchmark declares its certificates to hotcert.
type layout string

const (
	// oneFile: every certificate in domains_file.
	oneFile layout = "file"
	// fileEach: one file per certificate in domains_dir.
	fileEach layout = "dir"
)

// scale is a world of n certificates that HAProxy already serves and
// whose valid bundles are in hotcert's state_dir, declared in one layout.
type scale struct {
	*env
	b      *testing.B
	n      int
	layout layout
	names  []string
	dir    string // domains_dir, in the fileEach layout
	// haproxyStart is HAProxy's own start-up with the n certificates.
	haproxyStart time.Duration
}

// needScale skips sizes from bigScale on unless -bench names them.
func needScale(b *testing.B, n int) {
	b.Helper()
	if n < bigScale {
		return
	}
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), strconv.Itoa(n)) {
		b.Skipf("n=%d takes minutes and several GB of memory for HAProxy: name it in -bench to run it", n)
	}
}

// newScale lays out n certificates and restarts HAProxy on them, as after a
// reboot. The fileEach layout skips when the binary does not know
// domains_dir.
func newScale(b *testing.B, n int, l layout) *scale {
	b.Helper()
	s := &scale{env: newEnv(b, envOptions{}), b: b, n: n, layout: l}
	s.writeConfig()
	if l == fileEach {
		s.dir = filepath.Join(s.env.dir, "domains.d")
		if err := os.Mkdir(s.dir, 0o700); err != nil {
			b.Fatal(err)
		}
		s.useDomainsDir()
	}
	s.names = fillStores(b, s.env, n)
	h := s.lbs[0]
	// Loading the certificates from the crt-list takes HAProxy about 1 ms
	// each on this machine, far more under load.
	h.StartTimeout = max(time.Minute, time.Duration(n)*10*time.Millisecond)
	t0 := time.Now()
	h.restart()
	s.haproxyStart = time.Since(t0)
	b.Logf("HAProxy started with %d certificates in %v, RSS %d MB", n, s.haproxyStart.Round(time.Millisecond), procRSS(b, h.pid())>>20)
	s.declare(s.names)
	return s
}

// useDomainsDir points hotcert.yaml at s.dir instead of the domains file,
// and checks that the binary accepts it.
func (s *scale) useDomainsDir() {
	b := s.b
	cfg, err := os.ReadFile(s.cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	line := "domains_file: domains.yaml\n"
	if !strings.Contains(string(cfg), line) {
		b.Fatalf("%s lacks %q", s.cfgPath, line)
	}
	writeFile(b, s.cfgPath, strings.Replace(string(cfg), line, "domains_dir: "+s.dir+"\n", 1))
	// The first certificate's file (declare writes it again): an empty
	// directory may be refused as a half-written one.
	s.writeOne(benchName(0))
	out, err := exec.Command(hotcertBin, "check", "--config", s.cfgPath).CombinedOutput()
	if err != nil && strings.Contains(string(out), "domains_dir") {
		b.Skipf("this hotcert does not know domains_dir: %s", strings.TrimSpace(string(out)))
	}
	if err != nil {
		b.Fatalf("hotcert check: %v\n%s", err, out)
	}
}

// declare writes names as the set hotcert must serve.
func (s *scale) declare(names []string) {
	if s.layout == oneFile {
		s.writeDomains(domainsYAML(names, nil))
		return
	}
	for _, n := range names {
		s.writeOne(n)
	}
}

// writeOne writes a certificate's own file in domains_dir.
func (s *scale) writeOne(name string) {
	writeFile(s.b, filepath.Join(s.dir, name+".yaml"), domainsYAML([]string{name}, nil))
}

// add declares one more certificate, by an edit of one file.
func (s *scale) add(name string) {
	if s.layout == oneFile {
		s.declare(append(s.names[:s.n:s.n], name))
		return
	}
	s.writeOne(name)
}

// drop takes a certificate that add declared out again.
func (s *scale) drop(name string) {
	if s.layout == oneFile {
		s.declare(s.names)
		return
	}
	if err := os.Remove(filepath.Join(s.dir, name+".yaml")); err != nil {
		s.b.Fatal(err)
	}
}

// touch rewrites a file with the content it has: an edit that changes
// nothing (the whole domains file, or one file of domains_dir).
func (s *scale) touch() {
	if s.layout == oneFile {
		s.declare(s.names)
		return
	}
	s.writeOne(s.names[0])
}

// start runs hotcert and waits for its first pass, which it reports as
// the time since the process started.
func (s *scale) start() (*process, time.Duration) {
	t0 := time.Now()
	p := s.startLogged()
	waitLog(s.b, p, "first reconcile pass done", 15*time.Minute)
	took := time.Since(t0)
	s.refused(p)
	// The state is written as hotcert writes it: a record read in full
	// means the harness and the store disagree on state.json, and the
	// start-up measured is an upgrade's. (A binary from before the facts
	// logs no "state read".)
	if m := regexp.MustCompile(`msg="state read" records=\d+ read_in_full=(\d+)`).FindStringSubmatch(p.Logs()); m != nil && m[1] != "0" {
		s.b.Fatalf("hotcert read %s records in full at start-up: the harness's state.json lacks the leaves' facts", m[1])
	}
	return p, took
}

// stateWithFacts is rec's state.json as hotcert writes it, with the facts
// of its one bundle at pemPath (store/leaves.go) so that a start-up need
// not read the bundle; the benchmarks check the log's read_in_full=0.
func stateWithFacts(rec store.Record, pemPath string, leaf *x509.Certificate) ([]byte, error) {
	fi, err := os.Stat(pemPath)
	if err != nil {
		return nil, err
	}
	type facts struct {
		Serial    string    `json:"serial"`
		NotBefore time.Time `json:"not_before"`
		NotAfter  time.Time `json:"not_after"`
		Inode     uint64    `json:"inode"`
		Size      int64     `json:"size"`
		ModTime   time.Time `json:"mtime"`
	}
	rec.Format = store.Format
	return json.Marshal(struct {
		store.Record
		Leaves map[string]facts `json:"leaves"`
	}{rec, map[string]facts{"ecdsa-p256": {Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		Inode: atomicfile.Inode(fi), Size: fi.Size(), ModTime: fi.ModTime()}}})
}

// startLogged starts hotcert; its logs go to profileDir, or when the
// benchmark fails to the test's output, since the test's directory is
// removed.
func (s *scale) startLogged() *process {
	p := s.env.start()
	s.b.Cleanup(func() {
		if profileDir() == "" && !s.b.Failed() {
			return
		}
		if profileDir() == "" {
			logs := p.Logs()
			s.b.Logf("hotcert's last logs:\n%s", logs[max(0, len(logs)-4000):])
			return
		}
		path := filepath.Join(profileDir(), fmt.Sprintf("hotcert-%s-n%d.log", s.layout, s.n))
		if err := os.WriteFile(path, []byte(p.Logs()), 0o600); err == nil {
			s.b.Logf("hotcert's logs: %s", path)
		}
	})
	return p
}

// refused fails the benchmark when hotcert refused the declared set: its
// first pass then has nothing to do, and every figure would be wrong. A
// first pass without HAProxy's answer is only noted: the figures then
// show what that costs.
func (s *scale) refused(p *process) {
	if p.count("haproxy does not answer") > 0 {
		s.b.Logf("the first pass went without HAProxy's answer (\"haproxy does not answer\" logged)")
	}
	if p.count("rejected") > 0 {
		logs := p.Logs()
		i := strings.Index(logs, "rejected")
		s.b.Fatalf("hotcert refused the %d certificates: %.600s", s.n, logs[max(0, i-300):])
	}
}

// fillStores issues n certificates from a local CA and lays them out as
// hotcert and HAProxy keep them, plus one more, "extra", that was removed
// from the domains set an hour ago (so re-adding it costs no order). Every
// leaf has the same key, so that 100,000 cost seconds of signing; the
// work is spread over the cores.
func fillStores(b *testing.B, e *env, n int) []string {
	b.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	tail := slices.Concat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	names := make([]string, n+1)
	for i := range n {
		names[i] = benchName(i)
	}
	names[n] = "extra"
	h := e.lbs[0]
	one := func(i int) error {
		name := names[i]
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), Subject: pkix.Name{CommonName: name + ".example.test"},
			DNSNames: []string{name + ".example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		bundle := slices.Concat(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tail)
		rec := store.Record{Name: name, Domains: []string{name + ".example.test"}, KeyTypes: []string{"ecdsa-p256"},
			ARICheckAt: now.Add(24 * time.Hour), Jitter: 0.5}
		if i == n {
			rec.RemovedAt = now.Add(-time.Hour)
		}
		// Written directly in the store's layout: atomic writes with
		// fsync would make the set-up take minutes.
		dir := filepath.Join(e.stateDir, "certs", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		pemPath := filepath.Join(dir, "ecdsa-p256.pem")
		if err := os.WriteFile(pemPath, bundle, 0o600); err != nil {
			return err
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		js, err := stateWithFacts(rec, pemPath, leaf)
		if err != nil {
			return err
		}
		err = os.WriteFile(filepath.Join(dir, "state.json"), js, 0o600)
		if i < n {
			err = errors.Join(err, os.WriteFile(filepath.Join(h.CertDir, name+".pem"), bundle, 0o600))
		}
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.NumCPU())
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i <= n && errs[w] == nil; i = int(next.Add(1) - 1) {
				errs[w] = one(i)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	var list strings.Builder
	old, _ := os.ReadFile(h.CrtList)
	list.Write(old)
	for _, name := range names[:n] {
		fmt.Fprintln(&list, filepath.Join(h.CertDir, name+".pem"))
	}
	writeFile(b, h.CrtList, list.String())
	b.Logf("%d certificates signed and written in %v", n+1, time.Since(now).Round(time.Millisecond))
	return names[:n]
}

// benchName is the name of fillStores' i-th certificate.
func benchName(i int) string { return fmt.Sprintf("b%06d", i) }

// settle waits until the process has used no CPU for a second, and
// returns its CPU then: the end of the work an edit asked for, whatever
// the binary logs about it.
func settle(b *testing.B, pid int) time.Duration {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	last, since := procCPU(b, pid), time.Now()
	for time.Since(since) < time.Second {
		if time.Now().After(deadline) {
			b.Fatalf("hotcert kept using CPU for five minutes")
		}
		time.Sleep(50 * time.Millisecond)
		if c := procCPU(b, pid); c != last {
			last, since = c, time.Now()
		}
	}
	return last
}

// caTook is how long the CA took for name's order, as hotcert logs it.
func caTook(b *testing.B, p *process, name string) time.Duration {
	b.Helper()
	re := regexp.MustCompile(`msg="certificate issued".* cert=` + regexp.QuoteMeta(name) + ` .*took=(\S+)`)
	m := re.FindStringSubmatch(p.Logs())
	if m == nil {
		b.Fatalf("no \"certificate issued\" logged for %s", name)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// profileDir is where the benchmarks write CPU and heap profiles of the
// binary (HOTCERT_BENCH_PROFILE), or "" for none.
func profileDir() string { return os.Getenv("HOTCERT_BENCH_PROFILE") }

// profile fetches one of the binary's profiles from the admin API into
// file in profileDir; it blocks for as long as the profile runs.
func profile(b *testing.B, api *adminClient, path, file string) {
	b.Helper()
	code, _, body := api.do(http.MethodGet, "/debug/pprof/"+path, api.token, "", nil)
	if code != http.StatusOK {
		b.Fatalf("GET /debug/pprof/%s: %d %.300s", path, code, body)
	}
	writeFile(b, filepath.Join(profileDir(), file), string(body))
}

// profileAsync starts profile in the background; the returned function
// waits for it.
func profileAsync(b *testing.B, api *adminClient, seconds int, file string) func() {
	return pprofAsync(b, api, "profile", seconds, file)
}

// pprofAsync is profileAsync for any of /debug/pprof's timed kinds
// ("profile", "trace").
func pprofAsync(b *testing.B, api *adminClient, kind string, seconds int, file string) func() {
	tok := api.token
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", api.base, kind, seconds), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&http.Client{Timeout: time.Duration(seconds+120) * time.Second}).Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%d %.300s", resp.StatusCode, body)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(profileDir(), file), body, 0o600)
		}
		done <- err
	}()
	return func() {
		b.Helper()
		if err := <-done; err != nil {
			b.Fatalf("CPU profile %s: %v", file, err)
		}
	}
}
