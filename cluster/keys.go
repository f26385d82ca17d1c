package cluster

import (
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hotcert/hotcert/store"
)

// keys is the layout of everything hotcert keeps in etcd, under one prefix
// so that several clusters can share an etcd and an etcd role can be
// limited to it:
//
//	account                        JSON {uri, directory, key_pem}
//	certs/<name>/state             the record's shared fields (JSON)
//	certs/<name>/bundle/<keytype>  PEM: leaf, chain, key
//	claims/<name>/<lease>          concurrency.Mutex keys: who orders <name>
//	challenges/<token>             key authorization (node's lease)
//	members/<node>                 JSON {node, started, version} (node's lease)
//	wants/<name>/<node>            "" while <node> lists <name> (node's lease)
//	imported/<node>                JSON {at, records}: <node>'s standalone state is in etcd
type keys struct{ prefix string }

func (k keys) account() string               { return k.prefix + "account" }
func (k keys) certs() string                 { return k.prefix + "certs/" }
func (k keys) cert(name string) string       { return k.certs() + name + "/" }
func (k keys) state(name string) string      { return k.cert(name) + "state" }
func (k keys) bundle(name, kt string) string { return k.cert(name) + "bundle/" + kt }
func (k keys) claims() string                { return k.prefix + "claims/" }
func (k keys) claim(name string) string      { return k.claims() + name } // the Mutex adds "/<lease>"
func (k keys) challenges() string            { return k.prefix + "challenges/" }
func (k keys) challenge(token string) string { return k.challenges() + token }
func (k keys) members() string               { return k.prefix + "members/" }
func (k keys) member(node string) string     { return k.members() + node }
func (k keys) wants() string                 { return k.prefix + "wants/" }
func (k keys) wantsOf(name string) string    { return k.wants() + name + "/" }
func (k keys) want(name, node string) string { return k.wantsOf(name) + node }
func (k keys) imported(node string) string   { return k.prefix + "imported/" + node }
func (k keys) claimKey(name string, lease clientv3.LeaseID) string {
	// the key concurrency.Mutex writes for a session
	return fmt.Sprintf("%s/%x", k.claim(name), int64(lease))
}

// certName is the certificate a key under certs/ belongs to.
func (k keys) certName(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.certs())
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// claimName is the certificate a key under claims/ locks.
func (k keys) claimName(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.claims())
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '/')
	return rest[:max(i, 0)], i > 0
}

// bundleType is the key type a bundle key holds, or false for another key.
func (k keys) bundleType(name, key string) (string, bool) {
	kt, ok := strings.CutPrefix(key, k.cert(name)+"bundle/")
	return kt, ok && kt != ""
}

// checkName refuses certificate names that would break the layout. The
// domains file's validation keeps real names far inside this.
func checkName(name string) error {
	if !safeSegment(name) {
		return fmt.Errorf("certificate name %q: %w", name, store.ErrBadName)
	}
	return nil
}

// safeSegment reports whether s can be one segment of a key.
func safeSegment(s string) bool { return s != "" && !strings.ContainsAny(s, "/\x00") }
