package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The ways the CA proxy answers.
const (
	caUp    int32 = iota // pass every request to Pebble
	caError              // answer 500 to everything
	caDown               // close every connection without a reply
)

// caProxy stands between hotcert and Pebble and fails on demand. Pebble
// builds its URLs from the Host header, which the proxy keeps, so every
// ACME request after the directory goes through the proxy too.
type caProxy struct {
	mode atomic.Int32
	// failed counts the requests the proxy failed: proof that hotcert
	// asked the CA during a fault.
	failed atomic.Int64
}

// startCAProxy puts a proxy in front of e's CA and points hotcert.yaml at it;
// call it before e.start. hotcert trusts the proxy's certificate through
// ca_roots, next to Pebble's.
func startCAProxy(t *testing.T, e *env) *caProxy {
	t.Helper()
	dir, err := url.Parse(e.ca.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.RootsPEM)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: dir.Scheme, Host: dir.Host})
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	c := &caProxy{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := c.mode.Load()
		if mode != caUp {
			c.failed.Add(1)
		}
		switch mode {
		case caError:
			http.Error(w, "fault injected by the test", http.StatusInternalServerError)
		case caDown:
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.directory = srv.URL + dir.Path
	proxyPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	writeFile(t, filepath.Join(e.dir, "ca.pem"), string(e.ca.RootsPEM)+string(proxyPEM))
	return c
}

// set switches the proxy to mode and returns what switches it back.
func (c *caProxy) set(mode int32) func() {
	c.mode.Store(mode)
	return func() { c.mode.Store(caUp) }
}

// stopHAProxy kills h and removes its socket, as a stopped service leaves
// it; the returned func starts h again from its files. Meanwhile the test
// holds h's ports: other tests on the machine pick free ports all the time,
// and one of them given h's port for 25 s would keep h from starting.
func stopHAProxy(h *haproxy) func() {
	h.Stop()
	os.Remove(h.Socket)
	var held []net.Listener
	for _, port := range []int{h.HTTPPort, h.HTTPSPort} {
		l, err := net.Listen("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(port)))
		if err != nil {
			h.t.Fatalf("hold the port of the stopped HAProxy: %v", err)
		}
		held = append(held, l)
	}
	return func() {
		for _, l := range held {
			l.Close()
		}
		if err := h.Start(); err != nil {
			h.t.Fatalf("start HAProxy again: %v", err)
		}
	}
}

// freezeHAProxy stops h with SIGSTOP: its sockets still accept connections
// (the kernel queues them) and nothing ever answers. The returned func
// sends SIGCONT.
func freezeHAProxy(h *haproxy) func() {
	pid := h.pid()
	cont := func() { syscall.Kill(pid, syscall.SIGCONT) }
	// A test that fails while h is frozen must not leave it stopped; the
	// earlier cleanup that kills h runs after this one.
	h.t.Cleanup(cont)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		h.t.Fatal(err)
	}
	return cont
}

// holdForeignTxn opens a certificate transaction on h as another tool
// would, for a store outside hotcert's cert_dir, and leaves it open:
// HAProxy 2.6 has one transaction per process. The payload is h's
// placeholder, a valid certificate and key (the crt-list's first line).
// The returned func aborts the transaction and deletes the store.
func holdForeignTxn(h *haproxy) func() {
	t := h.t
	list, err := os.ReadFile(h.CrtList)
	if err != nil {
		t.Fatal(err)
	}
	placeholder, err := os.ReadFile(strings.Fields(string(list))[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.Dir, "other-tool", "foreign.pem")
	cli := func(cmd, want string) {
		t.Helper()
		out, err := h.CLI(cmd)
		if err != nil || !strings.Contains(out, want) {
			cmd, _, _ = strings.Cut(cmd, "\n")
			t.Fatalf("%s: %q (%v), want %q", cmd, out, err, want)
		}
	}
	cli("new ssl cert "+path, "New empty certificate store")
	// h.CLI ends the command with a newline: the empty line that ends the
	// payload. Nothing commits.
	cli("set ssl cert "+path+" <<\n"+string(placeholder), "Transaction created for certificate "+path)
	cli("show ssl cert", "*"+path)
	return func() {
		cli("abort ssl cert "+path, "Transaction aborted for certificate '"+path+"'")
		cli("del ssl cert "+path, "deleted")
	}
}

// sample is what the meter reads at one moment: hotcert's CPU time, the
// log lines it wrote (all of them, and those at info level and above),
// and the orders Pebble accepted.
type sample struct {
	at        time.Time
	cpu       time.Duration
	all, loud int
	orders    int
}

// meter samples a running hotcert once a second from its own goroutine.
// Log lines are counted as they arrive, so a flood costs the test no copy
// of everything logged so far.
type meter struct {
	e       *env
	off     int // bytes of the log counted so far
	all     int
	loud    int
	samples []sample
	err     error
	quit    chan struct{}
	done    chan struct{}
}

func startMeter(e *env) *meter {
	p := e.proc
	p.mu.Lock()
	m := &meter{e: e, off: p.logs.Len(), quit: make(chan struct{}), done: make(chan struct{})}
	p.mu.Unlock()
	m.read()
	go func() {
		defer close(m.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-m.quit:
				m.read()
				return
			case <-tick.C:
				m.read()
			}
		}
	}()
	return m
}

func (m *meter) read() {
	if m.err != nil {
		return
	}
	cpu, err := cpuTime(m.e.proc.cmd.Process.Pid)
	if err != nil {
		m.err = fmt.Errorf("hotcert's CPU time: %w (did it exit?)", err)
		return
	}
	m.countLines()
	m.samples = append(m.samples, sample{at: time.Now(), cpu: cpu, all: m.all, loud: m.loud, orders: m.e.ca.Orders()})
}

func (m *meter) countLines() {
	p := m.e.proc
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.logs.Bytes()[m.off:]
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return
		}
		m.all++
		if !bytes.Contains(b[:i], []byte(" level=DEBUG ")) {
			m.loud++
		}
		m.off += i + 1
		b = b[i+1:]
	}
}

// stop ends sampling and returns the samples, at least two.
func (m *meter) stop(t *testing.T) []sample {
	t.Helper()
	close(m.quit)
	<-m.done
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m.samples
}

// rates is hotcert's CPU (fraction of a core) and log lines a second, at
// info level and above and with debug, between two samples.
type rates struct{ cpu, loud, all float64 }

func between(a, b sample) rates {
	s := b.at.Sub(a.at).Seconds()
	return rates{cpu: (b.cpu - a.cpu).Seconds() / s, loud: float64(b.loud-a.loud) / s, all: float64(b.all-a.all) / s}
}

// worst is the highest CPU and the highest log rate over any window of at
// least span between samples (each measured on its own window).
func worst(ss []sample, span time.Duration) rates {
	var w rates
	for i, a := range ss {
		for _, b := range ss[i+1:] {
			if b.at.Sub(a.at) < span {
				continue
			}
			r := between(a, b)
			w = rates{cpu: max(w.cpu, r.cpu), loud: max(w.loud, r.loud), all: max(w.all, r.all)}
			break
		}
	}
	return w
}

// logTail is the last n lines hotcert logged, for failure messages that
// must stay readable after a flood.
func logTail(p *process, n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.logs.Bytes()
	for i, seen := len(b)-2, 0; i >= 0; i-- {
		if b[i] != '\n' {
			continue
		}
		if seen++; seen == n {
			return string(b[i+1:])
		}
	}
	return string(b)
}
