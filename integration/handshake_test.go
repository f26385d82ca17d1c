package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotcert/hotcert/internal/testca"
)

// verifyServed does a TLS handshake for sni and verifies the chain HAProxy
// sent against roots: the placeholder, or an expired or wrong certificate,
// fails.
func verifyServed(port int, sni string, roots *x509.CertPool) error {
	d := &net.Dialer{Timeout: 10 * time.Second} // generous: a loaded machine is not a failed switch
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return fmt.Errorf("%s: %w", sni, err)
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: sni}); err != nil {
		return fmt.Errorf("%s: serial %x from %q: %w", sni, chain[0].SerialNumber, chain[0].Issuer, err)
	}
	return nil
}

// handshakes checks every name over and over in the background.
type handshakes struct {
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	checks   int
	failures []error
}

func startHandshakes(t *testing.T, port int, names []string, roots *x509.CertPool) *handshakes {
	hs := &handshakes{done: make(chan struct{})}
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		for {
			for _, n := range names {
				select {
				case <-hs.done:
					return
				default:
				}
				err := verifyServed(port, n, roots)
				hs.mu.Lock()
				hs.checks++
				if err != nil {
					hs.failures = append(hs.failures, err)
				}
				hs.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { hs.stop() })
	return hs
}

func (hs *handshakes) stop() (int, []error) {
	select {
	case <-hs.done:
	default:
		close(hs.done)
	}
	hs.wg.Wait()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.checks, hs.failures
}

func issuerRoots(t *testing.T, ca *testca.CA) []byte {
	t.Helper()
	pem, err := ca.IssuerRootPEM(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

// secondCA starts another Pebble, which validates through the same HAProxy,
// and makes hotcert trust both CAs' listeners.
func (e *env) secondCA(t *testing.T) *testca.CA {
	t.Helper()
	b, err := testca.Start(testca.Options{HTTPPort: e.lbs[0].HTTPPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	writeFile(t, filepath.Join(e.dir, "ca.pem"), string(e.ca.RootsPEM)+string(b.RootsPEM))
	return b
}
