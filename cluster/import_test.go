package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/etcdlab"
	"github.com/hotcert/hotcert/store"
)

// TestImportStandalone: a node that ran alone joins: until its state is in
// etcd it answers from its own, so it has nothing to order; then every
// record and the account are in etcd for the other node, etcd's copy wins
// where both had one, and a restart does not bring back a record that the
// cluster deleted meanwhile.
func TestImportStandalone(t *testing.T) {
	e, b := startOne(t, "b")
	if err := b.Put(record("api", "cluster")); err != nil {
		t.Fatal(err)
	}
	local := newLocal(t)
	acct := &store.Account{URI: "https://ca.example/acct/1", Directory: "https://ca.example/dir", KeyPEM: []byte("KEY")}
	for _, err := range []error{local.SaveAccount(acct), local.Put(record("www", "alone")), local.Put(record("api", "alone"))} {
		if err != nil {
			t.Fatal(err)
		}
	}

	a := open(t, e, "a", local)
	recs, err := a.List()
	if err != nil || len(recs) != 2 {
		t.Fatalf("a.List at once: %d records, %v; want www and api", len(recs), err)
	}
	waitFor(t, "www imported", 10*time.Second, func() error {
		_, err := b.Get("www")
		return err
	})
	got, err := b.Get("api")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "api (both had it)", got, record("api", "cluster"))
	ga, err := b.Account()
	if err != nil || ga.URI != acct.URI || string(ga.KeyPEM) != "KEY" {
		t.Fatalf("account in etcd: %+v, %v", ga, err)
	}
	got, err = a.Get("api")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "a.Get(api)", got, record("api", "cluster"))
	got, err = local.Get("api")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "a's local copy of api", got, record("api", "cluster"))

	a.Close()
	if err := b.Delete("www"); err != nil {
		t.Fatal(err)
	}
	a = open(t, e, "a", local)
	waitReady(t, a)
	waitFor(t, "a checks its import", 5*time.Second, func() error {
		if !a.isImported() {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := b.Get("www"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("www after a's restart: %v, want ErrNotFound", err)
	}
	if recs, err := a.List(); err != nil || len(recs) != 1 {
		t.Fatalf("a.List after restart: %d records, %v; want api alone", len(recs), err)
	}
	if _, err := local.Get("www"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a's local copy of www: %v, want it gone", err)
	}
}

func startOne(t *testing.T, node string) (*etcdlab.Etcd, *Cluster) {
	e := etcdlab.Start(t)
	c := open(t, e, node, nil)
	waitReady(t, c)
	return e, c
}
