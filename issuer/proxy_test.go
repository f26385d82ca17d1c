package issuer_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/hotcert/hotcert/internal/testca"
)

// recorder keeps the exchanges, through a testca.Proxy, whose path ends in suffix. Requests
// Pebble refused with badNonce (5% by default) are left out: clients send them again.
type recorder struct {
	suffix string
	mu     sync.Mutex
	got    []testca.Exchange
}

// record puts a proxy in front of e's Pebble and returns its directory URL.
func (e *env) record(t *testing.T, r *recorder) string {
	t.Helper()
	p, err := e.ca.NewProxy(func(x *testca.Exchange) bool {
		if strings.HasSuffix(x.Path, r.suffix) && !strings.Contains(string(x.Response), ":badNonce") {
			r.mu.Lock()
			r.got = append(r.got, *x)
			r.mu.Unlock()
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.DirectoryURL
}

func (r *recorder) exchanges() []testca.Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]testca.Exchange(nil), r.got...)
}

// signed is a flattened JWS as a client posted it.
type signed struct {
	Header struct {
		Alg string          `json:"alg"`
		KID string          `json:"kid"`
		JWK json.RawMessage `json:"jwk"`
		URL string          `json:"url"`
	}
	Payload []byte
}

func parseJWS(t *testing.T, body []byte) signed {
	t.Helper()
	var raw struct{ Protected, Payload string }
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("request body is not a flattened JWS: %v\n%s", err, body)
	}
	var s signed
	header, err := base64.RawURLEncoding.DecodeString(raw.Protected)
	if err == nil {
		err = json.Unmarshal(header, &s.Header)
	}
	if err == nil {
		s.Payload, err = base64.RawURLEncoding.DecodeString(raw.Payload)
	}
	if err != nil {
		t.Fatalf("bad JWS %s: %v", body, err)
	}
	return s
}
