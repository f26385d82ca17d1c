package runtime

import (
	"errors"
	"os"
	"testing"
)

// Removing a certificate from a crt-list file that is missing or empty has
// nothing to take out, so it must write nothing: a file holding only a
// newline is an empty crt-list, which HAProxy refuses to start with.
func TestFakeRemoveFromMissingCrtListWritesNothing(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(t)
	f.setReply(script(c, nil))
	must(t, os.MkdirAll(c.opts.CertDir, 0o700))
	list := c.opts.CrtList

	must(t, os.Remove(list))
	must(t, c.Remove(ctx(t), "shop"))
	if _, err := os.Stat(list); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removing from a missing crt-list created it: %v", err)
	}

	must(t, os.WriteFile(list, nil, 0o600))
	must(t, c.Remove(ctx(t), "shop"))
	if got, err := os.ReadFile(list); err != nil || len(got) != 0 {
		t.Fatalf("removing from an empty crt-list left %q (%v)", got, err)
	}
}
