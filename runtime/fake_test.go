package runtime

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Special replies of the fake socket.
const (
	closeNow = "\x00close" // close the connection without a byte
	hang     = "\x00hang"  // accept, read, never answer
	// cut, after a reply, sends the replies so far and that one, without
	// the empty line that ends it, and closes: a reply cut short.
	cut = "\x00cut"
)

// versionReply is the fake's answer to the end mark.
const versionReply = "[6]: 2.6.12-fake"

// fakeHAProxy is a wire-level stand-in for the stats socket: it records every
// command and answers from a script, for replies real HAProxy won't give on demand.
type fakeHAProxy struct {
	sock  string
	mu    sync.Mutex
	got   []string
	conns int
	reply func(cmd string) string
	done  chan struct{}
}

func newFake(t *testing.T, reply func(cmd string) string) *fakeHAProxy {
	t.Helper()
	f := &fakeHAProxy{sock: filepath.Join(shortTempDir(t), "fake.sock"), reply: reply, done: make(chan struct{})}
	ln, err := net.Listen("unix", f.sock)
	must(t, err)
	t.Cleanup(func() { close(f.done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakeHAProxy) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	cmd := strings.TrimSuffix(strings.TrimPrefix(line, severityPrefix), "\n")
	next := ""
	if strings.HasSuffix(cmd, " <<") {
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\n" {
				break
			}
			cmd += "\n" + strings.TrimSuffix(l, "\n")
		}
		// The line after a payload holds more commands (the end mark), sent
		// in the same write; a client that sends none is not waited for.
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		next, _ = r.ReadString('\n')
	}
	// A line may hold several commands; the payload belongs to the last.
	line, payload, _ := strings.Cut(cmd, "\n")
	cmds := strings.Split(line, ";")
	if payload != "" {
		cmds[len(cmds)-1] += "\n" + payload
	}
	if next = strings.TrimSuffix(next, "\n"); next != "" {
		cmds = append(cmds, strings.Split(next, ";")...)
	}
	marked := cmds[len(cmds)-1] == endMark
	if marked {
		cmds = cmds[:len(cmds)-1] // answered below; tests see only their commands
	}
	f.mu.Lock()
	f.conns++
	f.got = append(f.got, cmds...)
	reply := f.reply
	f.mu.Unlock()
	var outs []string
	for _, cmd := range cmds {
		out := reply(cmd)
		switch short, isCut := strings.CutSuffix(out, cut); {
		case out == closeNow:
			return
		case out == hang:
			<-f.done
			return
		case isCut:
			conn.Write([]byte("\n" + strings.Join(append(outs, short), "\n\n")))
			return
		default:
			outs = append(outs, out)
		}
	}
	if marked {
		outs = append(outs, versionReply)
	}
	conn.Write([]byte("\n" + strings.Join(outs, "\n\n") + "\n\n"))
}

func (f *fakeHAProxy) setReply(reply func(string) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = reply
}

func (f *fakeHAProxy) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.got))
	for i, c := range f.got {
		out[i] = firstLine(c)
	}
	return out
}

func (f *fakeHAProxy) client(t *testing.T) *Client {
	dir := t.TempDir()
	// As on a real host: the crt-list exists, its first line the default.
	must(t, os.WriteFile(filepath.Join(dir, "certs.list"), []byte("/etc/haproxy/default.pem\n"), 0o600))
	return New(Options{Name: "fake1", Socket: f.sock, CertDir: filepath.Join(dir, "certs"),
		CrtList: filepath.Join(dir, "certs.list"), Timeout: 300 * time.Millisecond})
}

