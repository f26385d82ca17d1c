package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// AddMapEntry sets key to value in mapFile. add map does not deduplicate,
// so any existing entry is deleted first; get map then confirms the value,
// since a successful add answers with nothing at all. The client remembers
// the entry until DelMapEntry and adds it again when Loaded finds that
// HAProxy restarted, since runtime map entries die with the process.
func (c *Client) AddMapEntry(ctx context.Context, mapFile, key, value string) error {
	if err := c.setMap(ctx, mapFile, key, value); err != nil {
		return fmt.Errorf("add map entry %s to %s on %s: %w", key, mapFile, c.opts.Name, err)
	}
	return nil
}

func (c *Client) setMap(ctx context.Context, mapFile, key, value string) error {
	if err := errors.Join(validArg("map", mapFile), validMapKey(key), validArg("map value", value)); err != nil {
		return err
	}
	unlock, err := lock(ctx, c.maps)
	if err != nil {
		return err
	}
	defer unlock()
	c.mapMu.Lock()
	c.entries[mapEntry{mapFile, key}] = value
	c.mapMu.Unlock()
	return c.putMap(ctx, mapFile, key, value)
}

// putMap replaces key's entry; the caller holds the maps lock.
func (c *Client) putMap(ctx context.Context, mapFile, key, value string) error {
	if err := c.delMap(ctx, mapFile, key); err != nil {
		return err
	}
	if _, err := c.run(ctx, "add map "+mapFile+" "+key+" "+value, mapOK); err != nil {
		return err
	}
	return c.checkMap(ctx, mapFile, key, `found=yes`, `key="`+key+`", value="`+value+`"`)
}

// DelMapEntry removes key from mapFile; a missing key is not an error.
func (c *Client) DelMapEntry(ctx context.Context, mapFile, key string) error {
	err := errors.Join(validArg("map", mapFile), validMapKey(key))
	if err == nil {
		err = c.delMapLocked(ctx, mapFile, key)
	}
	if err != nil {
		return fmt.Errorf("delete map entry %s from %s on %s: %w", key, mapFile, c.opts.Name, err)
	}
	return nil
}

func (c *Client) delMapLocked(ctx context.Context, mapFile, key string) error {
	unlock, err := lock(ctx, c.maps)
	if err != nil {
		return err
	}
	defer unlock()
	c.mapMu.Lock()
	delete(c.entries, mapEntry{mapFile, key})
	c.mapMu.Unlock()
	if err := c.delMap(ctx, mapFile, key); err != nil {
		return err
	}
	return c.checkMap(ctx, mapFile, key, "found=no")
}

func (c *Client) delMap(ctx context.Context, mapFile, key string) error {
	_, err := c.run(ctx, "del map "+mapFile+" "+key, func(t string, failed bool) bool {
		return mapOK(t, failed) || t == "Key not found."
	})
	return err
}

func mapOK(text string, failed bool) bool { return text == "" && !failed }

// checkMap reads the entry back: an empty reply here means the socket
// closed, which the empty success of add/del map cannot show.
func (c *Client) checkMap(ctx context.Context, mapFile, key string, want ...string) error {
	text, err := c.run(ctx, "get map "+mapFile+" "+key, func(t string, failed bool) bool {
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
