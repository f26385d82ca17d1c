package catalog

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/internal/bundle"
)

// try puts a valid version of f in force unless it defines a name or a
// domain that another file defines; then it is kept aside, with problems
// naming both places, and tried again on each load.
func (c *Catalog) try(f *file, d *configs.Domains, api bool) bool {
	if ps := c.conflicts(f, d); len(ps) > 0 {
		f.probs, f.pending, f.pendingAPI = ps, d, api
		c.rejected[f] = true
		return false
	}
	lines := make([]int, len(d.Certificates))
	for i := range lines {
		lines[i] = d.Line(i)
	}
	c.replace(f, d.Certificates, lines, api)
	return true
}

// conflicts lists what d, the new version of f, defines that another file
// in force defines too. What f's own version in force defines does not
// count: d replaces it.
func (c *Catalog) conflicts(f *file, d *configs.Domains) configs.Problems {
	var ps configs.Problems
	for i, cert := range d.Certificates {
		field := fmt.Sprintf("certificates[%d]", i)
		if o, ok := c.other(f, c.names, cert.Name); ok {
			ps = append(ps, d.Problem(field+".name", "%q is already the name of a certificate at %s; a name may be defined in only one file",
				cert.Name, o.where()))
		} else if o, ok := c.storeClash(f, cert.Name); ok {
			ps = append(ps, d.Problem(field+".name", "%q would share its HAProxy store with %q at %s; choose another name",
				cert.Name, o.f.certs[o.i].Name, o.where()))
		}
		for j, dom := range cert.Domains {
			if o, ok := c.other(f, c.domains, dom); ok {
				ps = append(ps, d.Problem(fmt.Sprintf("%s.domains[%d]", field, j),
					"%q is already in certificate %q at %s; a domain may be in only one certificate", dom, o.f.certs[o.i].Name, o.where()))
			}
		}
	}
	return ps
}

// other finds key in index when a file other than f defines it.
func (c *Catalog) other(f *file, index map[string]entry, key string) (entry, bool) {
	e, ok := index[key]
	return e, ok && e.f != f
}

// storeClash finds a certificate of another file whose HAProxy store names
// would collide with name's: "shop" keeps its RSA half as "shop.rsa2048".
func (c *Catalog) storeClash(f *file, name string) (entry, bool) {
	if base, _, ok := bundle.Split(name); ok {
		if e, ok := c.other(f, c.names, base); ok {
			return e, true
		}
	}
	for _, n := range bundle.Names(name)[1:] {
		if e, ok := c.other(f, c.names, n); ok {
			return e, true
		}
	}
	return entry{}, false
}

func (e entry) where() string {
	return fmt.Sprintf("%s:%d", e.f.path, e.f.lines[e.i])
}

// replace makes certs f's version in force, updating the indexes and the
// merged set by the difference only.
func (c *Catalog) replace(f *file, certs []configs.Certificate, lines []int, api bool) {
	f.probs, f.pending = nil, nil
	delete(c.rejected, f)
	if f.api == api && slices.EqualFunc(f.certs, certs, sameCertificate) {
		f.lines = lines
		return // touched, or rewritten the same: nothing to apply
	}
	for _, cert := range f.certs {
		c.drop(cert)
	}
	f.certs, f.lines, f.api = certs, lines, api
	for i, cert := range certs {
		c.names[cert.Name] = entry{f: f, i: i, slot: len(c.all)}
		for j, dom := range cert.Domains {
			c.domains[dom] = entry{f: f, i: i, j: j}
		}
		c.all = append(c.all, cert)
	}
	c.changed = c.changed || len(f.certs) > 0
}

// drop takes cert out of the indexes and the merged set, moving the last
// certificate into its slot.
func (c *Catalog) drop(cert configs.Certificate) {
	e := c.names[cert.Name]
	delete(c.names, cert.Name)
	for _, dom := range cert.Domains {
		delete(c.domains, dom)
	}
	c.unshare()
	last := len(c.all) - 1
	if e.slot != last {
		moved := c.all[last]
		c.all[e.slot] = moved
		m := c.names[moved.Name]
		m.slot = e.slot
		c.names[moved.Name] = m
	}
	c.all[last] = configs.Certificate{}
	c.all = c.all[:last]
	c.changed = true
}

// unshare copies the merged set before a write inside it, when its array
// backs a set already handed out: Apply's callers read theirs without the
// catalog's lock. Appends need no copy, since a published set's length
// hides them.
func (c *Catalog) unshare() {
	if !c.shared {
		return
	}
	all := make([]configs.Certificate, len(c.all), len(c.all)+len(c.all)/8+16)
	copy(all, c.all)
	c.all, c.shared = all, false
}

// remove takes a deleted file out of the set.
func (c *Catalog) remove(f *file) {
	for _, cert := range f.certs {
		c.drop(cert)
	}
	delete(c.rejected, f)
	delete(c.files, f.path)
}

// retry tries the files kept aside for conflicts again, until none more
// goes in: putting one in force may free a name another was waiting for.
func (c *Catalog) retry() {
	for {
		var waiting []*file
		for f := range c.rejected {
			if f.pending != nil {
				waiting = append(waiting, f)
			}
		}
		slices.SortFunc(waiting, func(a, b *file) int { return cmp.Compare(a.path, b.path) })
		progress := false
		for _, f := range waiting {
			if c.try(f, f.pending, f.pendingAPI) {
				progress = true
			}
		}
		if !progress {
			return
		}
	}
}

func sameCertificate(a, b configs.Certificate) bool {
	return a.Name == b.Name && slices.Equal(a.Domains, b.Domains) && slices.Equal(a.KeyTypes, b.KeyTypes) &&
		a.KeyFile == b.KeyFile && a.Challenge == b.Challenge && a.DNSProvider == b.DNSProvider
}

func sortProblems(ps configs.Problems) {
	slices.SortStableFunc(ps, func(a, b configs.Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}
