package cluster

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hotcert/hotcert/store"
)

// snapshot is one certificate's keys as one etcd read returned them.
type snapshot struct {
	name    string
	at      int64 // the etcd revision the read reflects
	rev     int64 // mod revision of the state key; 0 when etcd holds no record
	state   []byte
	bundles map[string][]byte

	rec *store.Record // decoded once, by decode
	d   digest
	err error
}

// version orders what a read says against what this node already knows: the
// record's last change, or for a record etcd lacks, the revision read at
// (its deletion, if any, came before).
func (s *snapshot) version() int64 {
	if s.rev > 0 {
		return s.rev
	}
	return s.at
}

// snapshots groups the keys of a read under certs/, made at revision at, by
// certificate.
func (k keys) snapshots(kvs []*mvccpb.KeyValue, at int64) map[string]*snapshot {
	out := map[string]*snapshot{}
	for _, kv := range kvs {
		name, ok := k.certName(string(kv.Key))
		if !ok {
			continue
		}
		s := out[name]
		if s == nil {
			s = &snapshot{name: name, at: at, bundles: map[string][]byte{}}
			out[name] = s
		}
		if string(kv.Key) == k.state(name) {
			s.rev, s.state = kv.ModRevision, kv.Value
		} else if kt, ok := k.bundleType(name, string(kv.Key)); ok {
			s.bundles[kt] = kv.Value
		}
	}
	for name, s := range out {
		if s.rev == 0 { // bundles without a state are no record
			out[name] = &snapshot{name: name, at: s.at}
		}
	}
	return out
}

// snapshotOf is one certificate's snapshot from a read of its prefix.
func (k keys) snapshotOf(name string, kvs []*mvccpb.KeyValue, at int64) *snapshot {
	if s, ok := k.snapshots(kvs, at)[name]; ok {
		return s
	}
	return &snapshot{name: name, at: at}
}

// decode parses the record, once. Its digest is of the record encoded
// again, so that it compares with the digests of records this node writes
// whatever the writer's encoding.
func (s *snapshot) decode() error {
	if s.rec != nil || s.err != nil || s.rev == 0 {
		return s.err
	}
	r := &store.Record{}
	if err := json.Unmarshal(s.state, r); err != nil {
		s.err = fmt.Errorf("load %s: etcd state: %w", s.name, err)
		return s.err
	}
	if err := r.CheckFormat(); err != nil {
		s.err = fmt.Errorf("load %s: etcd state: %w", s.name, err)
		return s.err
	}
	r.Name, r.RemovedAt = s.name, time.Time{}
	r.Bundles = make(map[string]store.Bundle, len(s.bundles))
	for kt, pem := range s.bundles {
		r.Bundles[kt] = store.Bundle{KeyType: kt, PEM: pem}
	}
	s.rec, s.d = r, digestRecord(r)
	return nil
}

// record is a copy of the decoded record, for the caller to change;
// RemovedAt, a per-node field, is the caller's to set.
func (s *snapshot) record() (*store.Record, error) {
	if err := s.decode(); err != nil {
		return nil, err
	}
	return s.rec.Clone(), nil
}

// digest is the decoded record's; empty when etcd has none.
func (s *snapshot) digest() (digest, error) {
	err := s.decode()
	return s.d, err
}

// sharedState is what etcd keeps as certs/<name>/state: the record without
// its bundles (they have their own keys) and without the fields that are
// this node's alone.
func sharedState(r *store.Record) []byte {
	s := *r
	s.Bundles, s.RemovedAt, s.Format = nil, time.Time{}, store.Format
	b, _ := json.Marshal(&s)
	return b
}

// digest identifies the shared part of a record, so that writes can send
// only the bundles that changed and skip etcd when nothing shared did.
type digest struct {
	state   [32]byte
	bundles map[string][32]byte
}

func digestOf(state []byte, bundles map[string][]byte) digest {
	d := digest{state: sha256.Sum256(state), bundles: make(map[string][32]byte, len(bundles))}
	for kt, pem := range bundles {
		d.bundles[kt] = sha256.Sum256(pem)
	}
	return d
}

func digestRecord(r *store.Record) digest {
	pems := make(map[string][]byte, len(r.Bundles))
	for kt, b := range r.Bundles {
		pems[kt] = b.PEM
	}
	return digestOf(sharedState(r), pems)
}

func (d digest) empty() bool { return d.state == [32]byte{} }

func (d digest) equal(o digest) bool {
	return d.state == o.state && maps.Equal(d.bundles, o.bundles)
}

// changeOps are the writes that turn etcd's record, whose digest is base,
// into r: the state, always (its mod revision is what fences compare), the
// bundles that differ, and deletes for key types r no longer has.
func (k keys) changeOps(r *store.Record, base digest) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpPut(k.state(r.Name), string(sharedState(r)))}
	for kt, b := range r.Bundles {
		if h, ok := base.bundles[kt]; !ok || h != sha256.Sum256(b.PEM) {
			ops = append(ops, clientv3.OpPut(k.bundle(r.Name, kt), string(b.PEM)))
		}
	}
	for kt := range base.bundles {
		if _, ok := r.Bundles[kt]; !ok {
			ops = append(ops, clientv3.OpDelete(k.bundle(r.Name, kt)))
		}
	}
	return ops
}
