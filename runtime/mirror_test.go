package runtime

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memMap is one HAProxy's challenge map in memory, failing on demand.
type memMap struct {
	name    string
	mu      sync.Mutex
	entries map[string]string
	down    bool     // every command fails as if HAProxy did not answer
	sent    []string // "add TOKEN VALUE" and "del TOKEN", failed ones too
}

func newMemMap(name string) *memMap { return &memMap{name: name, entries: map[string]string{}} }

func (m *memMap) Name() string { return m.name }

func (m *memMap) AddMapEntry(_ context.Context, _, key, value string) error {
	return m.do("add "+key+" "+value, func() { m.entries[key] = value }, key)
}

func (m *memMap) DelMapEntry(_ context.Context, _, key string) error {
	return m.do("del "+key, func() { delete(m.entries, key) }, key)
}

func (m *memMap) do(cmd string, change func(), key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, cmd)
	switch {
	case strings.HasPrefix(key, "#"):
		return fmt.Errorf("map key %q: %w", key, ErrInvalidName)
	case m.down:
		return fmt.Errorf("%s: %w", m.name, ErrUnavailable)
	}
	change()
	return nil
}

func (m *memMap) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// sentFor returns the commands sent for token, failed ones too.
func (m *memMap) sentFor(token string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.sent {
		if strings.Fields(c)[1] == token {
			out = append(out, c)
		}
	}
	return out
}

func wantEntries(t *testing.T, m *memMap, want map[string]string) {
	t.Helper()
	m.mu.Lock()
	got := maps.Clone(m.entries)
	m.mu.Unlock()
	if !maps.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", m.name, got, want)
	}
}

// A cluster's token events reach every instance: the latest wish for each
// token wins, a dead instance delays only itself and catches up with
// backoff, a wish that a newer one replaced is not retried, and an invalid
// token is not retried at all.
func TestMapMirrorFollowsTokenEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lb1, lb2 := newMemMap("lb1"), newMemMap("lb2")
		m := newMapMirror([]mapWriter{lb1, lb2}, "/etc/haproxy/acme.map", nil, time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()

		m.Set("a", "a.1")
		m.Set("b", "b.1")
		m.Delete("a")
		m.Set("b", "b.2")
		synctest.Wait()
		wantEntries(t, lb1, map[string]string{"b": "b.2"})
		wantEntries(t, lb2, map[string]string{"b": "b.2"})

		lb2.setDown(true)
		m.Set("c", "c.1")
		synctest.Wait()
		wantEntries(t, lb1, map[string]string{"b": "b.2", "c": "c.1"}) // at once, whatever lb2 does
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if tries := len(lb2.sentFor("c")); tries != 4 { // at 0, 1s, 3s and 7s
			t.Errorf("lb2 was sent c %d times in 10s, want 4 (backoff 1s, 2s, 4s, 8s)", tries)
		}
		m.Set("d", "d.1") // waits for lb2's next try, at 15s
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if sent := lb2.sentFor("d"); len(sent) != 1 {
			t.Fatalf("lb2 was sent %q by its try at 15s, want one add", sent)
		}
		m.Delete("d") // replaces the add that failed, which must not be tried again
		lb2.setDown(false)
		time.Sleep(16 * time.Second)
		synctest.Wait()
		wantEntries(t, lb2, map[string]string{"b": "b.2", "c": "c.1"})
		wantEntries(t, lb1, map[string]string{"b": "b.2", "c": "c.1"})
		if sent := lb2.sentFor("d"); !slices.Equal(sent, []string{"add d d.1", "del d"}) {
			t.Errorf("lb2 was sent %q for d; want the add that failed, then only the delete", sent)
		}

		m.Set("#bad", "x")
		time.Sleep(time.Minute)
		synctest.Wait()
		if sent := lb1.sentFor("#bad"); len(sent) != 1 {
			t.Errorf("an invalid token was sent %q, want once", sent)
		}
		cancel()
		<-done
	})
}

// Against real HAProxy: two instances share the map path, as the instances
// of one config do, and a third starts only after the token was set.
func TestMapMirrorRealHAProxy(t *testing.T) {
	ca := newCA(t)
	h1 := startHAProxy(t, ca)
	h2, h3 := newHAProxy(t, ca), newHAProxy(t, ca)
	for _, h := range []*haproxy{h2, h3} {
		h.mapFile = h1.mapFile
		must(t, os.WriteFile(h.cfg, []byte(h.config()), 0o644))
	}
	h2.start(t)
	m := NewMapMirror(Fleet{h1.client("lb1"), h2.client("lb2"), h3.client("lb3")}, h1.mapFile, nil)
	m.retry = 20 * time.Millisecond
	go m.Run(ctx(t))

	answers := func(h *haproxy, want string) func() bool {
		return func() bool {
			code, body := httpGet(t, "http://"+h.http+"/.well-known/acme-challenge/tok-1")
			return (want == "" && code == http.StatusNotFound) || (code == 200 && body == want)
		}
	}
	m.Set("tok-1", "tok-1.thumb")
	eventually(t, "lb1 answers", answers(h1, "tok-1.thumb"))
	eventually(t, "lb2 answers", answers(h2, "tok-1.thumb"))
	h3.start(t) // it was down when the token came
	eventually(t, "lb3 answers once it is up", answers(h3, "tok-1.thumb"))
	m.Delete("tok-1")
	for _, h := range []*haproxy{h1, h2, h3} {
		eventually(t, h.http+" forgets", answers(h, ""))
	}
}

// eventually waits up to 10 s for cond, which polls real HAProxy.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}
