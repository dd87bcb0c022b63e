package main

import (
	"strings"
	"testing"
	"time"
)

// TestBarRate checks that rate and ETA count only the bytes moved in this
// run, while the bar shows the whole file's progress.
func TestBarRate(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name          string
		total, before int64 // found done, moved
		moved         int64
		want          []string
	}{
		{"Fresh", 100 * mib, 0, 50 * mib, []string{" 50.0% 50.0 MiB/100.0 MiB", "  5.0 MiB/s", "ETA 10s"}},
		// 90 MiB were there already; 1 MiB more in 10 s is 0.1 MiB/s, and
		// the 9 MiB left take 90 s, not the 1 s that counting the resumed
		// bytes as moved would claim.
		{"Resumed", 100 * mib, 90 * mib, 1 * mib, []string{" 91.0% 91.0 MiB/100.0 MiB", "  102.4 KiB/s", "ETA 1m30s"}},
		{"ResumedNothingYet", 100 * mib, 90 * mib, 0, []string{" 90.0% 90.0 MiB/100.0 MiB", "  0 B/s", "ETA --"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &bar{name: "f.bin", total: tc.total, start: time.Now().Add(-10 * time.Second)}
			b.state.Store("")
			b.Set(tc.before)
			b.Add(tc.moved)
			line := b.line()
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q does not contain %q", line, w)
				}
			}
		})
	}

	t.Run("Done", func(t *testing.T) {
		b := &bar{name: "f.bin", total: 100 * mib, start: time.Now().Add(-10 * time.Second)}
		b.Set(60 * mib)
		b.Add(40 * mib)
		b.Finish(nil)
		if line, want := b.line(), "done, 4.0 MiB/s"; !strings.Contains(line, want) {
			t.Errorf("line %q does not contain %q", line, want)
		}
		// A file found complete moved nothing, at no rate at all.
		b = &bar{name: "f.bin", total: 100 * mib, start: time.Now().Add(-10 * time.Second)}
		b.Set(100 * mib)
		b.Finish(nil)
		if line, want := b.line(), "done, nothing to transfer"; !strings.Contains(line, want) {
			t.Errorf("line %q does not contain %q", line, want)
		}
	})

	t.Run("FailedAttempt", func(t *testing.T) {
		// Bytes of a failed part upload are taken back from both counts.
		b := &bar{name: "f.bin", total: 100 * mib, start: time.Now()}
		b.Set(10 * mib)
		b.Add(5 * mib)
		b.Add(-5 * mib)
		if n, m := b.n.Load(), b.moved.Load(); n != 10*mib || m != 0 {
			t.Errorf("after a failed attempt: %d done, %d moved; want %d and 0", n, m, 10*mib)
		}
	})
}
