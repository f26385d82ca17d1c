package daemon

import "time"

// timers are the certificates' next looks, earliest first, so that a pass
// finds the certificates that are due without deciding for every one. A
// certificate has at most one live time (at[name]); setting another leaves
// the old entry in the heap, and it is dropped when it comes up.
type timers struct {
	h  []timerEntry // a min-heap by at
	at map[string]time.Time
}

type timerEntry struct {
	at   time.Time
	name string
}

func newTimers() timers { return timers{at: map[string]time.Time{}} }

// set makes at the certificate's next look; zero means none.
func (t *timers) set(name string, at time.Time) {
	if at.IsZero() {
		delete(t.at, name)
		return
	}
	if cur, ok := t.at[name]; ok && cur.Equal(at) {
		return
	}
	t.at[name] = at
	t.push(timerEntry{at: at, name: name})
	if len(t.h) > 2*len(t.at)+64 {
		t.compact()
	}
}

func (t *timers) drop(name string) { delete(t.at, name) }

func (t *timers) live(e timerEntry) bool {
	cur, ok := t.at[e.name]
	return ok && cur.Equal(e.at)
}

// due takes out every certificate whose time has come and appends its
// name to out.
func (t *timers) due(now time.Time, out []string) []string {
	for len(t.h) > 0 && !t.h[0].at.After(now) {
		e := t.pop()
		if t.live(e) {
			delete(t.at, e.name)
			out = append(out, e.name)
		}
	}
	return out
}

// peekDue appends the certificates whose time has come to out, without
// taking them out: it visits only the heap's entries that are due, and
// their children.
func (t *timers) peekDue(now time.Time, out []string) []string {
	var walk func(i int)
	walk = func(i int) {
		if i >= len(t.h) || t.h[i].at.After(now) {
			return
		}
		if t.live(t.h[i]) {
			out = append(out, t.h[i].name)
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return out
}

// next is the earliest live time, zero when there is none.
func (t *timers) next() time.Time {
	for len(t.h) > 0 && !t.live(t.h[0]) {
		t.pop()
	}
	if len(t.h) == 0 {
		return time.Time{}
	}
	return t.h[0].at
}

// compact drops the dead entries, so that a certificate whose time keeps
// moving does not grow the heap.
func (t *timers) compact() {
	t.h = t.h[:0]
	for n, at := range t.at {
		t.h = append(t.h, timerEntry{at: at, name: n})
	}
	for i := len(t.h)/2 - 1; i >= 0; i-- {
		t.down(i)
	}
}

func (t *timers) push(e timerEntry) {
	t.h = append(t.h, e)
	for i := len(t.h) - 1; i > 0; {
		p := (i - 1) / 2
		if !t.h[i].at.Before(t.h[p].at) {
			break
		}
		t.h[i], t.h[p] = t.h[p], t.h[i]
		i = p
	}
}

func (t *timers) pop() timerEntry {
	e := t.h[0]
	last := len(t.h) - 1
	t.h[0] = t.h[last]
	t.h[last] = timerEntry{}
	t.h = t.h[:last]
	t.down(0)
	return e
}

func (t *timers) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(t.h) && t.h[l].at.Before(t.h[small].at) {
			small = l
		}
		if r := l + 1; r < len(t.h) && t.h[r].at.Before(t.h[small].at) {
			small = r
		}
		if small == i {
			return
		}
		t.h[i], t.h[small] = t.h[small], t.h[i]
		i = small
	}
}
