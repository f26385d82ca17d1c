package importer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

func domains(t *testing.T, yaml string) *configs.Domains {
	t.Helper()
	d, err := configs.ParseDomains(filepath.Join(t.TempDir(), "domains.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func foundOf(t *testing.T, ca *testCA, source string, l leaf) Found {
	t.Helper()
	f := parse(source, source, ca.fullchain(l), source, l.keyPEM)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	return f
}

func newPlan(t *testing.T, found []Found, doms *configs.Domains, st Getter) *Plan {
	t.Helper()
	p, err := New(found, doms, st, Options{Now: time.Now(), Directory: leDirectory, Jitter: func() float64 { return 0.25 }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func results(p *Plan) map[string]Outcome {
	out := map[string]Outcome{}
	for _, o := range p.Outcomes {
		out[o.Source] = o
	}
	return out
}

func TestPlanMatchesAndSkips(t *testing.T) {
	ca := newCA(t)
	doms := domains(t, `certificates:
  - name: shop
    domains: [www.shop.example.com, shop.example.com]
    key_type: [ecdsa-p256, rsa2048]
  - domains: [blog.example.com]
  - domains: [api.example.com]
`)
	now := time.Now()
	older := ca.issue(t, "ecdsa-p256", now.Add(-40*24*time.Hour), now.Add(50*24*time.Hour), "shop.example.com", "www.shop.example.com")
	found := []Found{
		foundOf(t, ca, "shop-ecdsa", ca.valid(t, "ecdsa-p256", "shop.example.com", "www.shop.example.com")),
		foundOf(t, ca, "shop-old", older),
		foundOf(t, ca, "shop-rsa", ca.valid(t, "rsa2048", "shop.example.com", "www.shop.example.com")),
		foundOf(t, ca, "blog-rsa", ca.valid(t, "rsa2048", "blog.example.com")),
		foundOf(t, ca, "expired", ca.issue(t, "ecdsa-p256", now.Add(-100*24*time.Hour), now.Add(-time.Hour), "api.example.com")),
		foundOf(t, ca, "partial", ca.valid(t, "ecdsa-p256", "api.example.com", "extra.example.com")),
		foundOf(t, ca, "legacy", ca.valid(t, "ecdsa-p256", "legacy.example.com", "www.legacy.example.com")),
		foundOf(t, ca, "legacy-rsa", ca.valid(t, "rsa2048", "www.legacy.example.com", "legacy.example.com")),
		{Source: "broken", Err: ErrKeyMismatch},
	}
	found[6].Name, found[7].Name = "legacy", "legacy"
	found[0].Issuer = "https://acme-staging-v02.api.letsencrypt.org/directory"
	noChain := foundOf(t, ca, "nochain", ca.valid(t, "ecdsa-p256", "api.example.com"))
	noChain.Certs = noChain.Certs[:1]
	wrongChain := foundOf(t, ca, "wrongchain", ca.valid(t, "ecdsa-p256", "api.example.com"))
	wrongChain.Certs[1] = newCA(t).cert
	found = append(found, noChain, wrongChain)

	p := newPlan(t, found, doms, fileStore(t))
	got := results(p)
	for src, want := range map[string]Result{"shop-ecdsa": Imported, "shop-rsa": Imported, "shop-old": Skipped,
		"blog-rsa": Skipped, "expired": Skipped, "partial": Skipped, "legacy": Skipped, "legacy-rsa": Skipped,
		"broken": Failed, "nochain": Skipped, "wrongchain": Skipped} {
		if got[src].Result != want {
			t.Errorf("%s: %v, want %v", src, got[src], want)
		}
	}
	for src, why := range map[string]string{"shop-old": "expires later is in shop-ecdsa", "blog-rsa": "its key is rsa2048, and blog.example.com in the domains file has key_type ecdsa-p256",
		"expired": "expired on", "partial": "its names [api.example.com, extra.example.com] differ from those of api.example.com in the domains file [api.example.com]",
		"legacy": "not in the domains file", "nochain": "no chain", "wrongchain": "chain does not fit"} {
		if !strings.Contains(got[src].Why, why) {
			t.Errorf("%s: why %q, want it to say %q", src, got[src].Why, why)
		}
	}
	if !strings.Contains(got["shop-ecdsa"].String(), "; certbot renews it from https://acme-staging-v02.api.letsencrypt.org/directory, not acme.directory "+leDirectory) {
		t.Errorf("shop-ecdsa does not say which CA issued it: %s", got["shop-ecdsa"])
	}
	rec := p.Records["shop"]
	if rec == nil || len(p.Records) != 1 {
		t.Fatalf("records %v, want shop only", p.Records)
	}
	if !slices.Equal(rec.Domains, []string{"www.shop.example.com", "shop.example.com"}) || !slices.Equal(rec.KeyTypes, []string{"ecdsa-p256", "rsa2048"}) ||
		len(rec.Bundles) != 2 || rec.Jitter != 0.25 || rec.ARICheckAt.Before(time.Now().Add(50*time.Minute)) || rec.Attempts != 0 {
		t.Errorf("shop's record: %+v", rec)
	}
	sug := p.Suggestions()
	if want := "certificates:\n  - name: legacy\n    domains: [legacy.example.com, www.legacy.example.com]\n    key_type: [ecdsa-p256, rsa2048]\n"; sug != want {
		t.Errorf("suggestions %q, want %q: blog and api are in the file, legacy's two key types one entry", sug, want)
	}
	if s := p.Summary(); s != "2 imported, 0 unchanged, 8 skipped, 1 failed" {
		t.Errorf("summary %q", s)
	}
}

// Importing twice changes nothing, and a newer certificate in the state is
// never replaced by an older one; an older one is.
func TestPlanAgainstTheState(t *testing.T) {
	ca := newCA(t)
	doms := domains(t, "certificates:\n  - name: shop\n    domains: [shop.example.com]\n  - name: blog\n    domains: [blog.example.com]\n")
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	shop := ca.valid(t, "ecdsa-p256", "shop.example.com")
	blogOld := ca.issue(t, "ecdsa-p256", now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour), "blog.example.com")
	first := newPlan(t, []Found{foundOf(t, ca, "shop", shop), foundOf(t, ca, "blog", blogOld)}, doms, st)
	if err := first.Apply(st); err != nil {
		t.Fatal(err)
	}
	again := newPlan(t, []Found{foundOf(t, ca, "shop", shop), foundOf(t, ca, "blog", blogOld)}, doms, st)
	if again.Count(Unchanged) != 2 || len(again.Records) != 0 {
		t.Fatalf("second import: %s, records %v", again.Summary(), again.Records)
	}

	// hotcert renewed shop since: an older copy must not replace it.
	renewed := ca.issue(t, "ecdsa-p256", now, now.Add(90*24*time.Hour), "shop.example.com")
	rec, _ := st.Get("shop")
	rec.Bundles["ecdsa-p256"] = store.Bundle{KeyType: "ecdsa-p256", PEM: ca.bundle(renewed)}
	rec.Attempts = 0
	if err := st.Put(rec); err != nil {
		t.Fatal(err)
	}
	blogNew := ca.valid(t, "ecdsa-p256", "blog.example.com")
	p := newPlan(t, []Found{foundOf(t, ca, "shop", shop), foundOf(t, ca, "blog", blogNew)}, doms, st)
	got := results(p)
	if got["shop"].Result != Skipped || !strings.Contains(got["shop"].Why, "the state holds a certificate for shop (ecdsa-p256) that expires no earlier") {
		t.Errorf("older shop: %v", got["shop"])
	}
	if got["blog"].Result != Imported || p.Records["blog"] == nil || p.Records["shop"] != nil {
		t.Errorf("newer blog: %v; records %v", got["blog"], p.Records)
	}
	if err := p.Apply(st); err != nil {
		t.Fatal(err)
	}
	b, _ := st.Get("blog")
	if l, err := bundle.Leaf(b.Bundles["ecdsa-p256"].PEM); err != nil || !l.Equal(blogNew.cert) {
		t.Errorf("blog's stored leaf is not the newer one: %v", err)
	}
}

// A record of a failed definition becomes a healthy one once every key
// type has a certificate; a record for other names loses its bundles.
func TestPlanSettlesAFailedRecord(t *testing.T) {
	ca := newCA(t)
	doms := domains(t, "certificates:\n  - name: shop\n    domains: [shop.example.com]\n")
	st := fileStore(t)
	stale := ca.valid(t, "rsa2048", "old.example.com")
	mustPut(t, st, &store.Record{Name: "shop", Domains: []string{"old.example.com"}, KeyTypes: []string{"rsa2048"}, Attempts: 4,
		LastError: "unauthorized", NextAttempt: time.Now().Add(time.Hour), Ordering: true, Pending: []string{"ecdsa-p256"},
		RemovedAt: time.Now(), Bundles: map[string]store.Bundle{"rsa2048": {KeyType: "rsa2048", PEM: ca.bundle(stale)}}})
	p := newPlan(t, []Found{foundOf(t, ca, "shop", ca.valid(t, "ecdsa-p256", "shop.example.com"))}, doms, st)
	r := p.Records["shop"]
	if r == nil || r.Attempts != 0 || r.LastError != "" || !r.NextAttempt.IsZero() || r.Ordering || len(r.Pending) != 0 ||
		!r.RemovedAt.IsZero() || len(r.Bundles) != 1 || !slices.Equal(r.Domains, []string{"shop.example.com"}) {
		t.Errorf("settled record: %+v", r)
	}
}

func fileStore(t *testing.T) *store.File {
	t.Helper()
	st, err := store.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustPut(t *testing.T, st *store.File, r *store.Record) {
	t.Helper()
	if err := st.Put(r); err != nil {
		t.Fatal(err)
	}
}
