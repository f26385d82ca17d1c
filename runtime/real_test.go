package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sameSerial(t testing.TB, what string, got, want *big.Int) {
	t.Helper()
	if got == nil || want == nil || got.Cmp(want) != 0 {
		t.Fatalf("%s: serial %X, want %X", what, got, want)
	}
}

func crtListLines(t *testing.T, h *haproxy, path string) int {
	t.Helper()
	data, err := os.ReadFile(h.crtList)
	must(t, err)
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l == path {
			n++
		}
	}
	return n
}

func TestPushNewCertificate(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, serial := ca.leaf(t, "ecdsa", "shop.test", "www.shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))

	sameSerial(t, "served for shop.test", servedSerial(t, h.https, "shop.test", nil), serial)
	sameSerial(t, "served for www.shop.test", servedSerial(t, h.https, "www.shop.test", nil), serial)
	sameSerial(t, "unknown SNI", servedSerial(t, h.https, "other.test", nil), h.placeholderSerial)
	if n := crtListLines(t, h, c.Path("shop")); n != 1 {
		t.Fatalf("crt-list file has %d lines for %s, want 1", n, c.Path("shop"))
	}
	st, err := os.Stat(filepath.Join(h.certDir, "shop.pem"))
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("PEM mode %v, want 0600", st.Mode().Perm())
	}
	got, err := c.Serial(ctx(t), "shop")
	must(t, err)
	sameSerial(t, "Serial()", got, serial)
	loaded, err := c.Loaded(ctx(t))
	must(t, err)
	if len(loaded) != 1 || loaded["shop"] == nil || loaded["shop"].Cmp(serial) != 0 {
		t.Fatalf("Loaded() = %v, want only shop=%X", loaded, serial)
	}
	if _, err := c.Serial(ctx(t), "nothere"); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Serial of unknown cert: %v, want ErrNotLoaded", err)
	}
}

func TestRenewInPlace(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	old, _ := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", old))
	before, err := c.Info(ctx(t))
	must(t, err)

	renewed, serial := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", renewed))
	sameSerial(t, "served after renewal", servedSerial(t, h.https, "shop.test", nil), serial)
	after, err := c.Info(ctx(t))
	must(t, err)
	if before.Pid == 0 || after.Pid != before.Pid {
		t.Fatalf("pid changed from %d to %d: renewal must not restart HAProxy", before.Pid, after.Pid)
	}
	if n := crtListLines(t, h, c.Path("shop")); n != 1 {
		t.Fatalf("crt-list file has %d lines for shop after renewal, want 1", n)
	}
	lines, err := c.listed(ctx(t), c.Path("shop"))
	must(t, err)
	if len(lines) != 1 {
		t.Fatalf("HAProxy's crt-list holds shop %d times, want 1", len(lines))
	}
}

func TestRemove(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, _ := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))
	must(t, c.Remove(ctx(t), "shop"))

	sameSerial(t, "shop.test after removal", servedSerial(t, h.https, "shop.test", nil), h.placeholderSerial)
	if n := crtListLines(t, h, c.Path("shop")); n != 0 {
		t.Fatalf("crt-list file still has %d lines for shop", n)
	}
	if _, err := os.Stat(c.Path("shop")); !os.IsNotExist(err) {
		t.Fatalf("PEM still on disk: %v", err)
	}
	if _, err := c.Serial(ctx(t), "shop"); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Serial after removal: %v, want ErrNotLoaded", err)
	}
	must(t, c.Remove(ctx(t), "shop")) // idempotent
	data, err := os.ReadFile(h.crtList)
	must(t, err)
	if !strings.Contains(string(data), "placeholder.pem") {
		t.Fatalf("placeholder line lost from crt-list: %q", data)
	}
}

func TestDualRSAAndECDSA(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	ec, ecSerial := ca.leaf(t, "ecdsa", "shop.test")
	rsa, rsaSerial := ca.leaf(t, "rsa2048", "shop.test")
	must(t, c.Push(ctx(t), "shop", ec))
	must(t, c.Push(ctx(t), "shop.rsa2048", rsa))

	sameSerial(t, "default client", servedSerial(t, h.https, "shop.test", nil), ecSerial)
	sameSerial(t, "RSA-only client", servedSerial(t, h.https, "shop.test", rsaOnly), rsaSerial)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMapSolverAnswersFromHAProxy(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	s := MapSolver{Fleet: Fleet{h.client("lb1")}, Map: h.mapFile}
	url := "http://" + h.http + "/.well-known/acme-challenge/tok-123_x"
	if code, _ := httpGet(t, url); code != http.StatusNotFound {
		t.Fatalf("before Present: %d, want 404", code)
	}
	must(t, s.Present(ctx(t), "tok-123_x", "tok-123_x.first"))
	must(t, s.Present(ctx(t), "tok-123_x", "tok-123_x.thumb")) // replaces, no duplicate
	if code, body := httpGet(t, url); code != 200 || body != "tok-123_x.thumb" {
		t.Fatalf("after Present: %d %q, want 200 with the key authorization", code, body)
	}
	must(t, s.CleanUp(ctx(t), "tok-123_x"))
	if code, _ := httpGet(t, url); code != http.StatusNotFound {
		t.Fatalf("after CleanUp: %d, want 404", code)
	}
	must(t, s.CleanUp(ctx(t), "tok-123_x")) // a missing key is fine
	bad := MapSolver{Fleet: s.Fleet, Map: filepath.Join(h.dir, "nomap.map")}
	if err := bad.Present(ctx(t), "t", "v"); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Present on an unknown map: %v, want ErrNotLoaded", err)
	}
}

