package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
)

// challengeMap is what the HTTP-01 challenge maps of one HAProxy should
// hold: the entries added and not deleted, and whether a restart lost them.
// Runtime map entries die with the HAProxy process, so they are remembered
// here and put back when Loaded finds a restart. It has locks of its own,
// apart from the certificate lock: map commands do not touch HAProxy's
// certificate transaction.
type challengeMap struct {
	run runFunc
	log *slog.Logger
	// sem serialises map commands: replacing an entry takes del, add and
	// get, and two writers interleaving them could leave two entries.
	sem chan struct{}
	// mu guards entries and dirty on its own, so that Loaded can note a
	// restart, or see that nothing was lost, without waiting for sem.
	mu      sync.Mutex
	entries map[mapEntry]string // changed under sem too
	dirty   bool                // a restart lost the entries
}

// runFunc sends one command and checks its reply with ok, as Client.run does.
type runFunc func(ctx context.Context, cmd string, ok func(text string, failed bool) bool) (string, error)

// mapEntry is one challenge map entry HAProxy should hold.
type mapEntry struct{ file, key string }

// newChallengeMap sends its commands with run, the client's.
func newChallengeMap(run runFunc, log *slog.Logger) *challengeMap {
	return &challengeMap{run: run, log: log, sem: make(chan struct{}, 1), entries: map[mapEntry]string{}}
}

// AddMapEntry sets key to value in mapFile. add map does not deduplicate,
// so any existing entry is deleted first; get map then confirms the value,
// since a successful add answers with nothing at all. The client remembers
// the entry until DelMapEntry and adds it again when Loaded finds that
// HAProxy restarted, since runtime map entries die with the process.
func (c *Client) AddMapEntry(ctx context.Context, mapFile, key, value string) error {
	if err := c.challenges.set(ctx, mapFile, key, value); err != nil {
		return fmt.Errorf("add map entry %s to %s on %s: %w", key, mapFile, c.opts.Name, err)
	}
	return nil
}

// DelMapEntry removes key from mapFile; a missing key is not an error.
func (c *Client) DelMapEntry(ctx context.Context, mapFile, key string) error {
	if err := c.challenges.unset(ctx, mapFile, key); err != nil {
		return fmt.Errorf("delete map entry %s from %s on %s: %w", key, mapFile, c.opts.Name, err)
	}
	return nil
}

func (m *challengeMap) set(ctx context.Context, mapFile, key, value string) error {
	if err := errors.Join(validArg("map", mapFile), validMapKey(key), validArg("map value", value)); err != nil {
		return err
	}
	unlock, err := lock(ctx, m.sem)
	if err != nil {
		return err
	}
	defer unlock()
	m.mu.Lock()
	m.entries[mapEntry{mapFile, key}] = value
	m.mu.Unlock()
	return m.put(ctx, mapFile, key, value)
}

// put replaces key's entry; the caller holds sem.
func (m *challengeMap) put(ctx context.Context, mapFile, key, value string) error {
	if err := m.del(ctx, mapFile, key); err != nil {
		return err
	}
	if _, err := m.run(ctx, "add map "+mapFile+" "+key+" "+value, mapOK); err != nil {
		return err
	}
	return m.check(ctx, mapFile, key, `found=yes`, `key="`+key+`", value="`+value+`"`)
}

func (m *challengeMap) unset(ctx context.Context, mapFile, key string) error {
	if err := errors.Join(validArg("map", mapFile), validMapKey(key)); err != nil {
		return err
	}
	unlock, err := lock(ctx, m.sem)
	if err != nil {
		return err
	}
	defer unlock()
	m.mu.Lock()
	delete(m.entries, mapEntry{mapFile, key})
	m.mu.Unlock()
	if err := m.del(ctx, mapFile, key); err != nil {
		return err
	}
	return m.check(ctx, mapFile, key, "found=no")
}

// del sends del map; the caller holds sem.
func (m *challengeMap) del(ctx context.Context, mapFile, key string) error {
	_, err := m.run(ctx, "del map "+mapFile+" "+key, func(t string, failed bool) bool {
		return mapOK(t, failed) || t == "Key not found."
	})
	return err
}

func mapOK(text string, failed bool) bool { return text == "" && !failed }

// check reads the entry back: an empty reply here means the socket
// closed, which the empty success of add/del map cannot show.
func (m *challengeMap) check(ctx context.Context, mapFile, key string, want ...string) error {
	text, err := m.run(ctx, "get map "+mapFile+" "+key, func(t string, failed bool) bool {
		return !failed && t != ""
	})
	if err != nil {
		return err
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			return unexpected("get map "+mapFile+" "+key, text)
		}
	}
	return nil
}

// lost notes that HAProxy restarted, taking every entry with it.
func (m *challengeMap) lost() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) > 0 {
		m.dirty = true
	}
}

// restore adds back the entries a restarted HAProxy lost. It runs until
// every entry is back, so an entry that fails now is retried on the next
// Loaded.
func (m *challengeMap) restore(ctx context.Context) {
	m.mu.Lock()
	dirty := m.dirty
	m.mu.Unlock()
	if !dirty {
		return
	}
	unlock, err := lock(ctx, m.sem)
	if err != nil {
		return
	}
	defer unlock()
	m.mu.Lock()
	entries := maps.Clone(m.entries)
	m.mu.Unlock()
	var errs []error
	for e, value := range entries {
		errs = append(errs, m.put(ctx, e.file, e.key, value))
	}
	if err := errors.Join(errs...); err != nil {
		m.log.Warn("could not restore challenge map entries after a restart", "err", err)
		return
	}
	m.log.Info("restored challenge map entries after a restart", "entries", len(entries))
	m.mu.Lock()
	m.dirty = false
	m.mu.Unlock()
}
