package daemon

import (
	"errors"
	"testing"
	"time"
)

func TestProgressCountsABatchAndResets(t *testing.T) {
	var p progress
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"a", "b", "c", "d", "e", "f"}
	pending := func(i int) []string { return names[i:] } // the pass still lists the ones not yet done
	l, ok := p.step("a", nil, pending(0), t0)
	if !ok || l.String() != "issued 1/6, 0 failed" {
		t.Fatalf("first step: %q %v, want a line issued 1/6", l, ok)
	}
	if _, ok := p.step("b", errors.New("boom"), pending(1), t0.Add(time.Second)); ok {
		t.Fatal("a progress line within progressEvery of the last one")
	}
	l, ok = p.step("c", nil, pending(2), t0.Add(progressEvery+time.Second))
	if !ok || l.String() != "issued 2/6, 1 failed" {
		t.Fatalf("after progressEvery: %q %v", l, ok)
	}
	// Repeating a name (a retry in the same batch) does not count twice.
	if l, _ = p.step("c", nil, pending(3), t0.Add(20*time.Second)); l.issued != 2 || l.total != 6 {
		t.Fatalf("repeat counted: %+v", l)
	}
	p.step("d", nil, pending(4), t0.Add(21*time.Second))
	p.step("e", nil, pending(5), t0.Add(22*time.Second))
	l, ok = p.step("f", nil, nil, t0.Add(90*time.Second))
	if !ok || !l.final || l.String() != "first issuance finished: issued 5/6, 1 failed, in 1m30s" {
		t.Fatalf("last step: %q final=%v ok=%v", l, l.final, ok)
	}
	if l, _ = p.step("g", nil, nil, t0.Add(100*time.Second)); l.issued != 1 || l.total != 1 {
		t.Fatalf("a new batch did not start from zero: %+v", l)
	}
}

func TestProgressQuietForSmallBatches(t *testing.T) {
	var p progress
	now := time.Now()
	for i, n := range []string{"a", "b", "c"} {
		if _, ok := p.step(n, nil, []string{"a", "b", "c"}[i:], now); ok {
			t.Fatalf("step %d of 3 logged a progress line", i)
		}
	}
}
