package freight_test

import (
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

func TestParseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want freight.RateLimit
	}{
		{"off", freight.RateLimit{}},
		{" OFF ", freight.RateLimit{}},
		{"10/s burst 20", freight.RateLimit{Count: 10, Per: time.Second, Burst: 20}},
		{"10 / second  burst  20", freight.RateLimit{Count: 10, Per: time.Second, Burst: 20}},
		{"600/m", freight.RateLimit{Count: 600, Per: time.Minute, Burst: 600}},
		{"100/hour burst 5", freight.RateLimit{Count: 100, Per: time.Hour, Burst: 5}},
		{"1000/d", freight.RateLimit{Count: 1000, Per: 24 * time.Hour, Burst: 1000}},
		{"5/10s burst 1", freight.RateLimit{Count: 5, Per: 10 * time.Second, Burst: 1}},
		{"3/1m30s", freight.RateLimit{Count: 3, Per: 90 * time.Second, Burst: 3}},
	} {
		got, err := freight.ParseRateLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "10", "10/", "/s", "0/s", "-1/s", "10/x", "10/s burst", "10/s burst 0", "10/s burst -3",
		"10/s burst 2x", "1.5/s", "10/-1s", "10/500ms", "10/48h", "2000000/s", "10/s burst 2000000",
		"1/d burst 1000000", "10/s off", "burst 5", "10/s/s", "10/s burst 5 burst 6", "10/h5",
	} {
		_, err := freight.ParseRateLimit(in)
		if freight.ErrorCode(err) != freight.EINVALID {
			t.Errorf("ParseRateLimit(%q): error %v, want %s", in, err, freight.EINVALID)
		} else if !strings.Contains(freight.ErrorMessage(err), "20/s burst 400") {
			t.Errorf("ParseRateLimit(%q): message %q shows no example", in, freight.ErrorMessage(err))
		}
	}
}

func TestRateLimitString(t *testing.T) {
	for _, tc := range []struct {
		l    freight.RateLimit
		want string
	}{
		{freight.RateLimit{}, "off"},
		{freight.RateLimit{Count: 20, Per: time.Second, Burst: 400}, "20/s burst 400"},
		{freight.RateLimit{Count: 5, Per: 10 * time.Second, Burst: 5}, "5/10s burst 5"},
		{freight.RateLimit{Count: 1, Per: 24 * time.Hour, Burst: 2}, "1/d burst 2"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.l, got, tc.want)
		}
	}
}

// TestRateLimitBucket walks a bucket of 2 a second, burst 4, through a
// burst, a refusal, a partial refill and a full one.
func TestRateLimitBucket(t *testing.T) {
	l := freight.RateLimit{Count: 2, Per: time.Second, Burst: 4}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var tat time.Time
	step := func(at time.Duration) freight.RateDecision {
		now := t0.Add(at)
		next, ok := l.Take(tat, now)
		if !ok && !next.Equal(tat) {
			t.Fatalf("a refused request moved the bucket")
		}
		tat = next
		return l.Decide(tat, now, ok)
	}
	for _, want := range []freight.RateDecision{
		{Allowed: true, Remaining: 3, Reset: 500 * time.Millisecond},
		{Allowed: true, Remaining: 2, Reset: 500 * time.Millisecond},
		{Allowed: true, Remaining: 1, Reset: 500 * time.Millisecond},
		{Allowed: true, Remaining: 0, Reset: 500 * time.Millisecond},
		{Allowed: false, RetryAfter: 500 * time.Millisecond, Reset: 500 * time.Millisecond},
	} {
		if got := step(0); got != want {
			t.Fatalf("at 0: %+v, want %+v", got, want)
		}
	}
	// 700ms later 1.4 tokens are back: one passes, and the next is whole
	// in 300ms.
	if got, want := step(700*time.Millisecond), (freight.RateDecision{Allowed: true, Remaining: 0, Reset: 300 * time.Millisecond}); got != want {
		t.Fatalf("at 700ms: %+v, want %+v", got, want)
	}
	// Long after, the bucket is full again: Burst - 1 remain.
	if got := step(time.Hour); !got.Allowed || got.Remaining != 3 {
		t.Fatalf("an hour later: %+v, want allowed with 3 remaining", got)
	}
	// A clock that went back an hour finds the bucket full, rather than
	// making the client wait the hour out.
	if got := step(0); !got.Allowed || got.Remaining != 3 {
		t.Fatalf("with the clock back an hour: %+v, want allowed with 3 remaining", got)
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 0, -time.Second: 0, 1: 1, time.Second: 1, time.Second + 1: 2, 1500 * time.Millisecond: 2} {
		if got := freight.Seconds(d); got != want {
			t.Errorf("Seconds(%s) = %d, want %d", d, got, want)
		}
	}
}

// FuzzParseRateLimit: no input panics; whatever parses is valid, and its
// String parses back to the same limit.
func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"off", "10/s burst 20", "600/m", "5/10s burst 1", "1/d", "3/1m30s", "10/s burst 99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := freight.ParseRateLimit(s)
		if err != nil {
			if freight.ErrorCode(err) != freight.EINVALID {
				t.Fatalf("ParseRateLimit(%q): error code %q", s, freight.ErrorCode(err))
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseRateLimit(%q) = %+v, which is invalid: %v", s, l, err)
		}
		again, err := freight.ParseRateLimit(l.String())
		if err != nil || again != l {
			t.Fatalf("ParseRateLimit(%q) = %+v, String %q parses to %+v, %v", s, l, l.String(), again, err)
		}
		if !l.Off() && (l.Interval() <= 0 || l.Tolerance() < l.Interval()) {
			t.Fatalf("ParseRateLimit(%q) = %+v: interval %s, tolerance %s", s, l, l.Interval(), l.Tolerance())
		}
	})
}
