package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

func TestPutWritesAMarkedFileAndApplies(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("hand.yaml", certs("hand"))
	fx.mustLoad()
	created, err := fx.cat.Put("shop", Spec{Domains: []string{"Shop.Example.COM", "www.shop.example.com"}, KeyTypes: []string{"ecdsa-p256", "rsa2048"}})
	if err != nil || !created {
		t.Fatalf("Put = %v, %v; want created", created, err)
	}
	fx.want("after Put", "hand", "shop")
	data, err := os.ReadFile(fx.path("shop.yaml"))
	if err != nil || !strings.HasPrefix(string(data), marker) {
		t.Fatalf("shop.yaml: %q, %v; want it to start with the marker", data, err)
	}
	// The file as written loads to the same certificate.
	d, err := fx.cat.opt.Config.ParseDomainsFile(fx.path("shop.yaml"), data)
	if err != nil || !slices.Equal(d.Certificates[0].Domains, []string{"shop.example.com", "www.shop.example.com"}) ||
		len(d.Certificates[0].KeyTypes) != 2 {
		t.Fatalf("shop.yaml parses to %+v, %v", d, err)
	}
	// The watcher's event for that write reads nothing.
	before := fx.cat.parsed.Load()
	fx.mustLoad(fx.path("shop.yaml"))
	if fx.cat.parsed.Load() != before {
		t.Fatal("the load after Put read its file again")
	}
	created, err = fx.cat.Put("shop", Spec{Domains: []string{"shop.example.com"}})
	if err != nil || created {
		t.Fatalf("second Put = %v, %v; want an update", created, err)
	}
	if c := fx.cat.Domains().Certificates; len(c) != 2 || len(fx.applied) != 3 {
		t.Fatalf("after the update: %v, %d applies", c, len(fx.applied))
	}
}

// The body is validated exactly as the file is, and problems name the
// body's fields.
func TestPutRefusesBadInputByField(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("a.yaml", certs("a"))
	fx.mustLoad()
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string
	}{
		{"ok", Spec{Domains: []string{"ok.example.com", "bad domain"}}, "domains[1]"},
		{"ok", Spec{Domains: []string{"ok.example.com"}, KeyTypes: []string{"dsa"}}, "key_type[0]"},
		{"ok", Spec{Domains: []string{"ok.example.com"}, Challenge: "tls-alpn-01"}, "challenge"},
		{"ok", Spec{}, "domains"},
		{"Bad/Name", Spec{Domains: []string{"ok.example.com"}}, "name"},
		{"../up", Spec{Domains: []string{"ok.example.com"}}, "name"},
		{"ok", Spec{Domains: []string{"ok.example.com", "a.example.com"}}, "domains[1]"}, // a.yaml has it
		{"a.rsa2048", Spec{Domains: []string{"x.example.com"}}, "name"},
	} {
		_, err := fx.cat.Put(tc.name, tc.spec)
		var ps configs.Problems
		if !errors.As(err, &ps) || len(ps) == 0 || ps[0].Field != tc.field || ps[0].File != "" || ps[0].Line != 0 {
			t.Errorf("Put(%q, %+v) = %v; want a problem of field %q, without file or line", tc.name, tc.spec, err, tc.field)
		}
	}
	if _, err := os.Stat(fx.path("ok.yaml")); !os.IsNotExist(err) {
		t.Fatalf("a refused Put left a file: %v", err)
	}
	fx.want("after refused Puts", "a")
}

func TestPutAndDeleteLeaveHandWrittenFilesAlone(t *testing.T) {
	fx := newFixture(t, "")
	hand := fx.write("hand.yaml", certs("x", "hand"))
	fx.write("lone.yaml", certs("y"))
	fx.mustLoad()
	for _, name := range []string{"hand", "lone"} {
		want := map[string]string{"hand": hand + ":4", "lone": fx.path("lone.yaml") + ":1"}[name]
		if _, err := fx.cat.Put(name, Spec{Domains: []string{"new.example.com"}}); !errors.Is(err, ErrHandWritten) || !strings.Contains(err.Error(), want) {
			t.Errorf("Put(%s) = %v; want ErrHandWritten naming %s", name, err, want)
		}
		if err := fx.cat.Delete(name); !errors.Is(err, ErrHandWritten) || !strings.Contains(err.Error(), want) {
			t.Errorf("Delete(%s) = %v; want ErrHandWritten naming %s", name, err, want)
		}
	}
	fx.want("after refused calls", "hand", "x", "y")
}

func TestDelete(t *testing.T) {
	fx := newFixture(t, "")
	fx.mustLoad()
	if _, err := fx.cat.Put("shop", Spec{Domains: []string{"shop.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := fx.cat.Delete("shop"); err != nil {
		t.Fatal(err)
	}
	fx.want("after Delete")
	if _, err := os.Stat(fx.path("shop.yaml")); !os.IsNotExist(err) {
		t.Fatalf("shop.yaml still there: %v", err)
	}
	for _, name := range []string{"shop", "never", "../etc/passwd"} {
		if err := fx.cat.Delete(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q) = %v; want ErrNotFound", name, err)
		}
	}
}

func TestPutWithoutDirectory(t *testing.T) {
	dir := t.TempDir()
	c := New(Options{Config: &configs.Config{DomainsFile: filepath.Join(dir, "domains.yaml")}})
	if _, err := c.Put("shop", Spec{Domains: []string{"shop.example.com"}}); !errors.Is(err, ErrNoDir) {
		t.Fatalf("Put = %v; want ErrNoDir", err)
	}
	if err := c.Delete("shop"); !errors.Is(err, ErrNoDir) {
		t.Fatalf("Delete = %v; want ErrNoDir", err)
	}
}

// Readers of a published set hold no lock while Put, Delete and Load
// change the set (run with -race).
func TestConcurrentPutsLoadsAndReaders(t *testing.T) {
	fx := newFixture(t, "")
	fx.write("hand.yaml", certs("h1", "h2", "h3"))
	fx.mustLoad()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 30 {
			name := fmt.Sprintf("p%d", i%5)
			if _, err := fx.cat.Put(name, Spec{Domains: []string{fmt.Sprintf("%s-%d.example.com", name, i)}}); err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				if err := fx.cat.Delete(name); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		for _, c := range fx.cat.Domains().Certificates {
			if c.Name == "" || len(c.Domains) == 0 {
				t.Fatalf("a published set holds an empty certificate: %+v", c)
			}
		}
		if i%10 == 0 {
			fx.write("hand.yaml", certs("h1", "h2", fmt.Sprintf("h%d", 3+i%2)))
			if err := fx.cat.Load([]string{fx.path("hand.yaml")}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
