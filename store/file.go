package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hotcert/hotcert/internal/atomicfile"
)

// File keeps state in a directory:
//
//	<dir>/account/key.pem, account.json, key.next.pem (only while a key rollover is unsettled)
//	<dir>/certs/<name>/state.json, <key type>.pem
//
// Every write is atomic, keys are 0600 and directories 0700.
type File struct {
	dir string
	// formatOK: the format file says Format (see CheckFormat).
	formatOK atomic.Bool
}

var safeName = regexp.MustCompile(`^[a-z0-9_][a-z0-9._-]*$`)

// NewFile opens (and creates) the state directory.
func NewFile(dir string) (*File, error) {
	for _, d := range []string{dir, filepath.Join(dir, "account"), filepath.Join(dir, "certs")} {
		if err := atomicfile.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open state dir: %w", err)
		}
	}
	return &File{dir: dir}, nil
}

// Dir is the state directory.
func (f *File) Dir() string { return f.dir }

// Account loads the stored account, or ErrNotFound.
func (f *File) Account() (*Account, error) {
	key, err := os.ReadFile(filepath.Join(f.dir, "account", "key.pem"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load account: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	a := &Account{KeyPEM: key}
	b, err := os.ReadFile(filepath.Join(f.dir, "account", "account.json"))
	if err == nil {
		err = json.Unmarshal(b, a)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return a, nil
}

// SaveAccount stores the account key (first, so a crash never leaves a URI
// without its key) and then its metadata.
func (f *File) SaveAccount(a *Account) error {
	if err := atomicfile.Write(filepath.Join(f.dir, "account", "key.pem"), a.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("save account: %w", err)
	}
	b, _ := json.MarshalIndent(a, "", "  ")
	if err := atomicfile.Write(filepath.Join(f.dir, "account", "account.json"), b, 0o600); err != nil {
		return fmt.Errorf("save account: %w", err)
	}
	return nil
}

// SaveNextAccountKey keeps keyPEM, the key a rollover is about to give the account, in
// account/key.next.pem (0600). It is written before the CA is asked, so that a timeout, a
// crash or a failed save cannot lose the key the CA may have applied; whoever finds it
// later asks the CA which key it knows, then promotes it with SaveAccount or drops it.
func (f *File) SaveNextAccountKey(keyPEM []byte) error {
	if err := atomicfile.Write(f.NextAccountKeyPath(), keyPEM, 0o600); err != nil {
		return fmt.Errorf("save next account key: %w", err)
	}
	return nil
}

// NextAccountKey loads the key of an unsettled rollover, or ErrNotFound.
func (f *File) NextAccountKey() ([]byte, error) {
	key, err := os.ReadFile(f.NextAccountKeyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load next account key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load next account key: %w", err)
	}
	return key, nil
}

// DropNextAccountKey removes the key of a settled rollover.
func (f *File) DropNextAccountKey() error {
	if err := atomicfile.Remove(f.NextAccountKeyPath()); err != nil {
		return fmt.Errorf("drop next account key: %w", err)
	}
	return nil
}

// NextAccountKeyPath is where SaveNextAccountKey writes, for messages to the operator.
func (f *File) NextAccountKeyPath() string { return filepath.Join(f.dir, "account", "key.next.pem") }

func (f *File) certDir(name string) (string, error) {
	if !safeName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("certificate name %q: %w", name, ErrBadName)
	}
	return filepath.Join(f.dir, "certs", name), nil
}

// ErrBadName is returned for a certificate name that cannot be a file name.
var ErrBadName = errors.New("invalid certificate name")

// Get loads one certificate's record with its bundles.
func (f *File) Get(name string) (*Record, error) {
	dir, err := f.certDir(name)
	if err != nil {
		return nil, err
	}
	st, err := f.readState(name, dir)
	if err != nil {
		return nil, err
	}
	return f.withBundles(dir, st.Record)
}

// withBundles reads every bundle in a record's directory into r.
func (f *File) withBundles(dir string, r *Record) (*Record, error) {
	r.Bundles = map[string]Bundle{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", r.Name, err)
	}
	for _, e := range ents {
		kt, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || strings.HasPrefix(kt, ".") {
			continue
		}
		pem, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", r.Name, err)
		}
		r.Bundles[kt] = Bundle{KeyType: kt, PEM: pem}
	}
	return r, nil
}

// List loads every record, sorted by name. A record that cannot be read is
// reported rather than skipped: silently forgetting a certificate would make
// hotcert order it again. Records are read by a few goroutines at once: at
// 100,000 certificates, one at a time is most of a start-up.
func (f *File) List() ([]*Record, error) {
	return f.list(f.Get)
}

// list reads every record with get, a few at once.
func (f *File) list(get func(name string) (*Record, error)) ([]*Record, error) {
	names, err := f.names()
	if err != nil {
		return nil, err
	}
	recs := make([]*Record, len(names))
	errs := make([]error, len(names))
	parallel(len(names), func(i int) { recs[i], errs[i] = get(names[i]) })
	out := recs[:0]
	for i, r := range recs {
		switch {
		case errors.Is(errs[i], ErrNotFound):
			// created but never saved: nothing to remember
		case errs[i] != nil:
			return nil, errs[i]
		default:
			out = append(out, r)
		}
	}
	return out, nil
}

// names lists the certificate directories, sorted.
func (f *File) names() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(f.dir, "certs"))
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && safeName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// eachState runs check on every record's state.json, a few at once, and
// returns the first error in name order.
func (f *File) eachState(check func(path string, b []byte) error) error {
	names, err := f.names()
	if err != nil {
		return err
	}
	errs := make([]error, len(names))
	parallel(len(names), func(i int) {
		p := filepath.Join(f.dir, "certs", names[i], "state.json")
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			errs[i] = err
		default:
			errs[i] = check(p, b)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readers bounds the goroutines that read the state directory: enough to
// keep a disk and the JSON decoding busy, few enough to leave the machine
// to HAProxy.
const readers = 8

// parallel runs f for 0..n-1 on at most readers goroutines.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(readers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// Put saves a record. Bundles are written before the state that refers to
// them, and bundles of key types the record no longer has are deleted.
func (f *File) Put(r *Record) error {
	dir, err := f.certDir(r.Name)
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save %s: %w", r.Name, err)
	}
	for kt, b := range r.Bundles {
		if err := f.writeBundle(dir, kt, b.PEM); err != nil {
			return fmt.Errorf("save %s: %w", r.Name, err)
		}
	}
	if err := f.pruneBundles(dir, r.Bundles); err != nil {
		return fmt.Errorf("save %s: %w", r.Name, err)
	}
	if err := f.writeFormat(); err != nil {
		return fmt.Errorf("save %s: %w", r.Name, err)
	}
	stamped := *r
	stamped.Format = Format
	b, _ := json.MarshalIndent(&fileState{Record: &stamped, Leaves: factsOf(dir, r.Bundles)}, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		return fmt.Errorf("save %s: %w", r.Name, err)
	}
	return nil
}

func (f *File) writeBundle(dir, kt string, pem []byte) error {
	p := filepath.Join(dir, kt+".pem")
	if old, err := os.ReadFile(p); err == nil && string(old) == string(pem) {
		return nil
	}
	return atomicfile.Write(p, pem, 0o600)
}

func (f *File) pruneBundles(dir string, keep map[string]Bundle) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		kt, ok := strings.CutSuffix(e.Name(), ".pem")
		if _, kept := keep[kt]; ok && !kept {
			if err := atomicfile.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete forgets a certificate entirely, keys included.
func (f *File) Delete(name string) error {
	dir, err := f.certDir(name)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
