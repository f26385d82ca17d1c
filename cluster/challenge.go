package cluster

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TokenEvent is a pending HTTP-01 answer that appeared or went, on any
// node, for HAProxy's challenge map.
type TokenEvent struct {
	Token   string
	KeyAuth string // "" when Removed
	Removed bool
}

// tokens are base64url (RFC 8555 8.1); nothing else may become a key.
var validToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Present publishes keyAuth for token to the whole cluster, on this node's
// lease, so that whichever node the CA reaches answers it. It returns once
// etcd has it; ErrUnavailable otherwise (the background publisher keeps
// trying until CleanUp).
func (c *Cluster) Present(ctx context.Context, token, keyAuth string) error {
	if !validToken.MatchString(token) {
		return fmt.Errorf("present token %q: not a base64url token", token)
	}
	key := c.keys.challenge(token)
	c.leased.set(key, keyAuth)
	c.answers.set(token, keyAuth)
	if err := c.publishNow(ctx); err != nil {
		return fmt.Errorf("present token %s: %w", token, err)
	}
	return nil
}

// CleanUp withdraws token, here at once and from etcd as soon as it
// answers.
func (c *Cluster) CleanUp(ctx context.Context, token string) error {
	if !validToken.MatchString(token) {
		return fmt.Errorf("clean up token %q: not a base64url token", token)
	}
	c.leased.unset(c.keys.challenge(token))
	c.answers.del(token)
	if err := c.publishNow(ctx); err != nil {
		return fmt.Errorf("clean up token %s: %w (retried in the background)", token, err)
	}
	return nil
}

// publishNow brings this node's leased keys to etcd within ctx and
// callTimeout, and leaves a failure to the background publisher.
func (c *Cluster) publishNow(ctx context.Context) error {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	s := c.session()
	if s == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, errNoSession)
	}
	if err := c.publish(ctx, s); err != nil {
		c.kickSync()
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// KeyAuth answers a pending token of any node: this node's own at once,
// the others' from a cache the watch on challenges/ keeps.
//
// A token another node presented a moment ago may not have reached the
// watch yet when the CA asks for it (a CA that validates at once), so a
// miss asks etcd itself, briefly; a failed validation would cost an order.
// Such reads are bounded, because anyone can ask for a random token.
func (c *Cluster) KeyAuth(token string) (string, bool) {
	if v, ok := c.leased.value(c.keys.challenge(token)); ok {
		return v, true
	}
	if v, ok := c.answers.get(token); ok {
		return v, true
	}
	if !validToken.MatchString(token) || !c.missReads.allow(c.opt.Now()) || !c.health.reachable() {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), missReadTimeout)
	defer cancel()
	resp, err := c.cli.Get(ctx, c.keys.challenge(token))
	if err != nil || len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

// missReadTimeout bounds a responder's wait for etcd. It stays under the
// 5 s server timeout of the example HAProxy backend, and far under a CA's
// validation deadline (Pebble's is 15 s); one second was too short on a
// loaded node, where a failed validation costs an order and a backoff.
const missReadTimeout = 3 * time.Second

// rate allows at most max events a second.
type rate struct {
	mu     sync.Mutex
	max    int
	second time.Time
	n      int
}

func (r *rate) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := now.Truncate(time.Second); !s.Equal(r.second) {
		r.second, r.n = s, 0
	}
	r.n++
	return r.n <= r.max
}

// Tokens delivers every token that appears or goes anywhere in the
// cluster; a token waiting to be received is reported once, as it last was.
func (c *Cluster) Tokens() <-chan TokenEvent { return c.tokens.out }

// answers is the cache of every node's pending tokens.
type answers struct {
	mu     sync.Mutex
	m      map[string]string
	events *queue[TokenEvent]
}

func (a *answers) get(token string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.m[token]
	return v, ok
}

func (a *answers) set(token, keyAuth string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.m[token]; !ok || v != keyAuth {
		a.m[token] = keyAuth
		a.events.push(token, TokenEvent{Token: token, KeyAuth: keyAuth})
	}
}

func (a *answers) del(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.m[token]; ok {
		delete(a.m, token)
		a.events.push(token, TokenEvent{Token: token, Removed: true})
	}
}

// replace makes all the cache, as a fresh read of challenges/ found it.
func (a *answers) replace(all map[string]string) {
	a.mu.Lock()
	var gone []string
	for t := range a.m {
		if _, ok := all[t]; !ok {
			gone = append(gone, t)
		}
	}
	a.mu.Unlock()
	for _, t := range gone {
		a.del(t)
	}
	for t, v := range all {
		a.set(t, v)
	}
}

// followChallenges keeps the cache in step with challenges/.
func (c *Cluster) followChallenges(ctx context.Context) {
	prefix := c.keys.challenges()
	resync := func(ctx context.Context) (int64, error) {
		cctx, cancel := callCtx(ctx)
		defer cancel()
		resp, err := c.cli.Get(cctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return 0, err
		}
		all := make(map[string]string, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			all[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
		}
		c.answers.replace(all)
		return resp.Header.Revision, nil
	}
	c.follow(ctx, prefix, resync, func(_ context.Context, evs []*clientv3.Event) {
		for _, ev := range evs {
			token := strings.TrimPrefix(string(ev.Kv.Key), prefix)
			if ev.Type == clientv3.EventTypeDelete {
				c.answers.del(token)
			} else {
				c.answers.set(token, string(ev.Kv.Value))
			}
		}
	})
}
