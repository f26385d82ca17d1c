package daemon

import (
	"container/heap"
	"slices"
	"strings"
)

// StatusQuery selects one page of the status list.
type StatusQuery struct {
	// State keeps the certificates whose state starts with it: "ok",
	// "waiting", "issue", "renew", "refresh-ari", "push", "remove".
	State string
	After string // the last name of the previous page; "" for the first
	Limit int    // at most this many; 0: every one
}

// StatusPage answers q sorted by name, with how many certificates match
// q.State in all and how many of those follow the page. At 100,000
// certificates Status's copy and sort of every status costs tens of
// milliseconds per request; this scans the map without copying anything
// but the page, and keeps the first q.Limit names in a heap of that size.
func (d *Daemon) StatusPage(q StatusQuery) (page []CertStatus, total, rest int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var h lastFirst
	for name, cs := range d.status {
		if q.State != "" && !strings.HasPrefix(cs.State, q.State) {
			continue
		}
		total++
		if name <= q.After {
			continue
		}
		rest++
		switch {
		case q.Limit <= 0:
			h = append(h, cs)
		case len(h) < q.Limit:
			heap.Push(&h, cs)
		case name < h[0].Name:
			h[0] = cs
			heap.Fix(&h, 0)
		}
	}
	slices.SortFunc(h, func(a, b *certStatus) int { return strings.Compare(a.Name, b.Name) })
	page = make([]CertStatus, len(h))
	for i, cs := range h {
		page[i] = cs.view()
	}
	return page, total, rest - len(page)
}

// lastFirst is a heap whose top is the name that sorts last, the one a
// name that sorts earlier replaces.
type lastFirst []*certStatus

func (h lastFirst) Len() int           { return len(h) }
func (h lastFirst) Less(i, j int) bool { return h[i].Name > h[j].Name }
func (h lastFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *lastFirst) Push(x any)        { *h = append(*h, x.(*certStatus)) }
func (h *lastFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
