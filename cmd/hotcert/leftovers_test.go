package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

func TestRemoveLeftoversTouchesOnlyAtomicfileTemps(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	certDir := filepath.Join(dir, "certs")
	for _, d := range []string{filepath.Join(state, "account"), filepath.Join(state, "certs", "shop"), certDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	gone := []string{
		filepath.Join(state, "certs", "shop", ".state.json.tmp123"),
		filepath.Join(state, "account", ".key.pem.tmp9"),
		filepath.Join(certDir, ".shop.pem.tmp4242"),
		filepath.Join(dir, ".certs.list.tmp77"),
	}
	kept := []string{
		filepath.Join(state, "certs", "shop", "state.json"),
		filepath.Join(certDir, "shop.pem"),
		filepath.Join(certDir, ".shop.pem.tmp"), // not atomicfile's: no digits
		filepath.Join(dir, ".other.list.tmp77"), // another file's temp in a shared directory
		filepath.Join(dir, "certs.list"),
	}
	for _, p := range append(append([]string{}, gone...), kept...) {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &configs.Config{StateDir: state, HAProxy: []configs.HAProxy{{Name: "lb1", CertDir: certDir, CrtList: filepath.Join(dir, "certs.list")}}}
	removeLeftovers(cfg, slog.New(slog.DiscardHandler))
	for _, p := range gone {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived: %v", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