func TestForeignTransaction(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	foreign := filepath.Join(h.dir, "placeholder.pem")
	reply := h.raw(t, "set ssl cert "+foreign+" <<\n"+strings.TrimSpace(string(h.placeholder))+"\n")
	if !strings.Contains(reply, "Transaction created") {
		t.Fatalf("opening a foreign transaction: %q", reply)
	}
	var te *TransactionError
	if err := c.AbortForeign(ctx(t)); !errors.As(err, &te) || te.Open != foreign {
		t.Fatalf("AbortForeign = %v, want TransactionError for %s", err, foreign)
	}
	bundle, serial := ca.leaf(t, "ecdsa", "shop.test")
	if err := c.Push(ctx(t), "shop", bundle); !errors.As(err, &te) || te.Open != foreign {
		t.Fatalf("Push with a foreign transaction open = %v, want TransactionError", err)
	}
	if !strings.Contains(h.raw(t, "show ssl cert"), "*"+foreign) {
		t.Fatal("the foreign transaction must be left open")
	}
	h.raw(t, "abort ssl cert "+foreign)
	must(t, c.Push(ctx(t), "shop", bundle))
	sameSerial(t, "served after the conflict cleared", servedSerial(t, h.https, "shop.test", nil), serial)

	// A stale transaction of ours (under CertDir) is aborted.
	h.raw(t, "set ssl cert "+c.Path("shop")+" <<\n"+strings.TrimSpace(string(bundle))+"\n")
	must(t, c.AbortForeign(ctx(t)))
	if strings.Contains(h.raw(t, "show ssl cert"), "# transaction") {
		t.Fatal("our stale transaction is still open")
	}
}

func TestTooLargeChangesNothing(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	small, serial := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", small))
	onDisk, err := os.ReadFile(c.Path("shop"))
	must(t, err)

	big, _ := ca.leaf(t, "rsa4096", "shop.test")
	for len(big) < 17000 { // unrelated certificates pad the chain past 16 KB
		extra, _ := ca.leaf(t, "ecdsa", "pad.test")
		big = append(big, extra[:strings.Index(string(extra), "-----END CERTIFICATE-----")+26]...)
	}
	err = c.Push(ctx(t), "shop", big)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "tune.bufsize") {
		t.Fatalf("Push of %d bytes = %v, want TooLargeError naming tune.bufsize", len(big), err)
	}
	got, err := c.Serial(ctx(t), "shop")
	must(t, err)
	sameSerial(t, "after the refused push", got, serial)
	now, _ := os.ReadFile(c.Path("shop"))
	if string(now) != string(onDisk) {
		t.Fatal("the PEM on disk changed")
	}
}

// The largest payload Push accepts must really load on 2.6: its limit keeps
// a margin below tune.bufsize, where HAProxy 2.6.12 hung or aborted.
func TestLargestAcceptedPayloadLoads(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, serial := ca.leaf(t, "rsa4096", "shop.test")
	size := func(b []byte) int {
		s, err := sanitise(b)
		must(t, err)
		return c.lineSize("set ssl cert " + c.Path("shop") + " <<\n" + string(s.pem))
	}
	limit := defaultBufSize - sizeMargin
	for {
		extra, _ := ca.leaf(t, "ecdsa", "pad.test")
		next := append(bytes.Clone(bundle), extra[:bytes.Index(extra, []byte("-----END CERTIFICATE-----"))+26]...)
		if size(next) > limit {
			break
		}
		bundle = next
	}
	if size(bundle) < limit-800 {
		t.Fatalf("padding stopped at %d bytes, want close to %d", size(bundle), limit)
	}
	must(t, c.Push(ctx(t), "shop", bundle))
	sameSerial(t, "served", servedSerial(t, h.https, "shop.test", nil), serial)
	t.Logf("pushed a %d-byte command (limit %d)", size(bundle), limit)
}

func TestRemoveCleansDiskWhenHAProxyIsGone(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, _ := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))
	must(t, os.Remove(h.sock))
	if err := c.Remove(ctx(t), "shop"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Remove = %v, want ErrUnavailable", err)
	}
	if n := crtListLines(t, h, c.Path("shop")); n != 0 {
		t.Fatal("the crt-list line must go even when HAProxy cannot be reached, or a restart loads the certificate again")
	}
}

