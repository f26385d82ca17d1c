package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/etcdlab"
)

// etcdServer is a real etcd (Debian's etcd-server) for the cluster tests:
// one member on a free loopback port, with test-fatal helpers to freeze it
// and to read what hotcert wrote. The tests read etcd through its JSON
// gateway (/v3/kv/range), so that only the product imports the etcd client.
type etcdServer struct {
	*etcdlab.Etcd
	t testing.TB
}

func startEtcd(t testing.TB) *etcdServer {
	t.Helper()
	return &etcdServer{Etcd: etcdlab.Start(t), t: t}
}

// freeze stops etcd with SIGSTOP: its sockets accept connections and
// nothing answers, as with a partitioned or hung etcd. The returned func
// sends SIGCONT; so does the test's cleanup, should it fail meanwhile.
func (s *etcdServer) freeze() (thaw func()) {
	s.t.Helper()
	thaw = func() { s.Thaw() }
	s.t.Cleanup(thaw)
	if err := s.Freeze(); err != nil {
		s.t.Fatal(err)
	}
	return thaw
}

// kv is one key as etcd holds it.
type kv struct {
	Key, Value  []byte
	ModRevision int64
	Lease       int64
}

// list returns every key that starts with prefix ("" for every key).
func (s *etcdServer) list(prefix string) ([]kv, error) {
	// The gateway takes and gives keys and values in base64, as JSON
	// does []byte. Key "\x00" with range end "\x00" is every key.
	key, end := []byte(prefix), prefixEnd([]byte(prefix))
	if prefix == "" {
		key = []byte{0}
	}
	req, _ := json.Marshal(map[string][]byte{"key": key, "range_end": end})
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(s.Endpoint()+"/v3/kv/range", "application/json", bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Kvs []struct {
			Key, Value  []byte
			ModRevision string `json:"mod_revision"`
			Lease       string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("etcd range %q: %s %v", prefix, resp.Status, err)
	}
	kvs := make([]kv, len(out.Kvs))
	for i, k := range out.Kvs {
		rev, _ := strconv.ParseInt(k.ModRevision, 10, 64)
		lease, _ := strconv.ParseInt(k.Lease, 10, 64)
		kvs[i] = kv{Key: k.Key, Value: k.Value, ModRevision: rev, Lease: lease}
	}
	return kvs, nil
}

// put writes one key through the gateway, to test the helpers that read.
func (s *etcdServer) put(key, value string) {
	s.t.Helper()
	req, _ := json.Marshal(map[string][]byte{"key": []byte(key), "value": []byte(value)})
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(s.Endpoint()+"/v3/kv/put", "application/json", bytes.NewReader(req))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("etcd put %q: %s", key, resp.Status)
	}
}

// get returns one key; ok is false when etcd does not hold it.
func (s *etcdServer) get(key string) (v kv, ok bool, err error) {
	kvs, err := s.list(key)
	for _, k := range kvs {
		if string(k.Key) == key {
			return k, true, nil
		}
	}
	return kv{}, false, err
}

// prefixEnd is the range end that covers every key starting with p, as
// clientv3.GetPrefixRangeEnd computes it.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
