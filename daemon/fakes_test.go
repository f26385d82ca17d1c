package daemon

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/issuer"
	"github.com/hotcert/hotcert/store"
)

// testKey is shared: generating a key per certificate would dominate the
// tests and benchmarks, and the daemon never looks at the key.
var testKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

var serials atomic.Int64

type bigInt = big.Int

// makeBundle returns a self-signed leaf and its key, as a store bundle PEM.
func makeBundle(tb testing.TB, domains []string, notBefore, notAfter time.Time) ([]byte, *big.Int) {
	tb.Helper()
	serial := big.NewInt(1000 + serials.Add(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: domains[0]}, DNSNames: domains,
		NotBefore: notBefore, NotAfter: notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKey.PublicKey, testKey)
	if err != nil {
		tb.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(testKey)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...), serial
}

func cert(name string, domains ...string) configs.Certificate {
	return configs.Certificate{Name: name, Domains: domains, KeyTypes: []configs.KeyType{"ecdsa-p256"}, Challenge: "http-01"}
}

func desired(cs ...configs.Certificate) *configs.Domains {
	return &configs.Domains{File: "domains.yaml", Certificates: cs}
}

// validRecord is a stored certificate of c, issued at now for 90 days, whose
// renewal information was fetched.
func validRecord(tb testing.TB, c configs.Certificate, now time.Time) (*store.Record, *big.Int) {
	b, serial := makeBundle(tb, c.Domains, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	return &store.Record{
		Name: c.Name, Domains: c.Domains, KeyTypes: []string{"ecdsa-p256"},
		Bundles:    map[string]store.Bundle{"ecdsa-p256": {KeyType: "ecdsa-p256", PEM: b}},
		ARICheckAt: now.Add(6 * time.Hour), Jitter: 0.5,
	}, serial
}

// fakeStore is an in-memory Store that counts its calls.
type fakeStore struct {
	mu      sync.Mutex
	recs    map[string]*store.Record
	lists   int
	puts    int
	deletes []string
}

func newFakeStore(recs ...*store.Record) *fakeStore {
	s := &fakeStore{recs: map[string]*store.Record{}}
	for _, r := range recs {
		s.recs[r.Name] = r.Clone()
	}
	return s
}

func (s *fakeStore) List() ([]*store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	var out []*store.Record
	for _, r := range s.recs {
		out = append(out, r.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *fakeStore) Get(name string) (*store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[name]
	if !ok {
		return nil, fmt.Errorf("load %s: %w", name, store.ErrNotFound)
	}
	return r.Clone(), nil
}

func (s *fakeStore) Put(r *store.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	s.recs[r.Name] = r.Clone()
	return nil
}

func (s *fakeStore) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes = append(s.deletes, name)
	delete(s.recs, name)
	return nil
}

func (s *fakeStore) get(name string) *store.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.recs[name]; r != nil {
		return r.Clone()
	}
	return nil
}

// fakeHAProxy is an HAProxy that serves what was pushed to it. Tests that
// change serving directly stand for a restart or another writer: Epoch
// moves when it finds serving other than its own Push and Remove left it.
type fakeHAProxy struct {
	name    string
	mu      sync.Mutex
	serving map[string]*big.Int
	pushes  []string
	removes []string
	down    error
	// own is serving as Push and Remove left it; epoch counts the times
	// serving was found otherwise.
	own   map[string]*big.Int
	epoch uint64
	// asks counts the questions of every store (Loaded); askedOf keeps
	// the names of each LoadedOf.
	asks    int
	askedOf [][]string
}

func newFakeHAProxy(name string) *fakeHAProxy {
	return &fakeHAProxy{name: name, serving: map[string]*big.Int{}}
}

func (l *fakeHAProxy) Name() string { return l.name }

func (l *fakeHAProxy) Push(_ context.Context, name string, pemData []byte) error {
	leaf, err := bundle.Leaf(pemData)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down != nil {
		return l.down
	}
	l.sync()
	l.serving[name] = leaf.SerialNumber
	l.own = maps.Clone(l.serving)
	l.pushes = append(l.pushes, name)
	return nil
}

// sync moves the epoch when serving changed behind Push and Remove.
func (l *fakeHAProxy) sync() {
	if !maps.EqualFunc(l.serving, l.own, func(a, b *big.Int) bool { return a.Cmp(b) == 0 }) {
		l.epoch++
		l.own = maps.Clone(l.serving)
	}
}

func (l *fakeHAProxy) Epoch() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sync()
	return l.epoch
}

