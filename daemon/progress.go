package daemon

import (
	"fmt"
	"sync"
	"time"
)

const (
	// progressMin: a smaller first issuance logs no progress lines; each
	// outcome has its own line already.
	progressMin = 5
	// progressEvery is the least time between two progress lines.
	progressEvery = 10 * time.Second
)

// progress counts one batch of first issuances (start-up with a new domains
// file, or many names added at once), so that an operator watching a long
// one sees "issued 37/120, 2 failed" instead of guessing from single lines.
type progress struct {
	mu             sync.Mutex
	done           map[string]bool
	issued, failed int
	started        time.Time
	logged         time.Time
}

// progressLine is what step has to say, if anything.
type progressLine struct {
	issued, failed, total int
	final                 bool
	took                  time.Duration
}

func (l progressLine) String() string {
	if l.final {
		return fmt.Sprintf("first issuance finished: issued %d/%d, %d failed, in %s", l.issued, l.total, l.failed, l.took.Round(time.Second))
	}
	return fmt.Sprintf("issued %d/%d, %d failed", l.issued, l.total, l.failed)
}

// step records that name's first issuance finished. pending are the names
// the latest pass found still needing one (name itself may be among them).
// The batch ends, and the counts reset, when no pending name is left.
func (p *progress) step(name string, err error, pending []string, now time.Time) (progressLine, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		p.done, p.started = map[string]bool{}, now
	}
	if !p.done[name] {
		p.done[name] = true
		if err != nil {
			p.failed++
		} else {
			p.issued++
		}
	}
	total := len(p.done)
	for _, n := range pending {
		if !p.done[n] {
			total++
		}
	}
	l := progressLine{issued: p.issued, failed: p.failed, total: total, final: total == len(p.done), took: now.Sub(p.started)}
	if l.final {
		p.done, p.issued, p.failed, p.logged = nil, 0, 0, time.Time{}
		return l, total >= progressMin
	}
	if total < progressMin || now.Sub(p.logged) < progressEvery {
		return l, false
	}
	p.logged = now
	return l, true
}

// noteIssued feeds the progress of a first issuance and logs a line when
// one is due.
func (d *Daemon) noteIssued(name string, err error) {
	d.mu.Lock()
	var pending []string
	for n := range d.issuing {
		if _, ok := d.status[n]; !ok {
			delete(d.issuing, n) // left the desired set
			continue
		}
		pending = append(pending, n)
	}
	d.mu.Unlock()
	l, ok := d.progress.step(name, err, pending, d.opt.Now())
	if ok {
		d.log.Info(l.String(), "issued", l.issued, "failed", l.failed, "total", l.total)
	}
}