// script answers a push of a brand-new certificate like HAProxy 2.6, with
// override for the commands (matched by prefix) a test wants to change.
func script(c *Client, override map[string]string) func(string) string {
	path, list := c.Path("shop"), c.opts.CrtList
	var mu sync.Mutex
	var open, serial string // the open transaction; the serial of the last set
	return func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		for prefix, out := range override {
			if strings.HasPrefix(cmd, prefix) {
				return out
			}
		}
		switch {
		case cmd == "show ssl cert":
			return "# filename\n/etc/haproxy/placeholder.pem"
		case cmd == "show ssl cert "+path:
			return "Filename: " + path + "\nStatus: Used\nSerial: " + serial
		case strings.HasPrefix(cmd, "new ssl cert"):
			return "[5]: New empty certificate store '" + path + "'!"
		case strings.HasPrefix(cmd, "set ssl cert"):
			_, payload, _ := strings.Cut(cmd, "\n")
			if b, err := sanitise([]byte(payload)); err == nil {
				serial = b.serial.Text(16)
			}
			open = path
			return "[5]: Transaction created for certificate " + path + "!"
		case strings.HasPrefix(cmd, "commit ssl cert"):
			open = ""
			return "Committing " + path + "\nSuccess!"
		case strings.HasPrefix(cmd, "abort ssl cert") && open == "":
			return "[3]: No ongoing transaction!"
		case strings.HasPrefix(cmd, "abort ssl cert"):
			open = ""
			return "[5]: Transaction aborted for certificate '" + strings.TrimPrefix(cmd, "abort ssl cert ") + "'!"
		case strings.HasPrefix(cmd, "show ssl crt-list"):
			return "# " + list + "\n/etc/haproxy/placeholder.pem:1"
		case strings.HasPrefix(cmd, "add ssl crt-list"):
			return "Inserting certificate '" + path + "' in crt-list '" + list + "'.\nSuccess!"
		case strings.HasPrefix(cmd, "del ssl crt-list"): // a store it never made
			return "[3]: Can't delete the entry: certificate '" + lastField(cmd) + "' does not exist!"
		case strings.HasPrefix(cmd, "del ssl cert"):
			return "[3]: Can't remove the certificate: certificate '" + lastField(cmd) + "' doesn't exist!"
		}
		return "[3]: Unknown command"
	}
}

func lastField(s string) string {
	f := strings.Fields(s)
	return f[len(f)-1]
}

// after reports whether then was sent after first.
func after(cmds []string, first, then string) bool {
	i := slices.Index(cmds, first)
	return i >= 0 && slices.Contains(cmds[i+1:], then)
}

func pushBundle(t *testing.T) []byte {
	b, _ := newCA(t).leaf(t, "ecdsa", "shop.test")
	return b
}

func hasCommand(cmds []string, want string) bool {
	for _, c := range cmds {
		if c == want {
			return true
		}
	}
	return false
}

func TestFakeSetUpdatesAnotherTransaction(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	f.setReply(script(c, map[string]string{
		"set ssl cert": "[5]: Transaction updated for certificate /etc/haproxy/other.pem!",
	}))
	err := c.Push(context.Background(), "shop", pushBundle(t))
	var te *TransactionError
	if !errors.As(err, &te) || te.Open != "/etc/haproxy/other.pem" {
		t.Fatalf("Push = %v, want TransactionError for /etc/haproxy/other.pem", err)
	}
	cmds := f.commands()
	if !hasCommand(cmds, "abort ssl cert /etc/haproxy/other.pem") || hasCommand(cmds, "commit ssl cert "+c.Path("shop")) {
		t.Fatalf("commands %q: want the polluted transaction aborted and no commit", cmds)
	}
}

func TestFakeCommitFailed(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	f.setReply(script(c, map[string]string{
		"commit ssl cert": "Committing " + c.Path("shop") + "\n[3]: Failed!\ninconsistencies between private key and certificate loaded",
	}))
	err := c.Push(context.Background(), "shop", pushBundle(t))
	if !errors.Is(err, ErrCommitFailed) || !strings.Contains(err.Error(), "shop") || !strings.Contains(err.Error(), "fake1") {
		t.Fatalf("Push = %v, want ErrCommitFailed naming shop and fake1", err)
	}
	if !after(f.commands(), "commit ssl cert "+c.Path("shop"), "abort ssl cert "+c.Path("shop")) {
		t.Fatalf("commands %q: a failed commit must be aborted", f.commands())
	}
}

