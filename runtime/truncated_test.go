package runtime

import (
	"context"
	"errors"
	"os"
	"testing"
)

// A connection that ends in the middle of a reply leaves client-native with
// a prefix of it, which reads like a complete shorter reply. It must be
// reported as HAProxy not answering, never used.
func TestFakeTruncatedReplyIsUnavailable(t *testing.T) {
	truncated := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s = %v, want ErrTruncated, an ErrUnavailable", what, err)
		}
	}

	// The crt-list is cut before the line of a store HAProxy serves: adding
	// that line again would make a duplicate entry.
	t.Run("crt-list", func(t *testing.T) {
		f := newFake(t, nil)
		c := f.client(t)
		must(t, os.MkdirAll(c.opts.CertDir, 0o700))
		path, list := c.Path("shop"), c.opts.CrtList
		f.setReply(script(c, map[string]string{
			"new ssl cert":      "[3]: Certificate '" + path + "' already exists!",
			"show ssl crt-list": "# " + list + "\n/etc/haproxy/placeholder.pem:1" + cut,
		}))
		truncated(t, "Push", c.Push(context.Background(), "shop", pushBundle(t)))
		if cmds := f.commands(); hasCommand(cmds, c.addCmd(path)) {
			t.Fatalf("commands %q: the line was added again from a cut list", cmds)
		}
	})

	t.Run("serial", func(t *testing.T) {
		f := newFake(t, func(string) string {
			return "Filename: /x/shop.pem\nStatus: Used\nSerial: 0A1B" + cut // of 0A1B2C3D
		})
		_, err := f.client(t).Serial(context.Background(), "shop")
		truncated(t, "Serial", err)
	})

	// Cut inside Start_time_sec, the start time would differ and the client
	// would take HAProxy for restarted.
	t.Run("show info", func(t *testing.T) {
		f := newFake(t, func(string) string {
			return "Name: HAProxy\nPid: 42\nUptime_sec: 7\nStart_time_sec: 17963" + cut // of 1796320244
		})
		_, err := f.client(t).Info(context.Background())
		truncated(t, "Info", err)
	})
}

func TestCutEndMark(t *testing.T) {
	for _, tc := range []struct {
		raw, body string
		whole     bool
	}{
		{"[6]: 2.6.12-1+deb12u4", "", true}, // a command that answers nothing
		{"# filename\n/a.pem\n\n[6]: 2.6.12", "# filename\n/a.pem", true},
		{"a\n\nb\n\n[6]: 3.0-dev1", "a\n\nb", true},
		{"", "", false},
		{"# filename\n/a.pem", "", false},
		{"# filename\n/a.pem\n\n[6]", "", false},
		{"# filename\n/a.pem\n\n[6]: ", "", false},
		{"a\n\n[6]: Unknown command, but maybe one of the following ones is a better match:\n  help", "", false},
		{"Serial: 0A1B\n\n[3]: 2 things failed", "", false},
	} {
		body, whole := cutEndMark(tc.raw)
		if body != tc.body || whole != tc.whole {
			t.Errorf("cutEndMark(%q) = %q, %v; want %q, %v", tc.raw, body, whole, tc.body, tc.whole)
		}
	}
}
