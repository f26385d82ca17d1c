package catalog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hotcert/hotcert/configs"
)

// IsDomainsFile tells whether a name in domains_dir is one of its domains
// files: *.yaml, not hidden. Hidden names are editors' and atomic writers'
// temporary files and a ConfigMap's "..data" and "..2026_..." entries.
func IsDomainsFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") && !strings.HasPrefix(name, ".") && len(name) > len(".yaml")
}

// everyPath lists the domains file, every domains file in the directory
// and every file read before, which may since have been deleted.
func (c *Catalog) everyPath() []string {
	seen := make(map[string]bool, len(c.files)+1)
	var paths []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	if c.main != "" {
		add(c.main)
	}
	if c.dir != "" {
		ents, err := os.ReadDir(c.dir)
		if err != nil {
			// Listing failed: keep every file's certificates rather than
			// read the directory as empty.
			p := c.opt.Config.Problem("domains_dir", "%v", err)
			c.dirProb = &p
			return paths
		}
		c.dirProb = nil
		for _, e := range ents {
			if IsDomainsFile(e.Name()) {
				add(filepath.Join(c.dir, e.Name()))
			}
		}
	}
	for p := range c.files {
		add(p)
	}
	slices.Sort(paths)
	return paths
}

// ours keeps the paths that are domains files of this catalog.
func (c *Catalog) ours(changed []string) []string {
	var paths []string
	for _, p := range changed {
		p = filepath.Clean(p)
		if p == c.main || (c.dir != "" && filepath.Dir(p) == c.dir && IsDomainsFile(filepath.Base(p))) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// result is what reading one file found.
type result struct {
	path      string
	key       statKey
	unchanged bool // same stat as the version read last: not read again
	gone      bool
	goneErr   error
	doms      *configs.Domains
	err       error
	api       bool
}

// batch bounds how many files are parsed before they are put in force, so
// that a start-up with 100,000 files never holds them all parsed at once.
const batch = 1024

// readAll reads paths in parallel and hands each result to use in the
// order of paths, one batch at a time.
func (c *Catalog) readAll(paths []string, use func(result)) {
	out := make([]result, min(batch, len(paths)))
	for start := 0; start < len(paths); start += batch {
		part := paths[start:min(start+batch, len(paths))]
		known := make([]statKey, len(part))
		for i, p := range part {
			if f, ok := c.files[p]; ok {
				known[i] = f.key
			}
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(readers(), len(part)) {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(part); i = int(next.Add(1)) - 1 {
					out[i] = c.read(part[i], known[i])
				}
			})
		}
		wg.Wait()
		for i := range part {
			use(out[i])
			out[i] = result{}
		}
	}
}

// readers is how many files are read at once: parsing is CPU work, and a
// few goroutines shorten a start-up of many files without taking the
// machine.
func readers() int { return max(2, min(4, runtime.GOMAXPROCS(0))) }

// errNotRegular: a directory or a device named like a domains file.
var errNotRegular = errors.New("not a regular file")

// read stats path and, when its stat differs from known, reads and parses
// it. The stat comes first: a write that lands between the two leaves a
// stat that differs from the next one, so the file is read again then.
// Without a known stat (start-up), the stat is the open file's.
func (c *Catalog) read(path string, known statKey) result {
	r := result{path: path}
	if known != (statKey{}) {
		fi, err := os.Stat(path) // through symlinks, as a ConfigMap's files are
		if err == nil && keyOf(fi) == known {
			r.unchanged = true
			return r
		}
	}
	key, data, err := readFile(path)
	if err != nil {
		r.gone, r.goneErr = true, err
		return r
	}
	c.parsed.Add(1)
	r.key = key
	r.api = bytes.HasPrefix(data, []byte(marker))
	r.doms, r.err = c.opt.Config.ParseDomainsFile(path, data)
	return r
}

// offer puts what was read of one file in force, or records why not.
func (c *Catalog) offer(r result) {
	f := c.files[r.path]
	switch {
	case r.unchanged:
	case r.gone && r.path == c.main:
		// The domains file the config names is required: a missing one is
		// more likely a mistake than a wish to remove its certificates.
		f = c.fileFor(r.path)
		f.key = statKey{}
		f.probs, f.pending = configs.Problems{c.opt.Config.Problem("domains_file", "%v", r.goneErr)}, nil
		c.rejected[f] = true
	case r.gone:
		if f != nil {
			c.remove(f)
		}
	case r.err != nil:
		f = c.fileFor(r.path)
		f.key, f.pending = r.key, nil
		var ps configs.Problems
		if !errors.As(r.err, &ps) {
			ps = configs.Problems{{File: r.path, Msg: r.err.Error()}}
		}
		f.probs = ps
		c.rejected[f] = true
	default:
		f = c.fileFor(r.path)
		f.key = r.key
		c.try(f, r.doms, r.api)
	}
}

func (c *Catalog) fileFor(path string) *file {
	f, ok := c.files[path]
	if !ok {
		f = &file{path: path}
		c.files[path] = f
	}
	return f
}
