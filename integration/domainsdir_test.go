package integration

import (
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDomainsDir drives a running hotcert through the files of its
// domains_dir: several files served at once; a name defined in two files,
// rejected with both places while everything served stays served; the fix;
// a file removed; and the directory turned into a Kubernetes ConfigMap
// volume whose "..data" link is swapped.
func TestDomainsDir(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	dd := filepath.Join(e.dir, "domains.d")
	if err := os.Mkdir(dd, 0o755); err != nil {
		t.Fatal(err)
	}
	e.extraConfig = "domains_dir: domains.d\n"
	e.writeDomains(domainsYAML([]string{"main"}, nil)) // domains_file beside the directory
	writeFile(t, filepath.Join(dd, "a.yaml"), domainsYAML([]string{"one"}, nil))
	writeFile(t, filepath.Join(dd, "b.yaml"), domainsYAML([]string{"two", "three"}, nil))
	writeFile(t, filepath.Join(dd, ".hidden.yaml"), domainsYAML([]string{"hidden"}, nil))
	writeFile(t, filepath.Join(dd, "notes.txt"), domainsYAML([]string{"notes"}, nil))
	p := e.start()
	for _, n := range []string{"main", "one", "two", "three"} {
		h.waitServed(n+".example.test", e.bundle(0, n), 120*time.Second)
	}
	api := e.adminAPI(t)

	// A name defined in two files: c.yaml, which brought it, is rejected as a
	// whole; the log names both files and lines.
	served := map[string]*big.Int{}
	for _, n := range []string{"main", "one", "two", "three"} {
		served[n] = servedSerial(t, h, n+".example.test")
	}
	logsBefore := len(p.Logs())
	c := filepath.Join(dd, "c.yaml")
	writeFile(t, c, domainsYAML([]string{"four", "two"}, map[string]string{"two": "dup.example.test"}))
	want := c + ":4:11: certificates[1].name: \\\"two\\\" is already the name of a certificate at " + filepath.Join(dd, "b.yaml") + ":2"
	eventually(t, 60*time.Second, "the duplicate logged with both places", func() error {
		if logs := p.Logs()[logsBefore:]; !strings.Contains(logs, want) {
			return fmt.Errorf("no line with %q yet", want)
		}
		return nil
	})
	if got := api.metrics()["hotcert_config_valid"]; got != 0 {
		t.Errorf("config_valid = %v with a duplicate across files", got)
	}
	if code, _, body := api.do(http.MethodGet, "/healthz", "", "", nil); code != 503 || !strings.Contains(string(body), "c.yaml:4:11") {
		t.Errorf("healthz %d %s; want 503 naming c.yaml:4:11", code, body)
	}
	e.twoPasses(t, api)
	for n, serial := range served {
		if got := servedSerial(t, h, n+".example.test"); got.Cmp(serial) != 0 {
			t.Fatalf("with c.yaml rejected, %s is served with serial %x, was %x", n, got, serial)
		}
	}
	if err := servesPlaceholder(h, "four.example.test"); err != nil {
		t.Fatalf("c.yaml was rejected, yet: %v", err)
	}

	// The fix applies c.yaml.
	writeFile(t, c, domainsYAML([]string{"four", "five"}, nil))
	h.waitServed("four.example.test", e.bundle(0, "four"), 120*time.Second)
	h.waitServed("five.example.test", e.bundle(0, "five"), 120*time.Second)
	eventually(t, 30*time.Second, "config valid again", func() error {
		if got := api.metrics()["hotcert_config_valid"]; got != 1 {
			return fmt.Errorf("config_valid = %v", got)
		}
		return nil
	})

	// A file removed takes its certificates out of HAProxy.
	if err := os.Remove(filepath.Join(dd, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"two", "three"} {
		eventually(t, 60*time.Second, n+" no longer served", func() error { return servesPlaceholder(h, n+".example.test") })
		eventually(t, 30*time.Second, n+"'s bundle gone", func() error {
			if _, err := os.Stat(e.bundle(0, n)); !os.IsNotExist(err) {
				return fmt.Errorf("%s: %v", e.bundle(0, n), err)
			}
			return nil
		})
	}

	// A ConfigMap volume: a.yaml -> ..data/a.yaml, ..data -> ..2026_1; an
	// update renames a new ..data link over the old one.
	cm := configMap{t: t, dir: dd}
	cm.swapFiles(map[string]string{"a.yaml": domainsYAML([]string{"one"}, nil), "c.yaml": domainsYAML([]string{"four", "five"}, nil)})
	cm.link("a.yaml", "c.yaml")
	cm.swapFiles(map[string]string{"a.yaml": domainsYAML([]string{"one", "six"}, nil), "c.yaml": domainsYAML([]string{"four", "five"}, nil)})
	h.waitServed("six.example.test", e.bundle(0, "six"), 120*time.Second)
	for _, n := range []string{"main", "one", "four", "five"} {
		if _, err := h.Served(n+".example.test", nil); err != nil || servesPlaceholder(h, n+".example.test") == nil {
			t.Fatalf("after the ConfigMap swap %s is not served (%v)", n, err)
		}
	}
}

// link turns each named file of the ConfigMap's directory into the link
// name -> ..data/name, renamed over the file.
func (c *configMap) link(names ...string) {
	c.t.Helper()
	for _, name := range names {
		tmp := filepath.Join(c.dir, "."+name+".link")
		if err := os.Symlink(filepath.Join("..data", name), tmp); err != nil {
			c.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(c.dir, name)); err != nil {
			c.t.Fatal(err)
		}
	}
}
