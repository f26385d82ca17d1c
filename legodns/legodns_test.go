package legodns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/challenge"

	"github.com/hotcert/hotcert/dns01"
)

func bufLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// needs skips a test of a provider that this build leaves out.
func needs(t *testing.T, name string) {
	t.Helper()
	if _, ok := builders[name]; !ok {
		t.Skipf("%s not compiled in", name)
	}
}

// addBuilder registers a test-only provider name for the test's lifetime.
func addBuilder(t *testing.T, name string, b func() (challenge.Provider, error)) {
	t.Helper()
	builders[name] = b
	t.Cleanup(func() { delete(builders, name) })
}

func TestNewSetsEnvOnlyDuringConstruction(t *testing.T) {
	t.Setenv("HOTCERT_LEGODNS_OLD", "before")
	os.Unsetenv("HOTCERT_LEGODNS_NEW")
	var seenOld, seenNew string
	addBuilder(t, "test-env", func() (challenge.Provider, error) {
		seenOld, seenNew = os.Getenv("HOTCERT_LEGODNS_OLD"), os.Getenv("HOTCERT_LEGODNS_NEW")
		return &fakeLego{}, nil
	})
	log, _ := bufLog()
	if _, err := New("test-env", map[string]string{"HOTCERT_LEGODNS_OLD": "during", "HOTCERT_LEGODNS_NEW": "x"}, log); err != nil {
		t.Fatal(err)
	}
	if seenOld != "during" || seenNew != "x" {
		t.Fatalf("construction saw %q, %q; want during, x", seenOld, seenNew)
	}
	if got := os.Getenv("HOTCERT_LEGODNS_OLD"); got != "before" {
		t.Errorf("HOTCERT_LEGODNS_OLD after construction = %q, want it restored to before", got)
	}
	if _, ok := os.LookupEnv("HOTCERT_LEGODNS_NEW"); ok {
		t.Error("HOTCERT_LEGODNS_NEW is still set after construction")
	}
}

