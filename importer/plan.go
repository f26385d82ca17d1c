package importer

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// Result is what became of one Found.
type Result int

// The results, in the order the summary counts them.
const (
	Imported  Result = iota // written to the state (or would be, in a dry run)
	Unchanged               // the state holds this very certificate already
	Skipped                 // left out, for the reason in Why
	Failed                  // unreadable, or its key is not its certificate's
)

// Outcome is one line of an import's report.
type Outcome struct {
	Source  string
	Result  Result
	Cert    string         // the domains file's certificate it belongs to
	KeyType bundle.KeyType // the bundle it is, or would be
	Leaf    *x509.Certificate
	Why     string // for Skipped and Failed, and a note for Imported
	// Suggest, for one that is not in the domains file, is the entry that
	// would adopt it.
	Suggest *configs.Certificate
}

func (o Outcome) String() string {
	switch o.Result {
	case Imported, Unchanged:
		verb := "imported as"
		if o.Result == Unchanged {
			verb = "unchanged: the state already holds it as"
		}
		s := fmt.Sprintf("%s: %s %s (%s, serial %x, expires %s)", o.Source, verb, o.Cert, o.KeyType,
			o.Leaf.SerialNumber, o.Leaf.NotAfter.UTC().Format(time.DateOnly))
		if o.Why != "" {
			s += "; " + o.Why
		}
		return s
	case Skipped:
		return o.Source + ": skipped: " + o.Why
	}
	return o.Source + ": error: " + o.Why
}

// Getter is what New reads of hotcert's state.
type Getter interface {
	Get(name string) (*store.Record, error)
}

// Plan is an import decided but not yet written.
type Plan struct {
	Outcomes []Outcome
	// Records are the records to write, by certificate name.
	Records map[string]*store.Record
	// imported lists, by certificate, the outcomes a record carries.
	imported map[string][]int
	// loaded are the working copies of the records New looked at.
	loaded map[string]*store.Record
}

// Options are the facts New decides with.
type Options struct {
	Now time.Time
	// Directory is hotcert's acme.directory: a certificate that certbot
	// renews from another CA is imported with a note saying so.
	Directory string
	// Jitter picks a record's random point in its renewal window.
	Jitter func() float64
}

