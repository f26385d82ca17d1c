package runtime

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func wantLoaded(t *testing.T, what string, got map[string]*big.Int, want map[string]*big.Int) {
	t.Helper()
	ok := len(got) == len(want)
	for n, s := range want {
		ok = ok && got[n] != nil && got[n].Cmp(s) == 0
	}
	if !ok {
		t.Fatalf("%s: Loaded() = %s, want %s", what, hexes(got), hexes(want))
	}
}

func hexes(m map[string]*big.Int) string {
	var out []string
	for n, s := range m {
		out = append(out, n+"="+s.Text(16))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// After a restart Loaded must report what HAProxy loaded from disk, not
// what the client remembers: here someone replaced one PEM and removed
// another certificate while HAProxy was down.
func TestLoadedAfterRestartReadsWhatHAProxyLoaded(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	a, aSerial := ca.leaf(t, "ecdsa", "a.test")
	b, bSerial := ca.leaf(t, "ecdsa", "b.test")
	must(t, c.Push(ctx(t), "a", a))
	must(t, c.Push(ctx(t), "b", b))
	loaded, err := c.Loaded(ctx(t))
	must(t, err)
	wantLoaded(t, "before restart", loaded, map[string]*big.Int{"a": aSerial, "b": bSerial})

	a2, a2Serial := ca.leaf(t, "ecdsa", "a.test")
	must(t, os.WriteFile(c.Path("a"), a2, 0o600))
	must(t, crtListAt(h.crtList, 0).remove(c.Path("b")))
	must(t, os.Remove(c.Path("b")))
	h.restart(t)

	loaded, err = c.Loaded(ctx(t))
	must(t, err)
	wantLoaded(t, "after restart", loaded, map[string]*big.Int{"a": a2Serial})

	// A push right after a restart, before Loaded noticed, still works for
	// a store the restart dropped.
	h.restart(t)
	b2, b2Serial := ca.leaf(t, "ecdsa", "b.test")
	must(t, c.Push(ctx(t), "b", b2))
	sameSerial(t, "b served after a push into a restarted HAProxy", servedSerial(t, h.https, "b.test", nil), b2Serial)
}

// Pushes and removals keep the client's view up to date without a rescan.
func TestLoadedFollowsPushAndRemove(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	loaded, err := c.Loaded(ctx(t))
	must(t, err)
	wantLoaded(t, "empty", loaded, nil)
	a, aSerial := ca.leaf(t, "ecdsa", "a.test")
	must(t, c.Push(ctx(t), "a", a))
	a2, a2Serial := ca.leaf(t, "ecdsa", "a.test")
	must(t, c.Push(ctx(t), "a", a2))
	loaded, err = c.Loaded(ctx(t))
	must(t, err)
	wantLoaded(t, "after push and renewal", loaded, map[string]*big.Int{"a": a2Serial})
	sameSerial(t, "served", servedSerial(t, h.https, "a.test", nil), a2Serial)
	if aSerial.Cmp(a2Serial) == 0 {
		t.Fatal("test needs two serials")
	}
	must(t, c.Remove(ctx(t), "a"))
	loaded, err = c.Loaded(ctx(t))
	must(t, err)
	wantLoaded(t, "after remove", loaded, nil)
}

// Runtime map entries die with the HAProxy process; the client puts back
// the ones not cleaned up when Loaded notices the restart.
func TestMapEntriesBackAfterRestart(t *testing.T) {
	ca := newCA(t)
	h := startHAProxy(t, ca)
	c := h.client("lb1")
	s := MapSolver{Fleet: Fleet{c}, Map: h.mapFile}
	url := func(tok string) string { return "http://" + h.http + "/.well-known/acme-challenge/" + tok }
	_, err := c.Loaded(ctx(t))
	must(t, err)
	must(t, s.Present(ctx(t), "pending", "pending.thumb"))
	must(t, s.Present(ctx(t), "done", "done.thumb"))
	must(t, s.CleanUp(ctx(t), "done"))

	h.restart(t)
	if code, _ := httpGet(t, url("pending")); code != http.StatusNotFound {
		t.Fatalf("right after the restart: %d, want 404 (HAProxy lost the entry)", code)
	}
	_, err = c.Loaded(ctx(t))
	must(t, err)
	if code, body := httpGet(t, url("pending")); code != 200 || body != "pending.thumb" {
		t.Fatalf("after Loaded noticed the restart: %d %q, want 200 pending.thumb", code, body)
	}
	if code, _ := httpGet(t, url("done")); code != http.StatusNotFound {
		t.Fatalf("cleaned-up token after restart: %d, want 404", code)
	}
	must(t, s.CleanUp(ctx(t), "pending"))
	h.restart(t)
	_, err = c.Loaded(ctx(t))
	must(t, err)
	if code, _ := httpGet(t, url("pending")); code != http.StatusNotFound {
		t.Fatalf("token cleaned up before the second restart: %d, want 404", code)
	}
}

// infoScript answers like HAProxy 2.6 for Loaded: show info from *pid and
// *uptime, and two stores under the client's CertDir.
func infoScript(c *Client, mu *sync.Mutex, pid, uptime *int) func(string) string {
	a, b := c.Path("a"), c.Path("b")
	return func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		switch cmd {
		case "show info":
			return fmt.Sprintf("Name: HAProxy\nPid: %d\nUptime_sec: %d\nStart_time_sec: 1700000000", *pid, *uptime)
		case "show ssl cert":
			return "# filename\n/etc/haproxy/placeholder.pem\n" + a + "\n" + b
		case "show ssl cert " + a:
			return "Filename: " + a + "\nStatus: Used\nSerial: 0A"
		case "show ssl cert " + b:
			return "Filename: " + b + "\nStatus: Used\nSerial: 0B"
		}
		return "[3]: Unknown command"
	}
}

// Loaded reads every store on the first call and after a restart only;
// otherwise the listing is read again once per Rescan, by the rolling check.
func TestFakeLoadedReadsEveryStoreOnlyWhenNeeded(t *testing.T) {
	var mu sync.Mutex
	pid, uptime := 42, 100
	f := newFake(t, nil)
	now := time.Unix(1700000000, 0)
	c := New(Options{Name: "fake1", Socket: f.sock, CertDir: "/etc/haproxy/certs", CrtList: "/etc/haproxy/list",
		Timeout: time.Second, Rescan: 10 * time.Minute, Now: func() time.Time { return now }})
	f.setReply(infoScript(c, &mu, &pid, &uptime))
	want := map[string]*big.Int{"a": big.NewInt(10), "b": big.NewInt(11)}
	step := func(what string, listing bool) {
		t.Helper()
		before := len(f.commands())
		loaded, err := c.Loaded(context.Background())
		must(t, err)
		wantLoaded(t, what, loaded, want)
		sent := f.commands()[before:]
		if got := slices.Contains(sent, "show ssl cert"); got != listing || sent[0] != "show info" {
			t.Fatalf("%s: sent %q, want show info and listing=%v", what, sent, listing)
		}
		if !listing && len(sent) != 1 {
			t.Fatalf("%s: sent %q, want only show info", what, sent)
		}
	}
	step("first call", true)
	step("nothing changed", false)
	mu.Lock()
	uptime = 130
	mu.Unlock()
	step("uptime went on", false)
	mu.Lock()
	pid = 43
	mu.Unlock()
	step("new pid", true)
	mu.Lock()
	uptime = 5
	mu.Unlock()
	step("uptime went backwards", true)
	now = now.Add(11 * time.Minute)
	step("Rescan passed: the rolling check reads the listing", true)
	step("right after the rolling check", false)
}

// A push that fails midway makes the client read that store again instead
// of trusting its last view.
func TestFakeFailedPushIsReread(t *testing.T) {
	var mu sync.Mutex
	pid, uptime := 42, 100
	f := newFake(t, nil)
	c := f.client(t)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	info := infoScript(c, &mu, &pid, &uptime)
	f.setReply(info)
	_, err := c.Loaded(context.Background())
	must(t, err)
	push := script(c, map[string]string{"commit ssl cert": "[3]: Failed!"})
	f.setReply(func(cmd string) string {
		switch cmd {
		case "show info":
			return info(cmd)
		case "show ssl cert " + c.Path("shop"):
			return "[3]: Can't display the certificate: Not found or the certificate is a bundle!"
		}
		return push(cmd)
	})
	if err := c.Push(context.Background(), "shop", pushBundle(t)); err == nil {
		t.Fatal("Push with a failing commit succeeded")
	}
	before := len(f.commands())
	_, err = c.Loaded(context.Background())
	must(t, err)
	if sent := f.commands()[before:]; !slices.Contains(sent, "show ssl cert "+c.Path("shop")) {
		t.Fatalf("Loaded after a failed push sent %q, want a read of that store", sent)
	}
}
