package daemon

import (
	"testing"
	"time"

	"github.com/hotcert/hotcert/issuer"
)

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	past := &issuer.Window{Start: nb.Add(-48 * time.Hour), End: nb.Add(-24 * time.Hour)}
	future := &issuer.Window{Start: nb.Add(60 * day), End: nb.Add(62 * day)}
	tests := []struct {
		name     string
		notAfter time.Time
		ari      *issuer.Window
		rnd      float64
		want     time.Time
	}{
		{"90 days: a third left", nb.Add(90 * day), nil, 0.5, nb.Add(60 * day)},
		{"6 days: half left", nb.Add(6 * day), nil, 0.5, nb.Add(3 * day)},
		{"10 days counts as short", nb.Add(10 * day), nil, 0, nb.Add(5 * day)},
		{"11 days: a third left", nb.Add(11 * day), nil, 0, nb.Add(11 * day).Add(-11 * day / 3)},
		{"ARI window start", nb.Add(90 * day), future, 0, future.Start},
		{"ARI window middle", nb.Add(90 * day), future, 0.5, future.Start.Add(day)},
		{"ARI window in the past", nb.Add(90 * day), past, 0.25, past.Start.Add(6 * time.Hour)},
		{"ARI rnd clamped", nb.Add(90 * day), future, 7, future.End},
		{"empty ARI window ignored", nb.Add(90 * day), &issuer.Window{Start: future.End, End: future.Start}, 0.5, nb.Add(60 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renewAt(nb, tt.notAfter, tt.ari, tt.rnd)
			if !got.Equal(tt.want) {
				t.Fatalf("RenewAt = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOrderBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0},
		{1, time.Minute},
		{2, 2 * time.Minute},
		{3, 4 * time.Minute},
		{9, 256 * time.Minute},
		{10, 6 * time.Hour},
		{1000, 6 * time.Hour},
	}
	for _, tt := range tests {
		if got := orderBackoff(tt.n); got != tt.want {
			t.Errorf("orderBackoff(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}
