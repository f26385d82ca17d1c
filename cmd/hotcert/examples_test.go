package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

// Every example hotcert config passes `hotcert check` as shipped, with the
// domains file it names; no example file is left without a check.
func TestExamplesPassCheck(t *testing.T) {
	const examplesDir = "../../configs/examples" // what make install ships
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	ents, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".yaml") || !bytes.Contains(data, []byte("\nhaproxy:")) {
			continue
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check", "--config", filepath.Join(examplesDir, name)}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("hotcert check --config %s: exit %d\n%s", name, code, stderr.String())
		}
		checked[name] = true
		if cfg, err := configs.LoadConfig(filepath.Join(examplesDir, name)); err == nil {
			checked[filepath.Base(cfg.DomainsFile)] = true
		}
	}
	for _, e := range ents {
		switch name := e.Name(); {
		case checked[name]:
		case name == "alerts.yaml": // Prometheus rules: admin's promtool test
		case strings.HasSuffix(name, ".cfg"): // HAProxy: packaging's test runs it
		default:
			t.Errorf("%s: an example that no test checks", name)
		}
	}
	if !checked["hotcert.yaml"] || !checked["domains.yaml"] {
		t.Errorf("checked %v, want hotcert.yaml and domains.yaml among them", checked)
	}
}
