package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hooksHead = "acme: {accept_terms: true}\nhaproxy:\n" +
	"  - name: lb1\n    socket: /run/lb1.sock\n    cert_dir: /srv/certs\n    crt_list: /srv/certs.list\n"

func TestHooks(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, hooks, want string
	}{
		{"absolute", "hooks:\n  deployed: [" + script + ", a, b]\n  timeout: 2s\n", ""},
		{"from PATH", "hooks:\n  failed: [sh, -c, 'echo $HOTCERT_ERROR']\n", ""},
		{"missing", "hooks:\n  deployed: [" + filepath.Join(dir, "nope") + "]\n", ":8:14: hooks.deployed[0]: "},
		{"empty", "hooks:\n  failed: ['']\n", ":8:12: hooks.failed[0]: the command is empty"},
		{"relative", "hooks:\n  failed:\n    - ./hook.sh\n", ":9:7: hooks.failed[0]: "},
		{"not in PATH", "hooks:\n  failed: [hotcert-no-such-hook]\n", ":8:12: hooks.failed[0]: \"hotcert-no-such-hook\" is not found in PATH"},
		{"negative timeout", "hooks:\n  timeout: -1s\n", ":8:12: hooks.timeout: "},
		{"a string, not a list", "hooks:\n  failed: " + script + "\n", ":8:11: hooks.failed: "},
	} {
		c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(hooksHead+tc.hooks))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want no problem", tc.what, err)
			} else if c.Hooks.Timeout <= 0 {
				t.Errorf("%s: timeout %s", tc.what, c.Hooks.Timeout)
			}
			continue
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].String(), tc.want) {
			t.Errorf("%s: %v; want one problem containing %q", tc.what, err, tc.want)
		}
	}
	c, err := ParseConfig("/etc/hotcert/hotcert.yaml", []byte(hooksHead+"hooks:\n  deployed: ["+plain+"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hooks.Timeout != Duration(60*time.Second) {
		t.Errorf("default timeout %s, want 1m", c.Hooks.Timeout)
	}
	ws := c.Warnings()
	if len(ws) != 1 || !strings.Contains(ws[0].String(), ":8:14: hooks.deployed[0]: warning: ") {
		t.Errorf("not executable: warnings %v, want one at hooks.deployed[0]", ws)
	}
}
