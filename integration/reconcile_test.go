package integration

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const placeholderCN = "placeholder.invalid"

// TestDomainsFileEdits drives a running hotcert only by editing its domains
// file, the way operators do: an atomic rename (vim, Ansible), an in-place
// write (sed -i, >), a Kubernetes ConfigMap symlink swap, a change of names,
// a removal, and finally a file that is not YAML. After each edit it checks
// what HAProxy serves over TLS with SNI.
func TestDomainsFileEdits(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	e := newEnv(t, envOptions{})
	h := e.lbs[0]
	certs := []string{"base"}
	e.writeDomains(domainsYAML(certs, nil))
	p := e.start()
	base := h.waitServed("base.example.test", e.bundle(0, "base"), 120*time.Second)

	// 1. Rename over: write a temporary file and rename it into place.
	certs = append(certs, "renamed")
	tmp := e.domainsPath + ".tmp"
	writeFile(t, tmp, domainsYAML(certs, nil))
	if err := os.Rename(tmp, e.domainsPath); err != nil {
		t.Fatal(err)
	}
	h.waitServed("renamed.example.test", e.bundle(0, "renamed"), 120*time.Second)

	// 2. In place: truncate and write the same inode.
	certs = append(certs, "inplace")
	f, err := os.OpenFile(e.domainsPath, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(domainsYAML(certs, nil)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.waitServed("inplace.example.test", e.bundle(0, "inplace"), 120*time.Second)

	// 3. Kubernetes: domains.yaml -> ..data/domains.yaml, ..data -> ..v1;
	// an update swaps ..data atomically and leaves domains.yaml alone.
	cm := configMap{t: t, dir: filepath.Dir(e.domainsPath)}
	cm.become(e.domainsPath, domainsYAML(certs, nil))
	certs = append(certs, "k8s")
	cm.swap(domainsYAML(certs, nil))
	h.waitServed("k8s.example.test", e.bundle(0, "k8s"), 120*time.Second)

	// 4. Change a certificate's names: the new name is served, the old one
	// falls back to the placeholder.
	oldInplace := servedSerial(t, h, "inplace.example.test")
	cm.swap(domainsYAML(certs, map[string]string{"inplace": "moved.example.test"}))
	moved := h.waitServed("moved.example.test", e.bundle(0, "inplace"), 120*time.Second)
	if moved.SerialNumber.Cmp(oldInplace) == 0 || len(moved.DNSNames) != 1 || moved.DNSNames[0] != "moved.example.test" {
		t.Fatalf("after the names changed HAProxy serves a certificate for %v", moved.DNSNames)
	}
	eventually(t, 30*time.Second, "the old name falls back to the placeholder", func() error {
		return servesPlaceholder(h, "inplace.example.test")
	})

	// 5. Remove one: out of HAProxy, its crt-list line and cert_dir PEM gone,
	// its key and state kept.
	cm.swap(domainsYAML([]string{"base", "inplace", "k8s"}, map[string]string{"inplace": "moved.example.test"}))
	eventually(t, 30*time.Second, "the removed certificate is no longer served", func() error {
		return servesPlaceholder(h, "renamed.example.test")
	})
	eventually(t, 30*time.Second, "the removed certificate leaves cert_dir and the crt-list", func() error {
		if _, err := os.Stat(e.bundle(0, "renamed")); !os.IsNotExist(err) {
			return fmt.Errorf("%s still exists (%v)", e.bundle(0, "renamed"), err)
		}
		list, _ := os.ReadFile(h.CrtList)
		if strings.Contains(string(list), "renamed.pem") {
			return fmt.Errorf("crt-list still names it:\n%s", list)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the removed certificate's key and state kept, marked removed", func() error {
		return keptErr(filepath.Join(e.stateDir, "certs", "renamed"))
	})

	// 6. Not YAML: what is served stays served, and the error names the line.
	before := map[string]*big.Int{}
	for _, sni := range []string{"base.example.test", "moved.example.test", "k8s.example.test"} {
		before[sni] = servedSerial(t, h, sni)
	}
	logsBefore := len(p.Logs())
	cm.swap("certificates:\n  - name: base\n    domains: [base.example.test]\n  - name: k8s\n    domains: [k8s.example.test\n")
	eventually(t, 30*time.Second, "hotcert logs the rejected file", func() error {
		logs := p.Logs()[logsBefore:]
		if !strings.Contains(logs, "domains file rejected") {
			return fmt.Errorf("no rejection logged yet")
		}
		if !strings.Contains(logs, "domains.yaml:5:1: invalid YAML") {
			return fmt.Errorf("the rejection does not name line 5:\n%s", logs)
		}
		return nil
	})
	_, stderr, code := runBin(t, "check", "--config", e.cfgPath)
	if code == 0 || !strings.Contains(stderr, "domains.yaml:5:1: invalid YAML") {
		t.Fatalf("hotcert check exited %d and said %q; want the line of the error", code, stderr)
	}
	// A pass after the rejection must not act on it either: the status of
	// passes that began after SIGHUP re-read the bad file still lists all
	// three (a removed certificate leaves it), none of them to be ordered.
	p.Kick(t)
	list := e.statusAfterTwoPasses(t, e.adminAPI(t))
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	if fmt.Sprint(names) != "[base inplace k8s]" || len(ordering(list)) != 0 {
		t.Fatalf("after a bad file hotcert manages %v and orders %v, want [base inplace k8s] and nothing", names, ordering(list))
	}
	for sni, serial := range before {
		if got := servedSerial(t, h, sni); got.Cmp(serial) != 0 {
			t.Fatalf("after a bad file %s is served with serial %x, want %x", sni, got, serial)
		}
	}
	if strings.Contains(p.Logs()[logsBefore:], "action=remove") {
		t.Fatal("a rejected file made hotcert remove certificates")
	}
	if got := servedSerial(t, h, "base.example.test"); got.Cmp(base.SerialNumber) != 0 {
		t.Fatalf("base was re-issued during the edits: serial %x, first %x", got, base.SerialNumber)
	}
	p.stop(t)
}

// domainsYAML lists certificates named n with the name n.example.test,
// unless names gives another.
func domainsYAML(certs []string, names map[string]string) string {
	if len(certs) == 0 {
		return "certificates: []\n" // a bare "certificates:" is refused as missing
	}
	var b strings.Builder
	b.WriteString("certificates:\n")
	for _, c := range certs {
		d := c + ".example.test"
		if n, ok := names[c]; ok {
			d = n
		}
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s]\n", c, d)
	}
	return b.String()
}

// configMap lays out a directory as the kubelet does for a mounted ConfigMap.
type configMap struct {
	t       *testing.T
	dir     string
	version int
}

// become turns path, a regular file, into the ConfigMap layout with the same
// content (an edit that changes nothing).
func (c *configMap) become(path, content string) {
	c.swap(content)
	link := path + ".link"
	if err := os.Symlink(filepath.Join("..data", filepath.Base(path)), link); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(link, path); err != nil {
		c.t.Fatal(err)
	}
}

// swap writes a new timestamped directory holding domains.yaml and points
// ..data at it, as swapFiles does.
func (c *configMap) swap(content string) {
	c.t.Helper()
	c.swapFiles(map[string]string{"domains.yaml": content})
}

// swapFiles writes a new timestamped directory and points ..data at it with
// one rename, then deletes the old directory, as the kubelet's atomic writer
// does.
func (c *configMap) swapFiles(files map[string]string) {
	c.t.Helper()
	c.version++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", c.version, c.version)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o700); err != nil {
		c.t.Fatal(err)
	}
	for name, content := range files {
		writeFile(c.t, filepath.Join(c.dir, ts, name), content)
	}
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if old != "" {
		os.RemoveAll(filepath.Join(c.dir, old))
	}
}

func servedSerial(t *testing.T, h *haproxy, sni string) *big.Int {
	t.Helper()
	c, err := h.Served(sni, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

func servesPlaceholder(h *haproxy, sni string) error {
	c, err := h.Served(sni, nil)
	if err != nil {
		return err
	}
	if c.Subject.CommonName != placeholderCN {
		return fmt.Errorf("%s is served %v (serial %x), not the placeholder", sni, c.DNSNames, c.SerialNumber)
	}
	return nil
}

// keptErr checks that a removed certificate's state and key stay in
// state_dir, marked with removed_at. The mark is written just after the
// certificate leaves HAProxy, so callers poll it.
func keptErr(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return fmt.Errorf("state of a removed certificate is gone: %w", err)
	}
	var st struct {
		RemovedAt time.Time `json:"removed_at"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.RemovedAt.IsZero() {
		return fmt.Errorf("state.json of a removed certificate has no removed_at (%v):\n%s", err, b)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "ecdsa-p256.pem"))
	if err != nil {
		return fmt.Errorf("key of a removed certificate is gone: %w", err)
	}
	if !strings.Contains(string(pemBytes), "PRIVATE KEY") {
		return fmt.Errorf("kept bundle has no key")
	}
	return nil
}

// Kick sends SIGHUP, which makes hotcert re-read the domains file.
func (p *process) Kick(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}
