package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hotcert/hotcert/internal/atomicfile"
	"github.com/hotcert/hotcert/internal/bundle"
)

// A record's state.json also keeps, for each bundle, what a decision needs
// of its leaf and the inode, size and modification time of the bundle file
// it was read from. A start-up then reads one file and stats the bundles of each
// certificate, instead of listing its directory, reading every bundle and
// parsing every leaf: at 100,000 certificates those were most of a
// start-up's system calls and a tenth of its CPU.
//
// The facts are trusted only while they still describe the files. Put
// writes the bundles before state.json, so a crash in between leaves facts
// whose size or time no longer match the new bundle, and the record is read
// in full. Every bundle write is a rename, and the new file exists beside
// the old one until then, so its inode differs even when its size and
// coarse-grained time do not. A record saved while an order was in flight (Ordering) is always
// read in full too: that is when a crash can leave a bundle of a key type
// state.json does not name yet, which only a directory listing finds.

// leafFacts is one bundle's entry in state.json's "leaves".
type leafFacts struct {
	Serial    string    `json:"serial"` // hexadecimal
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Inode     uint64    `json:"inode,omitempty"`
	Size      int64     `json:"size"`
	ModTime   time.Time `json:"mtime"`
}

// fileState is state.json: the record and its bundles' facts. Leaves is
// never omitted, so that {} (no bundles) differs from a state.json written
// before hotcert kept the facts, which reads as nil.
type fileState struct {
	*Record
	Leaves map[string]leafFacts `json:"leaves"`
}

// factsOf describes the bundles Put has just written, or returns nil when
// one of them cannot be described: its record is then read in full.
func factsOf(dir string, bundles map[string]Bundle) map[string]leafFacts {
	out := make(map[string]leafFacts, len(bundles))
	for kt, b := range bundles {
		if len(b.PEM) == 0 {
			return nil // a slim copy's bundle: its Leaf does not describe what was written
		}
		leaf := b.Leaf
		if leaf == nil {
			c, err := bundle.Leaf(b.PEM)
			if err != nil {
				return nil
			}
			leaf = LeafOf(c)
		}
		fi, err := os.Stat(filepath.Join(dir, kt+".pem"))
		if err != nil {
			return nil
		}
		out[kt] = leafFacts{Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
			Inode: atomicfile.Inode(fi), Size: fi.Size(), ModTime: fi.ModTime()}
	}
	return out
}

// ListSlim is List for a reader that needs only decisions' facts: each
// bundle has its Leaf (nil when unreadable) and no PEM. Records whose facts
// still describe their bundle files cost one read and a stat per bundle;
// inFull counts the others, read and parsed whole.
func (f *File) ListSlim() (recs []*Record, inFull int, err error) {
	var full atomic.Int64
	recs, err = f.list(func(name string) (*Record, error) {
		r, whole, err := f.getSlim(name)
		if whole {
			full.Add(1)
		}
		return r, err
	})
	return recs, int(full.Load()), err
}

// getSlim is one record for ListSlim, and whether it was read whole.
func (f *File) getSlim(name string) (*Record, bool, error) {
	dir, err := f.certDir(name)
	if err != nil {
		return nil, false, err
	}
	st, err := f.readState(name, dir)
	if err != nil {
		return nil, false, err
	}
	if bundles, ok := trusted(dir, st); ok {
		st.Bundles = bundles
		return st.Record, false, nil
	}
	r, err := f.withBundles(dir, st.Record)
	if err != nil {
		return nil, true, err
	}
	for kt, b := range r.Bundles {
		if c, err := bundle.Leaf(b.PEM); err == nil {
			b.Leaf = LeafOf(c)
		}
		b.PEM = nil
		r.Bundles[kt] = b
	}
	return r, true, nil
}

// trusted returns the bundles that st's facts describe, if every one of
// them still matches its file.
func trusted(dir string, st *fileState) (map[string]Bundle, bool) {
	if st.Leaves == nil || st.Ordering {
		return nil, false
	}
	out := make(map[string]Bundle, len(st.Leaves))
	for kt, lf := range st.Leaves {
		fi, err := os.Stat(filepath.Join(dir, kt+".pem"))
		if err != nil || atomicfile.Inode(fi) != lf.Inode || fi.Size() != lf.Size || !fi.ModTime().Equal(lf.ModTime) {
			return nil, false
		}
		serial, ok := new(big.Int).SetString(lf.Serial, 16)
		if !ok {
			return nil, false
		}
		out[kt] = Bundle{KeyType: kt, Leaf: &Leaf{SerialNumber: serial, NotBefore: lf.NotBefore, NotAfter: lf.NotAfter}}
	}
	return out, true
}

// readState reads and checks one record's state.json.
func (f *File) readState(name, dir string) (*fileState, error) {
	p := filepath.Join(dir, "state.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	st := &fileState{Record: &Record{}}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("load %s: state.json: %w", name, err)
	}
	if err := st.CheckFormat(); err != nil {
		return nil, fmt.Errorf("load %s: %s: %w", name, p, err)
	}
	st.Name = name
	return st, nil
}