func TestFleetReportsPerInstance(t *testing.T) {
	ca := newCA(t)
	h1, h2 := startHAProxy(t, ca), startHAProxy(t, ca)
	must(t, os.Remove(h2.sock)) // the socket is gone; HAProxy 2 no longer hears us
	fleet := Fleet{h1.client("lb1"), h2.client("lb2")}
	bundle, serial := ca.leaf(t, "ecdsa", "shop.test")
	res := fleet.Push(ctx(t), "shop", bundle)
	if len(res) != 2 || res[0].Instance != "lb1" || res[0].Err != nil {
		t.Fatalf("lb1: %+v, want success", res)
	}
	if res[1].Instance != "lb2" || !errors.Is(res[1].Err, ErrUnavailable) || !strings.Contains(res[1].Err.Error(), "lb2") {
		t.Fatalf("lb2: %+v, want ErrUnavailable naming lb2", res[1])
	}
	sameSerial(t, "lb1 serves", servedSerial(t, h1.https, "shop.test", nil), serial)
	sameSerial(t, "lb2 unchanged", servedSerial(t, h2.https, "shop.test", nil), h2.placeholderSerial)
}

func TestRestartLoadsFromDisk(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, serial := ca.leaf(t, "rsa2048", "shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))
	h.restart(t)
	sameSerial(t, "after restart", servedSerial(t, h.https, "shop.test", nil), serial)
	got, err := c.Serial(ctx(t), "shop")
	must(t, err)
	sameSerial(t, "Serial() after restart", got, serial)
}

// Concurrent pushes through one client must not interleave transactions:
// on 2.6 that serves one domain's certificate under another's name.
func TestConcurrentPushesStayApart(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	serials := make([]*big.Int, 6)
	errs := make([]error, len(serials))
	var wg sync.WaitGroup
	for i := range serials {
		var bundle []byte
		bundle, serials[i] = ca.leaf(t, "ecdsa", fmt.Sprintf("s%d.test", i))
		wg.Go(func() { errs[i] = c.Push(ctx(t), fmt.Sprintf("s%d", i), bundle) })
	}
	wg.Wait()
	for i, s := range serials {
		must(t, errs[i])
		sameSerial(t, fmt.Sprintf("s%d.test", i), servedSerial(t, h.https, fmt.Sprintf("s%d.test", i), nil), s)
		if n := crtListLines(t, h, c.Path(fmt.Sprintf("s%d", i))); n != 1 {
			t.Fatalf("crt-list file has %d lines for s%d", n, i)
		}
	}
}

// A socket that accepts but never answers costs its own instance only: the
// fleet still updates the real HAProxy and reports a timeout for the hung
// instance, by name, within the per-command deadline.
func TestFleetHungSocketDoesNotBlockOthers(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	hung := newFake(t, func(string) string { return hang })
	hc := hung.client(t)
	must(t, os.MkdirAll(filepath.Dir(hc.Path("shop")), 0o700))
	fleet := Fleet{hc, h.client("lb1")}
	bundle, serial := ca.leaf(t, "ecdsa", "shop.test")
	start := time.Now()
	res := fleet.Push(ctx(t), "shop", bundle)
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("fleet push took %v: the hung socket held up the others", took)
	}
	if len(res) != 2 || res[0].Instance != "fake1" || !errors.Is(res[0].Err, ErrTimeout) || !strings.Contains(res[0].Err.Error(), "fake1") {
		t.Fatalf("hung instance: %+v, want ErrTimeout naming fake1", res)
	}
	if res[1].Instance != "lb1" || res[1].Err != nil {
		t.Fatalf("lb1: %+v, want success", res[1])
	}
	sameSerial(t, "lb1 serves", servedSerial(t, h.https, "shop.test", nil), serial)
}

// TestRemoveCleansDiskWhenHAProxyIsFrozen: a frozen HAProxy (SIGSTOP) keeps
// its socket open and never answers, and a call that hangs on it holds the
// instance's lock. A removal must still take the crt-list line out at once,
// before it waits for the socket: the file is what HAProxy loads when it is
// restarted instead of thawed.
func TestRemoveCleansDiskWhenHAProxyIsFrozen(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	bundle, _ := ca.leaf(t, "ecdsa", "shop.test")
	must(t, c.Push(ctx(t), "shop", bundle))
	must(t, h.cmd.Process.Signal(syscall.SIGSTOP))
	defer h.cmd.Process.Signal(syscall.SIGCONT)
	waitStopped(t, h.cmd.Process.Pid)
	hung := make(chan error, 1)
	go func() { _, err := c.Loaded(ctx(t)); hung <- err }()
	time.Sleep(100 * time.Millisecond) // let Loaded take the lock and hang
	rctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.Remove(rctx, "shop"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Remove = %v, want ErrTimeout", err)
	}
	if n := crtListLines(t, h, c.Path("shop")); n != 0 {
		t.Fatal("the crt-list line stayed while HAProxy was frozen; a restart would load the removed certificate")
	}
	if err := <-hung; !errors.Is(err, ErrTimeout) {
		t.Fatalf("Loaded on a frozen HAProxy = %v, want ErrTimeout", err)
	}
}

// waitStopped returns once every thread of pid is stopped: kill(2) only
// queues SIGSTOP, and on a loaded machine a thread can still answer a
// command sent right after it.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(b, ')'); err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy (pid %d) not stopped 10 s after SIGSTOP", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
