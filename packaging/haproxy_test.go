package packaging

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/internal/lab"
)

// labExample turns the example haproxy.cfg into one that runs here: the
// socket, the crt-list (with its placeholder) and the ports of a lab
// instance, and backend as hotcert's challenge listener. Everything else,
// the rules above all, is the example as shipped.
func labExample(t *testing.T, backend string) *lab.HAProxy {
	t.Helper()
	if _, err := lab.FindHAProxy(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	h, err := lab.New(t.TempDir(), lab.Options{Challenge: backend})
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../configs/examples/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"/run/haproxy/admin.sock mode 660 level admin group haproxy", h.Socket+" mode 600 level admin",
		"bind :443 ", fmt.Sprintf("bind 127.0.0.1:%d ", h.HTTPSPort),
		"bind :80\n", fmt.Sprintf("bind 127.0.0.1:%d\n", h.HTTPPort),
		"/etc/haproxy/hotcert/certs.list", h.CrtList,
		"server hotcert 127.0.0.1:8402", "server hotcert "+backend,
	).Replace(string(example))
	var directives strings.Builder
	for line := range strings.Lines(cfg) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			directives.WriteString(line)
		}
	}
	for _, shipped := range []string{"/run/haproxy", ":443 ", ":80\n", "/etc/haproxy/hotcert", "8402"} {
		if strings.Contains(directives.String(), shipped) {
			t.Fatalf("the example changed: %q is still in the lab copy; update labExample", shipped)
		}
	}
	if err := os.WriteFile(h.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(h.Bin, "-c", "-f", h.Config).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c on the example: %v\n%s", err, out)
	}
	return h
}

// The example's redirect to https must leave the ACME path to hotcert:
// HAProxy runs http-request rules before use_backend whatever their order.
func TestExampleHAProxyRoutesChallengesPastTheRedirect(t *testing.T) {
	hotcert := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "key-authorization for "+filepath.Base(r.URL.Path))
	}))
	defer hotcert.Close()
	h := labExample(t, strings.TrimPrefix(hotcert.URL, "http://"))
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("http://127.0.0.1:%d", h.HTTPPort)

	resp, err := noFollow.Get(base + "/.well-known/acme-challenge/tok123")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "key-authorization for tok123" {
		t.Fatalf("challenge: %d %q, want hotcert's 200 answer", resp.StatusCode, body)
	}

	resp, err = noFollow.Get(base + "/shop")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || !strings.HasPrefix(loc, "https://") {
		t.Fatalf("other paths: %d to %q, want 301 to https", resp.StatusCode, loc)
	}
}
