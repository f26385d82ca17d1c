package runtime

import (
	"context"
	"errors"
	"testing"
)

// HAProxy 2.6 reads a del map key that starts with '#' as an entry
// reference, and a command line ending in "<<" switches the CLI to payload
// mode, where it waits for an empty line that never comes. A token a CA sent
// outside base64url must not reach the socket in either form.
func TestFakeMapArgsHAProxyReadsDifferently(t *testing.T) {
	f := newFake(t, func(string) string { return "[3]: must not be reached" })
	c := f.client(t)
	ctx := context.Background()
	for _, kv := range [][2]string{{"#0x55d0c0a1b2c0", "v"}, {"tok<<", "v"}, {"tok", "v<<"}} {
		if err := c.AddMapEntry(ctx, "/m.map", kv[0], kv[1]); !errors.Is(err, ErrInvalidName) {
			t.Errorf("AddMapEntry %q: %v, want ErrInvalidName", kv, err)
		}
	}
	for _, key := range []string{"#0x55d0c0a1b2c0", "tok<<"} {
		if err := c.DelMapEntry(ctx, "/m.map", key); !errors.Is(err, ErrInvalidName) {
			t.Errorf("DelMapEntry %q: %v, want ErrInvalidName", key, err)
		}
	}
	if n := len(f.commands()); n != 0 {
		t.Fatalf("%d commands reached the socket: %q", n, f.commands())
	}
}
