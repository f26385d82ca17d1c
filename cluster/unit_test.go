package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/store"
)

// TestQueueCoalesces: a key pushed again while it waits keeps its place
// and delivers its last value once.
func TestQueueCoalesces(t *testing.T) {
	q := newQueue[string]()
	for _, kv := range [][2]string{{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"c", "c1"}} {
		q.push(kv[0], kv[1])
	}
	ctx, cancel := context.WithCancel(context.Background())
	go q.run(ctx)
	var got []string
	for range 3 {
		got = append(got, <-q.out)
	}
	cancel()
	if want := []string{"a2", "b1", "c1"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %v, want %v", got, want)
	}
	for range q.out { // closed once run ends
	}
}

func TestKeyNames(t *testing.T) {
	k := keys{"/hotcert/"}
	for _, tc := range []struct {
		key, name string
		ok        bool
	}{
		{"/hotcert/certs/www/state", "www", true},
		{"/hotcert/certs/www/bundle/ecdsa", "www", true},
		{"/hotcert/certs/www", "", false},
		{"/hotcert2/certs/www/state", "", false},
	} {
		if name, ok := k.certName(tc.key); name != tc.name || ok != tc.ok {
			t.Errorf("certName(%q) = %q, %v", tc.key, name, ok)
		}
	}
	if name, ok := k.claimName(k.claimKey("www", 0x1f)); name != "www" || !ok {
		t.Errorf("claimName = %q, %v", name, ok)
	}
}

// TestChangeOps: a write sends the state, the bundles that changed, and
// deletes the key types the record lost.
func TestChangeOps(t *testing.T) {
	k := keys{"/p/"}
	old := record("www", "v1")
	old.Bundles["rsa2048"] = store.Bundle{KeyType: "rsa2048", PEM: []byte("RSA")}
	base := digestRecord(old)
	r := record("www", "v1")
	r.Bundles["ecdsa"] = store.Bundle{KeyType: "ecdsa", PEM: []byte("NEW")}
	got := map[string]bool{}
	for _, op := range k.changeOps(r, base) {
		got[string(op.KeyBytes())+map[bool]string{true: " put", false: " delete"}[op.IsPut()]] = true
	}
	want := []string{"/p/certs/www/state put", "/p/certs/www/bundle/ecdsa put", "/p/certs/www/bundle/rsa2048 delete"}
	if len(got) != len(want) {
		t.Fatalf("ops %v, want %v", got, want)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %s in %v", w, got)
		}
	}
}

// TestRecordFormat: etcd holds records stamped with the store's format; one
// without it reads as format 1, one of a later format is refused.
func TestRecordFormat(t *testing.T) {
	if !strings.Contains(string(sharedState(record("www", "v1"))), `"format":1,`) {
		t.Errorf("shared state %s lacks the format", sharedState(record("www", "v1")))
	}
	old := &snapshot{name: "www", rev: 1, state: []byte(`{"name":"www","domains":["www.test"]}`)}
	if r, err := old.record(); err != nil || r.Format != 1 {
		t.Errorf("record without a format: %+v, %v; want format 1", r, err)
	}
	later := &snapshot{name: "www", rev: 1, state: []byte(`{"format":2,"name":"www"}`)}
	if _, err := later.record(); !errors.Is(err, store.ErrFormat) {
		t.Errorf("record of format 2: %v, want store.ErrFormat", err)
	}
}
