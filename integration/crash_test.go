package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotcert/hotcert/store"
)

// TestKillDuringIssuance SIGKILLs hotcert 10 times at random moments while
// it orders certificates, restarting it each time. In the end every
// certificate is served, no file on disk is half-written or left over, and
// the CA saw at most one order per certificate plus one per interrupted
// order. Then hotcert restarts 5 times with everything valid, and the CA
// sees no new order.
func TestKillDuringIssuance(t *testing.T) {
	// Pebble waits 0-2 s before each validation, so an order takes one to
	// three seconds; with 40 certificates and 8 orders at once, orders are in
	// flight during every run. Nonce rejection stays on.
	t.Setenv("PEBBLE_VA_SLEEPTIME", "3")
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("crash%d", i))
	}
	e.writeDomains(domainsYAML(names, nil))
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	// An order in flight at a kill is seen on disk right after it: its
	// record says ordering, with the attempt's time. Counting those pairs
	// (not log lines) stays right when a kill lands inside start-up's own
	// recovery, between saving a record and logging it.
	inFlight := map[string]bool{}
	countInFlight := func() int {
		st, err := store.NewFile(e.stateDir)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := st.List()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if key := r.Name + "@" + r.LastAttempt.String(); r.Ordering && !inFlight[key] {
				inFlight[key] = true
				n++
			}
		}
		return n
	}
	hits := 0
	for i := range 10 {
		p := e.start()
		// From the first pass on, orders are in flight: counting the delay
		// from there, not from the start of a process that a loaded
		// machine starts slowly, keeps the kills landing mid-order.
		waitFirstPass(t, p)
		delay := time.Duration(rng.Int64N(int64(time.Second)))
		time.Sleep(delay) // on purpose: the kill lands at a random moment
		p.kill()
		n := countInFlight()
		if n > 0 {
			hits++
		}
		t.Logf("run %d: killed after %v with %d orders in flight", i+1, delay.Round(time.Millisecond), n)
	}
	interrupted := len(inFlight)
	p := e.start()
	waitFirstPass(t, p)
	for _, n := range names {
		h.waitServed(n+".example.test", e.bundle(0, n), 180*time.Second)
	}
	p.stop(t)
	orders := e.ca.Orders()
	t.Logf("%d certificates, %d of 10 kills interrupted orders (%d orders in all), %d orders seen by the CA",
		len(names), hits, interrupted, orders)
	if hits < 3 {
		t.Fatalf("only %d of 10 kills interrupted an order: the test hardly tested anything", hits)
	}
	if orders > len(names)+interrupted {
		t.Fatalf("the CA saw %d orders, more than %d certificates + %d interrupted", orders, len(names), interrupted)
	}
	checkFiles(t, e.stateDir)
	checkFiles(t, h.CertDir)
	checkCrtList(t, h.CrtList)

	for i := range 5 {
		p := e.start()
		waitFirstPass(t, p)
		if o := ordering(e.statusAfterTwoPasses(t, e.adminAPI(t))); len(o) != 0 {
			t.Fatalf("restart %d with valid certificates decided to order %v; logs:\n%s", i+1, o, p.Logs())
		}
		for _, n := range names {
			h.waitServed(n+".example.test", e.bundle(0, n), 10*time.Second)
		}
		p.stop(t)
		if got := e.ca.Orders(); got != orders {
			t.Fatalf("restart %d with valid certificates placed %d new orders; logs:\n%s", i+1, got-orders, p.Logs())
		}
	}
}

// waitFirstPass waits until hotcert has read its store and checked every
// HAProxy: only then has it decided what to order, and handles SIGTERM.
func waitFirstPass(t *testing.T, p *process) {
	t.Helper()
	eventually(t, 60*time.Second, "the first reconcile pass", func() error {
		if !strings.Contains(p.Logs(), "first reconcile pass done") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
}

// tempFile is atomicfile's name for a write not yet renamed into place.
var tempFile = regexp.MustCompile(`^\..+\.tmp[0-9]*$`)

// checkFiles walks dir: no temporary file is left, every JSON file parses,
// and every PEM parses, with its key matching its leaf when it has both.
func checkFiles(t *testing.T, dir string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if tempFile.MatchString(d.Name()) {
			return fmt.Errorf("leftover temporary file %s", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".json":
			if !json.Valid(b) {
				return fmt.Errorf("%s is not valid JSON:\n%s", path, b)
			}
		case ".pem":
			seen++
			if err := checkPEM(b); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatalf("no PEM files under %s", dir)
	}
}

func checkPEM(b []byte) error {
	var leaf *x509.Certificate
	var key crypto.Signer
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch {
		case blk.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return err
			}
			if leaf == nil {
				leaf = c
			}
		case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			k, err := parseKey(blk)
			if err != nil {
				return err
			}
			key = k
		}
	}
	if len(strings.TrimSpace(string(b))) != 0 {
		return fmt.Errorf("trailing bytes that are not PEM: %q", b)
	}
	if key == nil {
		return fmt.Errorf("no private key")
	}
	if leaf != nil {
		if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
			return fmt.Errorf("key does not match the leaf (serial %x)", leaf.SerialNumber)
		}
	}
	return nil
}

func parseKey(blk *pem.Block) (crypto.Signer, error) {
	switch blk.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(blk.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unknown key type %T", k)
}

// checkCrtList: every line names a file that exists and parses.
func checkCrtList(t *testing.T, list string) {
	t.Helper()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		pemBytes, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatalf("crt-list line %q: %v", l, err)
		}
		if err := checkPEM(pemBytes); err != nil {
			t.Fatalf("crt-list line %q: %v", l, err)
		}
	}
}