// Constructions running at once each see their own settings only.
func TestNewConcurrentSettingsDoNotMix(t *testing.T) {
	addBuilder(t, "test-env", func() (challenge.Provider, error) {
		first := os.Getenv("HOTCERT_LEGODNS_ID")
		for range 20 {
			runtime.Gosched()
			if got := os.Getenv("HOTCERT_LEGODNS_ID"); got != first {
				return nil, errors.New("settings changed during construction: " + first + " then " + got)
			}
		}
		return &fakeLego{}, nil
	})
	log, _ := bufLog()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			_, err := New("test-env", map[string]string{"HOTCERT_LEGODNS_ID": string(rune('a' + i%26))}, log)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewMissingVariableNamesIt(t *testing.T) {
	needs(t, "rfc2136")
	for _, v := range []string{"DNSUPDATE_NAMESERVER", "RFC2136_NAMESERVER"} {
		t.Setenv(v, "")
	}
	log, _ := bufLog()
	_, err := New("rfc2136", map[string]string{"RFC2136_TSIG_KEY": "hotcert."}, log)
	if err == nil {
		t.Fatal("New without a nameserver succeeded")
	}
	for _, want := range []string{"rfc2136", "NAMESERVER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestNewUnknownListsKnown(t *testing.T) {
	log, _ := bufLog()
	_, err := New("no-such-dns", nil, log)
	if !errors.Is(err, ErrUnknown) {
		t.Fatalf("error %v is not ErrUnknown", err)
	}
	for _, want := range append([]string{"no-such-dns"}, Names()...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestSecretsStayOutOfErrorsLogsAndEnv(t *testing.T) {
	needs(t, "rfc2136")
	needs(t, "cloudflare")
	const secret = "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="
	log, buf := bufLog()
	_, err := New("rfc2136", map[string]string{
		"RFC2136_NAMESERVER": "127.0.0.1:1", "RFC2136_TSIG_KEY": "hotcert.",
		"RFC2136_TSIG_SECRET": secret, "RFC2136_TSIG_ALGORITHM": "hmac-bogus.",
	}, log)
	if err == nil {
		t.Fatal("an unsupported TSIG algorithm was accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the secret: %v", err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New("cloudflare", map[string]string{"CLOUDFLARE_DNS_API_TOKEN_FILE": file}, log); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), secret) {
		t.Errorf("log shows the secret:\n%s", buf)
	}
	for _, kv := range os.Environ() {
		if strings.Contains(kv, secret) || strings.HasPrefix(kv, "CLOUDFLARE_") {
			t.Errorf("process environment keeps %s after construction", strings.SplitN(kv, "=", 2)[0])
		}
	}
}

func TestExpandFilesReadsValueBesideFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := expandFiles(map[string]string{"AWS_SECRET_ACCESS_KEY_FILE": file, "A_FILE": file, "A": "given"})
	if err != nil {
		t.Fatal(err)
	}
	if got["AWS_SECRET_ACCESS_KEY"] != "s3cret" || got["A"] != "given" {
		t.Errorf("expandFiles = %v", got)
	}
	_, err = expandFiles(map[string]string{"X_FILE": filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "X_FILE") {
		t.Errorf("missing file: error %v does not name X_FILE", err)
	}
}

// fakeLego is a lego provider that records its calls and can block.
type fakeLego struct {
	mu      sync.Mutex
	domains []string
	release chan struct{}
}

func (f *fakeLego) Present(ctx context.Context, domain, token, keyAuth string) error {
	f.mu.Lock()
	f.domains = append(f.domains, domain)
	f.mu.Unlock()
	if f.release != nil {
		<-f.release // ignores ctx, as some providers' clients do
	}
	return nil
}

func (f *fakeLego) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	return f.Present(ctx, domain, token, keyAuth)
}

func record(domain, fqdn string) dns01.Record {
	keyAuth := "token.thumbprint"
	sum := sha256.Sum256([]byte(keyAuth))
	return dns01.Record{Domain: domain, FQDN: fqdn, Value: base64.RawURLEncoding.EncodeToString(sum[:]),
		Token: "token", KeyAuth: keyAuth}
}

func TestPresentWritesAtRecordFQDN(t *testing.T) {
	log, _ := bufLog()
	f := &fakeLego{}
	p := wrap("fake", f, log)
	ctx := t.Context()
	if err := p.Present(ctx, record("example.test", "_acme-challenge.example.test.")); err != nil {
		t.Fatal(err)
	}
	// Behind a CNAME the Solver followed: lego must write at the target.
	if err := p.CleanUp(ctx, record("example.test", "_acme-challenge.other.test.")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.test.", "other.test."}; strings.Join(f.domains, " ") != strings.Join(want, " ") {
		t.Errorf("lego was given %v, want %v", f.domains, want)
	}
	err := p.Present(ctx, record("example.test", "acme.other.test."))
	if !errors.Is(err, ErrOutsideChallengeName) {
		t.Errorf("CNAME target outside _acme-challenge: error %v, want ErrOutsideChallengeName", err)
	}
	bad := record("example.test", "_acme-challenge.example.test.")
	bad.Value = "not-the-value"
	if err := p.Present(ctx, bad); err == nil || !strings.Contains(err.Error(), "not-the-value") {
		t.Errorf("a value lego would not write: error %v", err)
	}
	if len(f.domains) != 2 {
		t.Errorf("lego was called for refused records: %v", f.domains)
	}
}

func TestPresentReturnsWhenContextEnds(t *testing.T) {
	log, _ := bufLog()
	f := &fakeLego{release: make(chan struct{})}
	defer close(f.release)
	p := wrap("fake", f, log)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- p.Present(ctx, record("example.test", "_acme-challenge.example.test.")) }()
	for {
		f.mu.Lock()
		called := len(f.domains) > 0
		f.mu.Unlock()
		if called {
			break
		}
		runtime.Gosched()
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Present = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Present did not return after its context ended")
	}
}