func (l *fakeHAProxy) Remove(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sync()
	delete(l.serving, name)
	l.own = maps.Clone(l.serving)
	l.removes = append(l.removes, name)
	return nil
}

func (l *fakeHAProxy) Loaded(context.Context) (map[string]*big.Int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asks++
	if l.down != nil {
		return nil, l.down
	}
	l.sync()
	return maps.Clone(l.serving), nil
}

// LoadedOf answers as runtime.Client's does: Loaded's entries for names.
// The pushes of every test that uses this fake go through it.
func (l *fakeHAProxy) LoadedOf(ctx context.Context, names []string) (map[string]*big.Int, error) {
	out, err := pickLoaded(ctx, l.Loaded, names)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asks-- // not a question of every store
	l.askedOf = append(l.askedOf, slices.Clone(names))
	return out, err
}

// questions returns and forgets what the fake was asked: how many times
// for every store, and the names of each question for a few.
func (l *fakeHAProxy) questions() (all int, of [][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	all, of = l.asks, l.askedOf
	l.asks, l.askedOf = 0, nil
	return all, of
}

// pickLoaded is LoadedOf over a fake's Loaded: a fake that changes Loaded
// (faultyHAProxy) must answer LoadedOf through its own Loaded too.
func pickLoaded(ctx context.Context, loaded func(context.Context) (map[string]*big.Int, error), names []string) (map[string]*big.Int, error) {
	all, err := loaded(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*big.Int{}
	for _, n := range names {
		if s, ok := all[n]; ok {
			out[n] = s
		}
	}
	return out, nil
}

func (l *fakeHAProxy) Ping(context.Context) error { return nil }

func (l *fakeHAProxy) served(name string) *big.Int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.serving[name]
}

func (l *fakeHAProxy) counts() (pushes, removes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pushes), len(l.removes)
}

// fakeIssuer issues self-signed certificates of a fixed lifetime at the
// injected time. fail, when set, decides the outcome of each order; gate,
// when set, holds every order until it receives.
type fakeIssuer struct {
	tb       testing.TB
	now      func() time.Time
	lifetime time.Duration
	fail     func(n int) error
	gate     chan struct{}

	mu      sync.Mutex
	pingErr error
	pings   int
	orders  []issuer.Request
	running int
	maxRun  int
}

func (f *fakeIssuer) Issue(ctx context.Context, req issuer.Request) (*issuer.Bundle, error) {
	f.mu.Lock()
	f.orders = append(f.orders, req)
	n := len(f.orders)
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return nil, err
		}
	}
	now := f.now()
	b, _ := makeBundle(f.tb, req.Domains, now, now.Add(f.lifetime))
	blk, rest := pem.Decode(b)
	return &issuer.Bundle{CertPEM: pem.EncodeToMemory(blk), KeyPEM: rest}, nil
}

func (f *fakeIssuer) RenewalInfo(context.Context, *x509.Certificate) (*issuer.Window, time.Duration, error) {
	return nil, 0, issuer.ErrNoARI
}

func (f *fakeIssuer) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	return f.pingErr
}

func (f *fakeIssuer) Revoke(context.Context, []byte, crypto.Signer, int) error { return nil }

func (f *fakeIssuer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

var errTransient = &issuer.Error{Cert: "x", Problem: "urn:ietf:params:acme:error:serverInternal", Err: errors.New("boom")}
