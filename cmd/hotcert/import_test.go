package main

import (
	"net"
	"strings"
	"testing"
)

func TestImportRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCheckConfig(t, dir, "", "")
	code, _, errOut := runCLI("import", "--config", cfg, "--from", "acme.sh", dir)
	if code != 2 || !strings.Contains(errOut, `--from "acme.sh": want certbot or pem`) {
		t.Errorf("--from acme.sh: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI("import", "--config", cfg, "--from", "pem")
	if code != 2 || !strings.Contains(errOut, "missing argument") {
		t.Errorf("no DIR: exit %d, stderr %q", code, errOut)
	}

	clustered := writeCheckConfig(t, t.TempDir(), "", "cluster:\n  etcd:\n    endpoints: [http://127.0.0.1:2379]\n")
	code, _, errOut = runCLI("import", "--config", clustered, "--from", "pem", dir)
	if code != 1 || !strings.Contains(errOut, "a cluster node's certificates live in etcd, which import does not write") {
		t.Errorf("cluster: exit %d, stderr %q", code, errOut)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	running := writeCheckConfig(t, t.TempDir(), "", "admin:\n  listen: "+ln.Addr().String()+"\n")
	code, _, errOut = runCLI("import", "--config", running, "--from", "pem", dir)
	if code != 1 || !strings.Contains(errOut, "hotcert is running") {
		t.Errorf("daemon running: exit %d, stderr %q", code, errOut)
	}
}
