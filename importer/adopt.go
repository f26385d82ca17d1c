package importer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
	"github.com/hotcert/hotcert/store"
)

// ariDelay is how long after an import hotcert first asks the CA for
// renewal information. The daemon asks before it pushes, so a record
// without it would have a thousand imported certificates wait on the CA
// (or on its timeouts) before HAProxy serves them; an hour later is as
// good as at once for a certificate that is not due.
const ariDelay = time.Hour

// adopt puts the bundle of outcome i into its certificate's record, unless
// the state has it already or holds one that expires no earlier.
func (p *Plan) adopt(i int, found []Found, doms *configs.Domains, st Getter, o Options) error {
	out := &p.Outcomes[i]
	c := doms.Certificates[slices.IndexFunc(doms.Certificates, func(c configs.Certificate) bool { return c.Name == out.Cert })]
	rec, err := p.record(c, st)
	if err != nil {
		return err
	}
	kt := string(out.KeyType)
	if b, ok := rec.Bundles[kt]; ok {
		if have, err := bundle.Leaf(b.PEM); err == nil {
			if have.Equal(out.Leaf) {
				out.Result = Unchanged
				return nil
			}
			if !laterThan(out.Leaf, have) {
				*out = skipped(*out, fmt.Sprintf("the state holds a certificate for %s (%s) that expires no earlier (serial %x, expires %s)",
					c.Name, kt, have.SerialNumber, have.NotAfter.UTC().Format(time.DateOnly)))
				return nil
			}
		}
	}
	rec.Bundles[kt] = store.Bundle{KeyType: kt, PEM: found[i].PEM}
	settle(rec, c, kt, o)
	p.Records[c.Name] = rec
	p.imported[c.Name] = append(p.imported[c.Name], i)
	return nil
}

// record is the working copy of c's record: the state's, or a new one. A
// stored record for other names (an older definition) keeps none of its
// bundles, as an order for the new names would not.
func (p *Plan) record(c configs.Certificate, st Getter) (*store.Record, error) {
	if r, ok := p.loaded[c.Name]; ok {
		return r, nil
	}
	r, err := st.Get(c.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r = &store.Record{Name: c.Name, Bundles: map[string]store.Bundle{}}
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrNoState, err)
	default:
		r = r.Clone()
	}
	if !slices.Equal(r.Domains, c.Domains) {
		r.Domains, r.Bundles = slices.Clone(c.Domains), map[string]store.Bundle{}
	}
	p.loaded[c.Name] = r
	return r, nil
}

// settle makes a record that just got the kt bundle look to the daemon as
// after an order: its definition, no failure once every key type has a
// bundle, a new renewal point, and renewal information asked for later.
func settle(r *store.Record, c configs.Certificate, kt string, o Options) {
	r.KeyTypes = make([]string, len(c.KeyTypes))
	complete := true
	for i, k := range c.KeyTypes {
		r.KeyTypes[i] = string(k)
		_, ok := r.Bundles[string(k)]
		complete = complete && ok
	}
	r.Pending = slices.DeleteFunc(r.Pending, func(p string) bool { return p == kt })
	if complete {
		r.Ordering, r.Attempts, r.LastError, r.Permanent, r.CAUnavailable = false, 0, "", false, false
		r.NextAttempt, r.Pending = time.Time{}, nil
	}
	r.RemovedAt = time.Time{}
	r.ARIStart, r.ARIEnd, r.ARICheckAt = time.Time{}, time.Time{}, o.Now.Add(ariDelay)
	r.Jitter = o.Jitter()
}

// keyFileDiffers: a certificate whose key_file is set must come with that
// key, or the key an operator pinned (DANE, HPKP-style checks) would change.
func keyFileDiffers(f Found, c configs.Certificate) string {
	if c.KeyFile == "" {
		return ""
	}
	b, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return "key_file of " + c.Name + ": " + err.Error()
	}
	k, err := bundle.Key(b)
	if err != nil {
		return "key_file of " + c.Name + ": " + err.Error()
	}
	if pub, ok := k.Public().(interface{ Equal(any) bool }); !ok || !pub.Equal(f.Key.Public()) {
		return "its key is not " + c.Name + "'s key_file " + c.KeyFile + "; hotcert would order a new one"
	}
	return ""
}

// Apply writes the records, each atomically (bundles first, then the
// state). A record that cannot be written turns its outcomes into failures.
func (p *Plan) Apply(st interface{ Put(*store.Record) error }) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(p.Records)) {
		if err := st.Put(p.Records[name]); err != nil {
			for _, i := range p.imported[name] {
				p.Outcomes[i].Result, p.Outcomes[i].Why = Failed, err.Error()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Count is how many outcomes have result r.
func (p *Plan) Count(r Result) int {
	n := 0
	for _, o := range p.Outcomes {
		if o.Result == r {
			n++
		}
	}
	return n
}

// Summary is the report's last line.
func (p *Plan) Summary() string {
	return fmt.Sprintf("%d imported, %d unchanged, %d skipped, %d failed",
		p.Count(Imported), p.Count(Unchanged), p.Count(Skipped), p.Count(Failed))
}

var safeName = regexp.MustCompile(`^[a-z0-9_][a-z0-9._-]{0,63}$`)

// suggest is the domains-file entry that would adopt f: its names with the
// subject's common name first, as certbot lists them, and its source's
// name when that is a name hotcert accepts and the file does not use.
func suggest(f Found, names []string, doms *configs.Domains) *configs.Certificate {
	ordered := slices.Clone(names)
	if cn := strings.ToLower(f.Leaf().Subject.CommonName); slices.Contains(ordered, cn) {
		ordered = append([]string{cn}, slices.DeleteFunc(ordered, func(n string) bool { return n == cn })...)
	}
	name := configs.CertificateName(ordered[0])
	taken := slices.ContainsFunc(doms.Certificates, func(c configs.Certificate) bool { return c.Name == f.Name })
	if safeName.MatchString(f.Name) && !strings.Contains(f.Name, "..") && !taken {
		name = f.Name
	}
	return &configs.Certificate{Name: name, Domains: ordered, KeyTypes: []bundle.KeyType{f.KeyType()}}
}

// Suggestions is the domains-file text that would adopt every certificate
// skipped for not being in the file, one entry per set of names, or "".
func (p *Plan) Suggestions() string {
	var entries []*configs.Certificate
	for _, o := range p.Outcomes {
		s := o.Suggest
		if s == nil {
			continue
		}
		i := slices.IndexFunc(entries, func(e *configs.Certificate) bool { return sameSet(e.Domains, s.Domains) })
		if i < 0 {
			if slices.ContainsFunc(entries, func(e *configs.Certificate) bool { return e.Name == s.Name }) {
				s.Name = configs.CertificateName(s.Domains[0])
			}
			entries = append(entries, s)
			continue
		}
		if e := entries[i]; !slices.ContainsFunc(e.KeyTypes, func(k bundle.KeyType) bool { return k.IsRSA() == s.KeyTypes[0].IsRSA() }) {
			e.KeyTypes = append(e.KeyTypes, s.KeyTypes[0])
			slices.SortFunc(e.KeyTypes, func(a, b bundle.KeyType) int { return boolInt(a.IsRSA()) - boolInt(b.IsRSA()) })
		}
	}
	if len(entries) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("certificates:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "  - name: %s\n    domains: [%s]\n    key_type: %s\n", e.Name, strings.Join(e.Domains, ", "), keyTypeList(e.KeyTypes))
	}
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
