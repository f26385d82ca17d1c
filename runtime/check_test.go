package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStores answers Loaded's commands like HAProxy 2.6 holding the stores
// in serials (path -> hex serial; "" for an empty store), which a test
// changes behind the client's back. Other commands go to next.
type fakeStores struct {
	mu          sync.Mutex
	pid, uptime int
	serials     map[string]string
	next        func(string) string
}

func (s *fakeStores) reply(cmd string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case cmd == "show info":
		return fmt.Sprintf("Name: HAProxy\nPid: %d\nUptime_sec: %d\nStart_time_sec: 1700000000", s.pid, s.uptime)
	case cmd == "show ssl cert":
		paths := []string{"/etc/haproxy/placeholder.pem"}
		for p := range s.serials {
			paths = append(paths, p)
		}
		return "# filename\n" + strings.Join(paths, "\n")
	case strings.HasPrefix(cmd, "show ssl cert "):
		path := strings.TrimPrefix(cmd, "show ssl cert ")
		serial, ok := s.serials[path]
		switch {
		case ok && serial == "":
			return "Filename: " + path + "\nStatus: Empty"
		case ok:
			return "Filename: " + path + "\nStatus: Used\nSerial: " + serial + "\nnotAfter: Dec  5 02:02:52 2026 GMT"
		case s.next == nil:
			return "[3]: Can't display the certificate: Not found or the certificate is a bundle!"
		}
	}
	if s.next == nil {
		return "[3]: Unknown command"
	}
	return s.next(cmd)
}

func (s *fakeStores) set(path, serial string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if serial == "-" {
		delete(s.serials, path)
		return
	}
	s.serials[path] = serial
}

// storesClient is a client of a fake holding n stores, name%03d with serial
// n+1, whose clock the test moves.
func storesClient(t *testing.T, n int) (*Client, *fakeStores, *fakeHAProxy, *time.Time) {
	f := newFake(t, nil)
	now := time.Unix(1700000000, 0)
	c := f.client(t)
	c.opts.Rescan, c.opts.Now = 10*time.Minute, func() time.Time { return now }
	s := &fakeStores{pid: 42, uptime: 100, serials: map[string]string{}}
	for i := range n {
		s.serials[c.Path(fmt.Sprintf("name%03d", i))] = fmt.Sprintf("%X", i+1)
	}
	f.setReply(s.reply)
	return c, s, f, &now
}

// reads counts the store reads among cmds, and whether the listing is there.
func reads(cmds []string) (n int, listing bool) {
	for _, c := range cmds {
		n += btoi(strings.HasPrefix(c, "show ssl cert /"))
		listing = listing || c == "show ssl cert"
	}
	return n, listing
}

func samePointer(a, b map[string]*big.Int) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Loaded hands out one map while nothing changes, and a new one after a
// change, leaving the map it returned before as it was.
func TestFakeLoadedSnapshotIsSharedAndNeverWritten(t *testing.T) {
	c, s, f, _ := storesClient(t, 2)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	s.next = script(c, nil)
	ctx := context.Background()
	first, err := c.Loaded(ctx)
	must(t, err)
	before := len(f.commands())
	again, err := c.Loaded(ctx)
	must(t, err)
	if !samePointer(first, again) {
		t.Fatal("Loaded cloned its map although nothing changed")
	}
	if sent := f.commands()[before:]; !slices.Equal(sent, []string{"show info"}) {
		t.Fatalf("an unchanged Loaded sent %q, want only show info", sent)
	}
	epoch := c.Epoch()

	must(t, c.Push(ctx, "shop", pushBundle(t)))
	// LoadedOf answers for a few names, from the same state, with one
	// show info and no copy of the rest.
	before = len(f.commands())
	some, err := c.LoadedOf(ctx, []string{"shop", "absent"})
	must(t, err)
	if len(some) != 1 || some["shop"] == nil {
		t.Fatalf("LoadedOf(shop, absent) = %s, want shop alone", hexes(some))
	}
	if sent := f.commands()[before:]; !slices.Equal(sent, []string{"show info"}) {
		t.Fatalf("LoadedOf sent %q, want only show info", sent)
	}
	pushed, err := c.Loaded(ctx)
	must(t, err)
	if samePointer(first, pushed) || len(first) != 2 || first["shop"] != nil || pushed["shop"] == nil {
		t.Fatalf("after a push: first %s, now %s; want the first map untouched and shop in a new one", hexes(first), hexes(pushed))
	}
	must(t, c.Remove(ctx, "shop"))
	removed, err := c.Loaded(ctx)
	must(t, err)
	if removed["shop"] != nil || pushed["shop"] == nil || len(pushed) != 3 {
		t.Fatalf("after a remove: before %s, now %s; want the earlier map untouched", hexes(pushed), hexes(removed))
	}
	if got := c.Epoch(); got != epoch {
		t.Fatalf("Epoch moved from %d to %d on the client's own push and remove", epoch, got)
	}
}

