// Package catalog is the set of certificates the operator declares: the
// domains file and every *.yaml file in domains_dir, read as one set.
//
// It keeps each file's parsed certificates, keyed by the file's stat, so
// that a load re-reads only the files whose stat changed, and it keeps
// indexes of names and domains across files, updated by the difference a
// changed file makes. An edit of one file then costs the same whether the
// directory holds a hundred files or a hundred thousand.
package catalog

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotcert/hotcert/configs"
)

// Options configures a Catalog.
type Options struct {
	Config *configs.Config        // DomainsFile ("" when only DomainsDir) and DomainsDir
	Apply  func(*configs.Domains) // called, under the catalog's lock, with each new set in force
	Logger *slog.Logger
}

// Errors of Put and Delete.
var (
	ErrNoDir       = errors.New("domains_dir is not set")
	ErrNotFound    = errors.New("no such certificate")
	ErrHandWritten = errors.New("defined in a file the admin API did not write") // wrapped with file and line
)

// Catalog holds the set in force and what each file contributes to it.
type Catalog struct {
	opt  Options
	dir  string // domains_dir, "" when not set
	main string // domains_file, "" when not set
	log  *slog.Logger

	mu       sync.Mutex
	files    map[string]*file // by path as listed (not resolved through symlinks)
	names    map[string]entry // certificate name -> where it is defined, and its slot in all
	domains  map[string]entry // domain -> the certificate that lists it
	all      []configs.Certificate
	shared   bool // all's backing array is in a published set: copy before writing inside it
	changed  bool // all differs from the last published set
	applied  bool // Apply was called once
	rejected map[*file]bool
	dirProb  *configs.Problem // domains_dir could not be listed

	problems atomic.Pointer[error] // the problems of the rejected files, for Problems
	parsed   atomic.Int64          // files read and parsed, for tests
	inForce  atomic.Pointer[configs.Domains]
}

// file is one domains file: the version in force, and the last version
// read when that one was rejected.
type file struct {
	path  string
	key   statKey // of the version read last, in force or not
	certs []configs.Certificate
	lines []int // where each of certs starts
	api   bool  // the version in force starts with the admin API's marker

	probs      configs.Problems // why the version read last is not in force
	pending    *configs.Domains // that version when it is valid alone but conflicts; retried on each load
	pendingAPI bool
}

// entry locates a certificate: its file, its index there and its slot in
// the merged set.
type entry struct {
	f          *file
	i, j, slot int // j: the domain's index in the certificate, for domains
}

// New makes a catalog that has read nothing yet; Load(nil) reads it all.
func New(opt Options) *Catalog {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{
		opt: opt, dir: clean(opt.Config.DomainsDir), main: clean(opt.Config.DomainsFile), log: log,
		files: map[string]*file{}, names: map[string]entry{}, domains: map[string]entry{},
		all: []configs.Certificate{}, rejected: map[*file]bool{},
	}
	c.inForce.Store(&configs.Domains{File: c.label(), Certificates: []configs.Certificate{}})
	return c
}

// clean is filepath.Clean, but keeps "" (not set) as it is.
func clean(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// label names the set in messages: the directory, or the file alone.
func (c *Catalog) label() string {
	if c.dir != "" {
		return c.dir
	}
	return c.main
}

// Domains is the set in force. The caller must not modify it.
func (c *Catalog) Domains() *configs.Domains { return c.inForce.Load() }

// Problems is what keeps files out of the set in force, as
// configs.Problems, or nil. It does not take the catalog's lock, so Apply
// may call it.
func (c *Catalog) Problems() error {
	if p := c.problems.Load(); p != nil {
		return *p
	}
	return nil
}

// Load re-reads the files named in changed (absolute paths); nil means:
// stat every file and re-read those whose stat changed (start-up, a
// ConfigMap swap, a watcher overflow). It calls Apply when the set in force
// changed, and returns the problems of every file that is rejected now
// (configs.Problems); a rejected file's last good version stays in force.
func (c *Catalog) Load(changed []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var paths []string
	if changed == nil {
		paths = c.everyPath()
	} else {
		paths = c.ours(changed)
	}
	start, parsed := time.Now(), c.parsed.Load()
	c.readAll(paths, c.offer)
	if changed == nil {
		c.log.Info("domains files looked at", "files", len(paths), "read", c.parsed.Load()-parsed, "took", time.Since(start))
	}
	c.retry()
	return c.publish()
}

// publish records the problems and hands a changed set to Apply. Until the
// first set is applied, a set with rejected files is held, as a bad
// domains file is at start-up: applying it would take the certificates of
// the rejected files out of HAProxy.
func (c *Catalog) publish() error {
	err := c.collectProblems()
	c.problems.Store(&err)
	if !c.changed && c.applied {
		return err
	}
	if !c.applied && err != nil {
		return err
	}
	d := &configs.Domains{File: c.label(), Certificates: c.all}
	c.inForce.Store(d)
	c.changed, c.applied, c.shared = false, true, true
	if c.opt.Apply != nil {
		c.opt.Apply(d)
	}
	return err
}

func (c *Catalog) collectProblems() error {
	var ps configs.Problems
	if c.dirProb != nil {
		ps = append(ps, *c.dirProb)
	}
	for f := range c.rejected {
		ps = append(ps, f.probs...)
	}
	if len(ps) == 0 {
		return nil
	}
	sortProblems(ps)
	return ps
}
