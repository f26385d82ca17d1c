package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestChallengeAnsweredByOtherNode: a token presented on one node is
// answered by the other's KeyAuth and announced on its Tokens; it is
// published again when the presenting node's session is replaced, and goes
// everywhere at CleanUp. Members lists both nodes.
func TestChallengeAnsweredByOtherNode(t *testing.T) {
	e, a, b := twoNodes(t)
	ctx := context.Background()
	if err := a.Present(ctx, "tok-1", "tok-1.thumb"); err != nil {
		t.Fatal(err)
	}
	if v, ok := a.KeyAuth("tok-1"); !ok || v != "tok-1.thumb" {
		t.Fatalf("a.KeyAuth: %q %v", v, ok)
	}
	answers := func(want bool) func() error {
		return func() error {
			if v, ok := b.KeyAuth("tok-1"); ok != want || (ok && v != "tok-1.thumb") {
				return errors.New("b does not answer as expected yet")
			}
			return nil
		}
	}
	waitFor(t, "b answers a's token", 5*time.Second, answers(true))
	if ev := nextToken(t, b); ev != (TokenEvent{Token: "tok-1", KeyAuth: "tok-1.thumb"}) {
		t.Fatalf("b's token event: %+v", ev)
	}

	cli := raw(t, e)
	old := a.session().Lease()
	if _, err := cli.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's token on its new lease", 5*time.Second, func() error {
		resp, err := cli.Get(ctx, a.keys.challenge("tok-1"))
		if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].Lease == int64(old) {
			return errors.New("not republished yet")
		}
		return nil
	})
	waitFor(t, "b answers again", 5*time.Second, answers(true))
	waitReady(t, a)
	ms, err := b.Members(ctx)
	if err != nil || len(ms) != 2 || ms[0].Node != "a" || ms[1].Node != "b" || ms[0].Version != "test" {
		t.Fatalf("Members: %+v, %v", ms, err)
	}

	if err := a.CleanUp(ctx, "tok-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b forgets the token", 5*time.Second, answers(false))
	var ev TokenEvent
	for ev = nextToken(t, b); !ev.Removed; ev = nextToken(t, b) {
	}
	if ev.Token != "tok-1" {
		t.Fatalf("removal event: %+v", ev)
	}
	if err := a.Present(ctx, "../x", "v"); err == nil {
		t.Fatal("a token that is not base64url was taken")
	}
}