func TestFakeEpochMovesOnRestart(t *testing.T) {
	c, s, _, _ := storesClient(t, 2)
	ctx := context.Background()
	if c.Epoch() != 0 {
		t.Fatalf("Epoch before any Loaded = %d, want 0", c.Epoch())
	}
	_, err := c.Loaded(ctx)
	must(t, err)
	first := c.Epoch()
	if first == 0 {
		t.Fatal("Epoch did not move on the first full read")
	}
	s.mu.Lock()
	s.uptime += 30
	s.mu.Unlock()
	_, err = c.Loaded(ctx)
	must(t, err)
	if c.Epoch() != first {
		t.Fatalf("Epoch moved from %d to %d although HAProxy only ran on", first, c.Epoch())
	}
	s.mu.Lock()
	s.pid++
	s.mu.Unlock()
	_, err = c.Loaded(ctx)
	must(t, err)
	if c.Epoch() == first {
		t.Fatal("Epoch did not move when HAProxy restarted")
	}
}

// A store replaced, emptied or deleted behind the client's back is found
// within one cycle of the rolling check, each call reading a bounded slice,
// and only when a slice is due.
func TestFakeRollingCheckFindsDrift(t *testing.T) {
	const n = 95 // 19 slices of 5: the cycle ends before the listing is due
	c, s, f, now := storesClient(t, n)
	ctx := context.Background()
	loaded, err := c.Loaded(ctx)
	must(t, err)
	if len(loaded) != n {
		t.Fatalf("first Loaded has %d stores, want %d", len(loaded), n)
	}
	epoch := c.Epoch()
	s.set(c.Path("name017"), "ABCDEF")
	s.set(c.Path("name042"), "")
	s.set(c.Path("name094"), "-")
	want := func(l map[string]*big.Int) bool {
		return l["name017"] != nil && l["name017"].Cmp(big.NewInt(0xABCDEF)) == 0 && l["name042"] == nil && l["name094"] == nil
	}
	slice := (n + perCycle - 1) / perCycle
	for i := 1; ; i++ {
		before := len(f.commands())
		*now = now.Add(c.opts.Rescan / perCycle / 2)
		_, err := c.Loaded(ctx) // not due yet
		must(t, err)
		*now = now.Add(c.opts.Rescan / perCycle / 2)
		loaded, err = c.Loaded(ctx)
		must(t, err)
		sent := f.commands()[before:]
		if r, listing := reads(sent); r > slice || listing {
			t.Fatalf("check %d sent %d store reads (listing %v), want at most %d and no listing: %q", i, r, listing, slice, sent)
		}
		if want(loaded) {
			break
		}
		if i == perCycle-1 {
			t.Fatalf("after a whole cycle Loaded still says %s", hexes(loaded))
		}
	}
	if c.Epoch() == epoch {
		t.Fatal("Epoch did not move on a drift")
	}
	if len(loaded) != n-2 {
		t.Fatalf("Loaded has %d stores, want %d", len(loaded), n-2)
	}
}

// A store someone else added under CertDir is found by the listing, which
// is read once per Rescan and not on every check.
func TestFakeRollingCheckFindsAddedStore(t *testing.T) {
	c, s, f, now := storesClient(t, 40)
	ctx := context.Background()
	_, err := c.Loaded(ctx)
	must(t, err)
	epoch := c.Epoch()
	s.set(c.Path("added"), "77")
	s.set("/elsewhere/other.pem", "78") // not ours
	before := len(f.commands())
	var loaded map[string]*big.Int
	for range perCycle - 1 {
		*now = now.Add(c.opts.Rescan / perCycle)
		loaded, err = c.Loaded(ctx)
		must(t, err)
	}
	if _, listing := reads(f.commands()[before:]); listing || loaded["added"] != nil {
		t.Fatalf("listing read %v, added store seen %v before Rescan passed; want neither", listing, loaded["added"] != nil)
	}
	*now = now.Add(c.opts.Rescan / perCycle)
	loaded, err = c.Loaded(ctx)
	must(t, err)
	if loaded["added"] == nil || loaded["added"].Cmp(big.NewInt(0x77)) != 0 || len(loaded) != 41 {
		t.Fatalf("after Rescan Loaded says %s, want the added store too", hexes(loaded))
	}
	if c.Epoch() == epoch {
		t.Fatal("Epoch did not move when a store was added behind the client's back")
	}
}