// New decides what to do with every Found, in order:
//   - one that could not be read fails;
//   - an expired or invalid one is skipped;
//   - one is matched to the domains file's certificate with exactly its
//     names (in any order; a domain is in one certificate only), and its
//     key type must be one that certificate has; otherwise it is skipped
//     (one not in the file comes with the entry that would adopt it);
//   - of several for the same certificate and key type, the one that
//     expires last is taken;
//   - the state's own bundle is kept when it is the same certificate or
//     expires no earlier.
func New(found []Found, doms *configs.Domains, st Getter, o Options) (*Plan, error) {
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	p := &Plan{Records: map[string]*store.Record{}, imported: map[string][]int{}, loaded: map[string]*store.Record{}}
	best := map[string]int{} // "cert|keytype" -> index in p.Outcomes
	for _, f := range found {
		out := classify(f, doms, o)
		if out.Result == Imported {
			k := out.Cert + "|" + string(out.KeyType)
			if i, ok := best[k]; ok {
				if !laterThan(out.Leaf, p.Outcomes[i].Leaf) {
					out = skipped(out, "a certificate for "+out.Cert+" ("+string(out.KeyType)+") that expires later is in "+p.Outcomes[i].Source)
				} else {
					p.Outcomes[i] = skipped(p.Outcomes[i], "a certificate for "+out.Cert+" ("+string(out.KeyType)+") that expires later is in "+out.Source)
					best[k] = len(p.Outcomes)
				}
			} else {
				best[k] = len(p.Outcomes)
			}
		}
		p.Outcomes = append(p.Outcomes, out)
	}
	for _, k := range slices.Sorted(maps.Keys(best)) {
		if err := p.adopt(best[k], found, doms, st, o); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func skipped(o Outcome, why string) Outcome {
	o.Result, o.Why = Skipped, why
	return o
}

// laterThan: a expires after b, or as late but was issued later.
func laterThan(a, b *x509.Certificate) bool {
	if c := a.NotAfter.Compare(b.NotAfter); c != 0 {
		return c > 0
	}
	return a.NotBefore.After(b.NotBefore)
}

// classify checks one Found on its own and finds its certificate.
func classify(f Found, doms *configs.Domains, o Options) Outcome {
	out := Outcome{Source: f.Source}
	switch {
	case f.Err != nil:
		out.Result, out.Why = Failed, f.Err.Error()
		return out
	case f.Skip != "":
		return skipped(out, f.Skip)
	}
	out.Leaf, out.KeyType = f.Leaf(), f.KeyType()
	if why := invalid(f, o.Now); why != "" {
		return skipped(out, why)
	}
	names := leafDomains(out.Leaf)
	c, why, inFile := match(f, names, doms)
	if c == nil {
		out = skipped(out, why)
		if !inFile {
			out.Suggest = suggest(f, names, doms)
		}
		return out
	}
	out.Cert = c.Name
	if !slices.Contains(c.KeyTypes, out.KeyType) {
		return skipped(out, fmt.Sprintf("its key is %s, and %s in the domains file has key_type %s; hotcert would order a new one",
			out.KeyType, c.Name, keyTypeList(c.KeyTypes)))
	}
	if why := keyFileDiffers(f, *c); why != "" {
		return skipped(out, why)
	}
	if f.Issuer != "" && o.Directory != "" && f.Issuer != o.Directory {
		out.Why = "certbot renews it from " + f.Issuer + ", not acme.directory " + o.Directory + ": it is served until hotcert renews it"
	}
	return out
}

// invalid says why a certificate cannot be served as it is, or "".
func invalid(f Found, now time.Time) string {
	leaf := f.Leaf()
	switch {
	case !now.Before(leaf.NotAfter):
		return "expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)
	case now.Before(leaf.NotBefore):
		return "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
	case len(leafDomains(leaf)) == 0:
		return "it names no DNS domain"
	case !f.KeyType().Known():
		return fmt.Sprintf("its key (%s) is of a type hotcert does not issue", cmp.Or(string(f.KeyType()), fmt.Sprintf("%T", f.Key)))
	case len(f.Certs) < 2:
		return "it has no chain (the leaf alone): clients could not verify it"
	case leaf.CheckSignatureFrom(f.Certs[1]) != nil:
		return "its chain does not fit: the certificate after the leaf did not issue it"
	}
	return ""
}

// leafDomains are the leaf's DNS names as the domains file writes them.
func leafDomains(leaf *x509.Certificate) []string {
	out := make([]string, 0, len(leaf.DNSNames))
	for _, n := range leaf.DNSNames {
		if a, err := configs.ValidDomain(n); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// match finds the certificate f belongs to: the one with exactly its
// domains (a domain is in one certificate only). Failing that, it says
// which certificate shares a name with it, preferring the one of its name,
// or that it is not in the file at all.
func match(f Found, names []string, doms *configs.Domains) (c *configs.Certificate, why string, inFile bool) {
	var near *configs.Certificate
	for i, c := range doms.Certificates {
		if sameSet(c.Domains, names) {
			return &doms.Certificates[i], "", true
		}
		overlaps := slices.ContainsFunc(c.Domains, func(d string) bool { return slices.Contains(names, d) })
		if c.Name == f.Name || overlaps && near == nil {
			near = &doms.Certificates[i]
		}
	}
	if near != nil {
		return nil, fmt.Sprintf("its names [%s] differ from those of %s in the domains file [%s]; hotcert would order a new one",
			strings.Join(names, ", "), near.Name, strings.Join(near.Domains, ", ")), true
	}
	return nil, "not in the domains file: add it to keep it (see below), then import again", false
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}

func keyTypeList(kts []bundle.KeyType) string {
	if len(kts) == 1 {
		return string(kts[0])
	}
	s := make([]string, len(kts))
	for i, k := range kts {
		s[i] = string(k)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// ErrNoState wraps a state that could not be read: New writes nothing then.
var ErrNoState = errors.New("read the state")