func TestFakeLocked(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	f.setReply(script(c, map[string]string{
		"set ssl cert": "[3]: Can't replace a certificate!\nOperations on certificates are currently locked!",
	}))
	if err := c.Push(context.Background(), "shop", pushBundle(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("Push = %v, want ErrLocked", err)
	}
	if !after(f.commands(), "set ssl cert "+c.Path("shop")+" <<", "abort ssl cert "+c.Path("shop")) {
		t.Fatalf("commands %q: want an abort after the failed set", f.commands())
	}
}

func TestFakeClosedWithoutReply(t *testing.T) {
	f := newFake(t, func(string) string { return closeNow })
	c := f.client(t)
	if _, err := c.Serial(context.Background(), "shop"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Serial = %v, want ErrUnavailable", err)
	}
	if err := c.DelMapEntry(context.Background(), "/etc/haproxy/acme.map", "tok"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("DelMapEntry = %v, want ErrUnavailable (an empty reply is not a success)", err)
	}
}

func TestFakeMissingSocket(t *testing.T) {
	c := New(Options{Name: "gone", Socket: filepath.Join(t.TempDir(), "nope.sock"), CertDir: "/x", CrtList: "/x.list"})
	if _, err := c.Info(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Info = %v, want ErrUnavailable", err)
	}
}

func TestFakeHungSocketTimesOut(t *testing.T) {
	hung := newFake(t, func(string) string { return hang })
	c := hung.client(t)
	start := time.Now()
	_, err := c.Info(context.Background())
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Info = %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timed out after %v, want about the 300ms per-command timeout", d)
	}

	info := "Name: HAProxy\nPid: 42\nUptime_sec: 7"
	healthy := newFake(t, func(string) string { return info })
	if got, err := healthy.client(t).Info(context.Background()); err != nil || got.Pid != 42 || got.Uptime != 7*time.Second {
		t.Fatalf("another client: %+v %v", got, err)
	}
	// The same client must not queue behind the call still stuck in client-native.
	hung.setReply(func(string) string { return info })
	start = time.Now()
	if got, err := c.Info(context.Background()); err != nil || got.Pid != 42 || time.Since(start) > time.Second {
		t.Fatalf("same client after the socket recovered: %+v %v after %v", got, err, time.Since(start))
	}
}

func TestFakeInvalidNameSendsNothing(t *testing.T) {
	f := newFake(t, func(string) string { return "[3]: must not be reached" })
	c := f.client(t)
	bundle := pushBundle(t)
	for _, name := range []string{"", "a;b", "a\nb", "a b", "a/b", "..", "x..y", "a\\b", "a:1", "a\tb", "a\x00b"} {
		errs := []error{c.Push(context.Background(), name, bundle), c.Remove(context.Background(), name)}
		_, err := c.Serial(context.Background(), name)
		errs = append(errs, err)
		for _, err := range errs {
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("name %q: %v, want ErrInvalidName", name, err)
			}
		}
	}
	for _, kv := range [][2]string{{"tok;x", "v"}, {"tok", "v\nshow info"}, {"t k", "v"}} {
		if err := c.AddMapEntry(context.Background(), "/m.map", kv[0], kv[1]); !errors.Is(err, ErrInvalidName) {
			t.Errorf("map entry %q: %v, want ErrInvalidName", kv, err)
		}
	}
	if n := len(f.commands()); n != 0 {
		t.Fatalf("%d commands reached the socket: %q", n, f.commands())
	}
}

func TestFakeUnknownCrtList(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	f.setReply(script(c, map[string]string{
		"show ssl crt-list": "[3]: didn't find the specified filename",
		"add ssl crt-list":  "[3]: crt-list '" + c.opts.CrtList + "' does not exist!",
	}))
	err := c.Push(context.Background(), "shop", pushBundle(t))
	if !errors.Is(err, ErrNotLoaded) || !strings.Contains(err.Error(), c.opts.CrtList) {
		t.Fatalf("Push = %v, want ErrNotLoaded naming the crt-list", err)
	}
}

// A missing or empty crt-list would make hotcert's certificate the default,
// which HAProxy never lets go of: refused before anything is sent.
func TestFakeMissingOrEmptyCrtList(t *testing.T) {
	f := newFake(t, func(string) string { return "[3]: must not be reached" })
	c := f.client(t)
	must(t, os.MkdirAll(filepath.Dir(c.Path("shop")), 0o700))
	for _, content := range []string{"", "\n \n"} {
		must(t, os.WriteFile(c.opts.CrtList, []byte(content), 0o600))
		if err := c.Push(context.Background(), "shop", pushBundle(t)); !errors.Is(err, ErrNoCrtList) || !strings.Contains(err.Error(), c.opts.CrtList) {
			t.Fatalf("crt-list %q: Push = %v, want ErrNoCrtList naming the file", content, err)
		}
	}
	must(t, os.Remove(c.opts.CrtList))
	if err := c.Push(context.Background(), "shop", pushBundle(t)); !errors.Is(err, ErrNoCrtList) {
		t.Fatalf("missing crt-list: Push = %v, want ErrNoCrtList", err)
	}
	if n := len(f.commands()); n != 0 {
		t.Fatalf("%d commands reached the socket: %q", n, f.commands())
	}
	if _, err := os.Stat(c.opts.CrtList); !os.IsNotExist(err) {
		t.Fatalf("the missing crt-list was created: %v", err)
	}
}