// A slice that fails leaves Loaded answering from what it knows, and the
// same stores are read again when the next slice is due.
func TestFakeFailedSliceIsNotFatal(t *testing.T) {
	c, s, f, now := storesClient(t, 20)
	ctx := context.Background()
	_, err := c.Loaded(ctx)
	must(t, err)
	locked := true
	f.setReply(func(cmd string) string {
		if strings.HasPrefix(cmd, "show ssl cert /") && locked {
			return "[3]: Can't display the certificate!\n" + lockedText + "!"
		}
		return s.reply(cmd)
	})
	*now = now.Add(c.opts.Rescan / perCycle)
	before := len(f.commands())
	loaded, err := c.Loaded(ctx)
	if err != nil || len(loaded) != 20 {
		t.Fatalf("Loaded with a failing slice = %d stores, %v; want all 20 and no error", len(loaded), err)
	}
	failed := f.commands()[before:]
	locked = false
	*now = now.Add(c.opts.Rescan / perCycle)
	before = len(f.commands())
	_, err = c.Loaded(ctx)
	must(t, err)
	if retried := f.commands()[before:]; !slices.Equal(failed, retried) {
		t.Fatalf("after a failed slice sent %q, want the same stores again as %q", retried, failed)
	}
}

func TestSplitCertReplies(t *testing.T) {
	raw := "Filename: /a.pem\nStatus: Used\nSerial: 0A\n\n" +
		"[3]: Can't display the certificate: Not found or the certificate is a bundle!\n\n" +
		"Filename: /b.pem\nStatus: Used\n\nSerial: 0B\n\n" + // an empty line inside a reply
		"Filename: /c.pem\nStatus: Empty"
	got := splitCertReplies(raw)
	if len(got) != 4 || !strings.Contains(got[2], "Serial: 0B") || !strings.HasPrefix(got[3], "Filename: /c.pem") {
		t.Fatalf("split into %q", got)
	}
}

// Replies are matched to commands by position; a reply naming another
// store, or one reply too few, must not be taken for the store asked about.
func TestFakeBatchedRepliesOutOfStep(t *testing.T) {
	c, s, f, _ := storesClient(t, 3)
	a, b := c.Path("name000"), c.Path("name001")
	for what, reply := range map[string]func(string) string{
		"other name": func(cmd string) string {
			if cmd == "show ssl cert "+b {
				return s.reply("show ssl cert " + a)
			}
			return s.reply(cmd)
		},
		"extra reply": func(cmd string) string {
			if cmd == "show ssl cert "+b {
				return s.reply("show ssl cert "+b) + "\n\n" + s.reply("show ssl cert "+a)
			}
			return s.reply(cmd)
		},
	} {
		f.setReply(reply)
		err := c.readStores(context.Background(), []string{a, b}, func(string, *big.Int) {})
		if !errors.Is(err, ErrUnexpectedReply) {
			t.Errorf("%s: readStores = %v, want an unexpected reply", what, err)
		}
	}
	before := len(f.commands())
	if err := c.readStores(context.Background(), []string{"/x/a;show info.pem"}, func(string, *big.Int) {}); !errors.Is(err, ErrInvalidName) {
		t.Fatal("readStores took a path with ';'")
	}
	if sent := f.commands()[before:]; len(sent) != 0 {
		t.Fatalf("a path with ';' sent %q", sent)
	}
}

// A push that failed midway leaves its store unsure; reading it again moves
// the Epoch only when HAProxy turns out to serve something else than the
// client knew.
func TestFakeEpochOnRereadAfterFailedPush(t *testing.T) {
	c, s, _, _ := storesClient(t, 1)
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	shop := c.Path("shop")
	var served string // what the fake serves as shop after the failed commit
	s.next = func(cmd string) string {
		if cmd == "show ssl cert "+shop && served != "" {
			return "Filename: " + shop + "\nStatus: Used\nSerial: " + served
		}
		return script(c, map[string]string{"commit ssl cert": "[3]: Failed!"})(cmd)
	}
	ctx := context.Background()
	_, err := c.Loaded(ctx)
	must(t, err)
	for _, tc := range []struct {
		served string
		moves  bool
	}{{"", false}, {"0C", true}} {
		epoch := c.Epoch()
		s.mu.Lock()
		served = tc.served
		s.mu.Unlock()
		if err := c.Push(ctx, "shop", pushBundle(t)); !errors.Is(err, ErrCommitFailed) {
			t.Fatalf("Push = %v, want ErrCommitFailed", err)
		}
		loaded, err := c.Loaded(ctx)
		must(t, err)
		if moved := c.Epoch() != epoch; moved != tc.moves || (loaded["shop"] != nil) != tc.moves {
			t.Fatalf("served %q after a failed push: Epoch moved %v, Loaded %s; want moved %v", tc.served, moved, hexes(loaded), tc.moves)
		}
	}
}
