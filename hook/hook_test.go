package hook

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log sink the runner's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
	ch chan string
}

func newCounts() *counts { return &counts{m: map[string]int{}, ch: make(chan string, 16)} }

func (c *counts) add(event, result string) {
	c.mu.Lock()
	c.m[event+"/"+result]++
	c.mu.Unlock()
	c.ch <- event + "/" + result
}

// next waits for the next outcome.
func (c *counts) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no hook outcome within 30 s")
		return ""
	}
}

func serve(t *testing.T, opt Options) (*Runner, *syncBuffer, *counts) {
	t.Helper()
	buf := &syncBuffer{}
	c := newCounts()
	opt.Logger = slog.New(slog.NewTextHandler(buf, nil))
	opt.Count = c.add
	r := New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, buf, c
}

func TestEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	t.Setenv("HOTCERT_TEST_SECRET", "s3cret")
	r, _, c := serve(t, Options{Commands: map[string][]string{
		Failed: {"/bin/sh", "-c", "env > " + out},
	}})
	na := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	if !r.Run(Event{Name: Failed, Cert: "shop", Domains: []string{"a.example", "b.example"}, KeyType: "ecdsa-p256",
		Serial: "0A1B", NotAfter: na, Bundle: "/srv/certs/shop.pem", Error: "refused"}) {
		t.Fatal("Run refused the event")
	}
	if got := c.next(t); got != "failed/ok" {
		t.Fatalf("outcome %s", got)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, want := range []string{
		"HOTCERT_EVENT=failed", "HOTCERT_CERT=shop", "HOTCERT_DOMAINS=a.example,b.example",
		"HOTCERT_KEY_TYPE=ecdsa-p256", "HOTCERT_SERIAL=0A1B", "HOTCERT_NOT_AFTER=2030-01-02T02:04:05Z",
		"HOTCERT_BUNDLE=/srv/certs/shop.pem", "HOTCERT_ERROR=refused", "PATH=" + os.Getenv("PATH"),
	} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %s:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "s3cret") {
		t.Error("hotcert's own environment reached the hook")
	}
}

func TestDeployedHasNoError(t *testing.T) {
	for _, kv := range Env(Event{Name: Deployed, Error: "x"}) {
		if strings.HasPrefix(kv, "HOTCERT_ERROR=") {
			t.Errorf("deployed got %s", kv)
		}
	}
}

func TestOutputAndFailure(t *testing.T) {
	r, logs, c := serve(t, Options{Commands: map[string][]string{
		Failed: {"/bin/sh", "-c", "echo one; echo two >&2; printf 'no newline' >&2; exit 3"},
	}})
	r.Run(Event{Name: Failed, Cert: "shop"})
	if got := c.next(t); got != "failed/failed" {
		t.Fatalf("outcome %s", got)
	}
	l := logs.String()
	for _, want := range []string{
		`msg="hook output" cert=shop event=failed stream=stdout line=one`,
		`msg="hook output" cert=shop event=failed stream=stderr line=two`,
		`stream=stderr line="no newline"`,
		`msg="hook failed" cert=shop event=failed err="/bin/sh: exit status 3: no newline" last_stderr="no newline"`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
}

// The limit kills the whole process group: a script's children too.
func TestTimeoutKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, logs, c := serve(t, Options{Timeout: 500 * time.Millisecond, Commands: map[string][]string{
		Deployed: {"/bin/sh", "-c", "sleep 300 & echo $! > " + pidFile + "; wait"},
	}})
	r.Run(Event{Name: Deployed, Cert: "shop"})
	if got := c.next(t); got != "deployed/timeout" {
		t.Fatalf("outcome %s", got)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	gone(t, pid)
	if !strings.Contains(logs.String(), `msg="hook killed at its limit" cert=shop event=deployed limit=500ms`) {
		t.Errorf("log:\n%s", logs)
	}
}

// gone waits until pid no longer exists (a killed child of a killed shell
// is reaped by init, which takes a moment).
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQueueBound(t *testing.T) {
	buf := &syncBuffer{}
	c := newCounts()
	r := New(Options{Queue: 2, Logger: slog.New(slog.NewTextHandler(buf, nil)), Count: c.add,
		Commands: map[string][]string{Failed: {"/bin/true"}}})
	// Not served: nothing drains the queue.
	for i, want := range []bool{true, true, false} {
		if got := r.Run(Event{Name: Failed, Cert: "c" + strconv.Itoa(i)}); got != want {
			t.Errorf("Run %d: %v, want %v", i, got, want)
		}
	}
	if got := c.next(t); got != "failed/dropped" {
		t.Errorf("outcome %s", got)
	}
	if !strings.Contains(buf.String(), `msg="hook dropped: too many hooks waiting" cert=c2 event=failed`) {
		t.Errorf("log:\n%s", buf)
	}
	if r.Run(Event{Name: Deployed, Cert: "x"}) {
		t.Error("an event without a command was accepted")
	}
}

func TestShutdownKills(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := newCounts()
	r := New(Options{Grace: 100 * time.Millisecond, Count: c.add, Commands: map[string][]string{
		Deployed: {"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 300"},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx); close(done) }()
	r.Run(Event{Name: Deployed, Cert: "shop"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hook did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if got := c.next(t); got != "deployed/failed" {
		t.Errorf("outcome %s", got)
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	gone(t, pid)
}
