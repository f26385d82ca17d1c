package dns01

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testKey    = "hotcert."
	testSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
	otherKey   = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="
)

var baseRecords = []string{
	"example.test. 60 IN NS ns1.example.test.",
	"ns1.example.test. 60 IN A 127.0.0.1",
}

func newSolver(t *testing.T, f *fakeDNS, mod func(*Options)) *Solver {
	t.Helper()
	o := Options{
		Server: f.addr, KeyName: testKey, Secret: testSecret, PropagationTimeout: 5 * time.Second,
		PollInterval: 20 * time.Millisecond, QueryTimeout: 2 * time.Second, Nameservers: []string{f.addr},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A wildcard and its base domain put two values under one name at once; a third value
// someone else put there survives. Deletes remove exactly one record each.
func TestPresentAddsBesideOtherValuesAndCleanUpRemovesOnlyItsOwn(t *testing.T) {
	name := "_acme-challenge.example.test."
	f := startFake(t, testKey, testSecret, []string{"example.test."},
		append(baseRecords, name+` 60 IN TXT "someone-else"`)...)
	s := newSolver(t, f, nil)
	ctx := t.Context()
	for _, v := range []string{"value-wildcard", "value-apex"} {
		if err := s.Present(ctx, Challenge{Domain: "example.test", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	assertTXT(t, f, name, "someone-else", "value-apex", "value-wildcard")
	for _, v := range []string{"value-wildcard", "value-apex"} {
		if err := s.Wait(ctx, Challenge{Domain: "example.test", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CleanUp(ctx, Challenge{Domain: "example.test", Value: "value-wildcard"}); err != nil {
		t.Fatal(err)
	}
	assertTXT(t, f, name, "someone-else", "value-apex")
	if err := s.CleanUp(ctx, Challenge{Domain: "example.test", Value: "value-apex"}); err != nil {
		t.Fatal(err)
	}
	assertTXT(t, f, name, "someone-else")
}

func TestChallengeNameDropsWildcard(t *testing.T) {
	for in, want := range map[string]string{
		"*.Example.test":   "_acme-challenge.example.test.",
		"www.example.test": "_acme-challenge.www.example.test.",
	} {
		if got := ChallengeName(in); got != want {
			t.Errorf("ChallengeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// With no zone configured, the zone is the closest enclosing SOA on the primary, so a
// delegated child zone gets the update, not its parent.
func TestZoneFoundFromSOA(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test.", "sub.example.test."},
		append(baseRecords, "host.example.test. 60 IN A 127.0.0.1")...)
	s := newSolver(t, f, nil)
	for _, d := range []string{"a.b.sub.example.test", "host.example.test"} {
		if err := s.Present(t.Context(), Challenge{Domain: d, Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.updateZones(); !slices.Equal(got, []string{"sub.example.test.", "example.test."}) {
		t.Fatalf("updates went to zones %v", got)
	}
	assertTXT(t, f, "_acme-challenge.a.b.sub.example.test.", "v")
}

func TestConfiguredZoneIsUsed(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	s := newSolver(t, f, func(o *Options) { o.Zone = "Example.TEST" })
	if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	if got := f.updateZones(); !slices.Equal(got, []string{"example.test."}) {
		t.Fatalf("updates went to zones %v", got)
	}
}

// The acme-dns pattern: the challenge name is a CNAME into another zone, which gets the record.
func TestCNAMEIsFollowedIntoTheTargetZone(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test.", "delegated.test."},
		append(baseRecords,
			"_acme-challenge.www.example.test. 60 IN CNAME hop.example.test.",
			"hop.example.test. 60 IN CNAME x1._acme-challenge.delegated.test.")...)
	s := newSolver(t, f, nil)
	ctx := t.Context()
	if err := s.Present(ctx, Challenge{Domain: "www.example.test", Value: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx, Challenge{Domain: "www.example.test", Value: "v1"}); err != nil {
		t.Fatal(err)
	}
	assertTXT(t, f, "x1._acme-challenge.delegated.test.", "v1")
	assertTXT(t, f, "_acme-challenge.www.example.test.")
	if got := f.updateZones(); !slices.Equal(got, []string{"delegated.test."}) {
		t.Fatalf("updates went to zones %v", got)
	}
	if err := s.CleanUp(ctx, Challenge{Domain: "www.example.test", Value: "v1"}); err != nil {
		t.Fatal(err)
	}
	assertTXT(t, f, "x1._acme-challenge.delegated.test.")
}

func TestCNAMELoopIsAnError(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, append(baseRecords,
		"_acme-challenge.www.example.test. 60 IN CNAME a.example.test.",
		"a.example.test. 60 IN CNAME _acme-challenge.www.example.test.")...)
	err := newSolver(t, f, nil).Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	if err == nil || !strings.Contains(err.Error(), "CNAME loop") {
		t.Fatalf("Present = %v, want a CNAME loop error", err)
	}
}

// Propagation is checked on the zone's NS hosts (here the fake itself, on its port).
func TestWaitUsesTheZonesNameservers(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	_, port, _ := net.SplitHostPort(f.addr)
	s := newSolver(t, f, func(o *Options) { o.Nameservers, o.NameserverPort = nil, port })
	if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
}

// A nameserver that never gets the record fails the wait as a transient error naming it.
func TestWaitTimesOutAsTransientNamingTheLaggard(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	lag := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	s := newSolver(t, f, func(o *Options) {
		o.Nameservers = []string{f.addr, lag.addr}
		o.PropagationTimeout = 300 * time.Millisecond
	})
	if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	err := s.Wait(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	if !errors.Is(err, ErrNotPropagated) || !strings.Contains(err.Error(), lag.addr) || strings.Contains(err.Error(), f.addr+",") {
		t.Fatalf("Wait = %v, want ErrNotPropagated naming only %s", err, lag.addr)
	}
	var de *Error
	if !errors.As(err, &de) || de.Permanent() {
		t.Fatalf("a propagation timeout must be transient: %v", err)
	}
}

func TestWrongSecretIsPermanentAndNamesServerAndZone(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	s := newSolver(t, f, func(o *Options) { o.Secret = otherKey })
	err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	assertPermanent(t, err, f.addr, "example.test.")
	if strings.Contains(err.Error(), otherKey) || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("the error reveals a secret: %v", err)
	}
	if len(f.txt("_acme-challenge.www.example.test.")) != 0 {
		t.Fatal("an unsigned-by-the-right-key update was applied")
	}
}

func TestRefusedUpdateIsPermanent(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	f.refuse = true
	err := newSolver(t, f, nil).Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	assertPermanent(t, err, f.addr, "example.test.")
	if !strings.Contains(err.Error(), "REFUSED") {
		t.Fatalf("error does not say REFUSED: %v", err)
	}
}

func TestEveryAlgorithmAndKeyNameWithoutDot(t *testing.T) {
	for _, alg := range []string{"hmac-sha1", "hmac-sha256", "HMAC-SHA384.", "hmac-sha512"} {
		t.Run(alg, func(t *testing.T) {
			f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
			s := newSolver(t, f, func(o *Options) { o.Algorithm, o.KeyName = alg, "Hotcert" })
			if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
				t.Fatal(err)
			}
			assertTXT(t, f, "_acme-challenge.www.example.test.", "v")
		})
	}
	if _, err := New(Options{Server: "127.0.0.1:53", Algorithm: "hmac-md5"}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("hmac-md5 accepted: %v", err)
	}
}

func TestReadSecretTrimsAndValidates(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("\n  "+testSecret+"  \n"), 0o600)
	if s, err := ReadSecret(good); err != nil || s != testSecret {
		t.Fatalf("ReadSecret = %q, %v", s, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not*base64-TOPSECRET"), 0o600)
	_, err := ReadSecret(bad)
	if !errors.Is(err, ErrBadConfig) || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("ReadSecret(bad) = %v", err)
	}
	if _, err := New(Options{Server: "127.0.0.1:53", KeyName: "k", Secret: ""}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("empty secret accepted: %v", err)
	}
}

func TestNoZoneIsPermanent(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	s := newSolver(t, f, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := s.Present(ctx, Challenge{Domain: "www.elsewhere.test", Value: "v"})
	if !errors.Is(err, ErrNoZone) {
		t.Fatalf("Present = %v, want ErrNoZone", err)
	}
}

func assertPermanent(t *testing.T, err error, server, zone string) {
	t.Helper()
	var de *Error
	if !errors.Is(err, ErrRejected) || !errors.As(err, &de) || !de.Permanent() {
		t.Fatalf("want a permanent ErrRejected, got %v", err)
	}
	if !strings.Contains(err.Error(), server) || !strings.Contains(err.Error(), "zone "+zone) {
		t.Fatalf("error does not name server %s and zone %s: %v", server, zone, err)
	}
}

func assertTXT(t *testing.T, f *fakeDNS, name string, want ...string) {
	t.Helper()
	got := f.txt(name)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("TXT at %s = %v, want %v", name, got, want)
	}
}

// A primary that answers SERVFAIL (its zone is loading, its backend is down) has not
// said that it serves no zone: that must not stop renewal for good.
func TestServfailWhileFindingTheZoneIsTransient(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, baseRecords...)
	f.mu.Lock()
	f.servfail = true
	f.mu.Unlock()
	s := newSolver(t, f, func(o *Options) { o.QueryTimeout = 500 * time.Millisecond })
	err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	var de *Error
	if err == nil || errors.Is(err, ErrNoZone) || !errors.As(err, &de) || de.Permanent() {
		t.Fatalf("Present = %v, want a transient error", err)
	}
	if !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("error does not say SERVFAIL: %v", err)
	}
}

// A nameserver is up to date once any of its addresses answers: on a host
// with no IPv6 route its AAAA never does, and an address that swallows
// queries must not hold the wait up either.
func TestWaitNeedsOneAnsweringAddressPerNameserver(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."}, append(baseRecords,
		"ns1.example.test. 60 IN AAAA ::1", // nothing listens there
		"ns1.example.test. 60 IN A 127.0.0.2")...)
	_, port, _ := net.SplitHostPort(f.addr)
	blackhole(t, net.JoinHostPort("127.0.0.2", port))
	s := newSolver(t, f, func(o *Options) {
		o.Nameservers, o.NameserverPort = nil, port
		o.QueryTimeout, o.PropagationTimeout = 10*time.Second, 5*time.Second
	})
	if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Wait(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatalf("Wait = %v, want success: 127.0.0.1 answers for ns1", err)
	}
	if d := time.Since(start); d >= 10*time.Second {
		t.Fatalf("Wait took %v: it waited for the silent address", d)
	}
}

// A nameserver none of whose addresses answers is not up to date, and the
// error names it.
func TestWaitNamesANameserverWithNoAnsweringAddress(t *testing.T) {
	f := startFake(t, testKey, testSecret, []string{"example.test."},
		append(baseRecords, "example.test. 60 IN NS ns2.example.test.", "ns2.example.test. 60 IN AAAA ::1")...)
	_, port, _ := net.SplitHostPort(f.addr)
	s := newSolver(t, f, func(o *Options) {
		o.Nameservers, o.NameserverPort = nil, port
		o.QueryTimeout, o.PropagationTimeout = time.Second, 300*time.Millisecond
	})
	if err := s.Present(t.Context(), Challenge{Domain: "www.example.test", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	err := s.Wait(t.Context(), Challenge{Domain: "www.example.test", Value: "v"})
	if !errors.Is(err, ErrNotPropagated) || !strings.Contains(err.Error(), "ns2.example.test.") || strings.Contains(err.Error(), "ns1") {
		t.Fatalf("Wait = %v, want ErrNotPropagated naming ns2 only", err)
	}
}

// blackhole binds addr for UDP and TCP and never answers.
func blackhole(t *testing.T, addr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}
