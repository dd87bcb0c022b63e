package freight

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RateLimit is a token bucket: a client may make Burst requests at once,
// and gets Count more every Per. The zero value is no limit at all.
//
// Buckets are kept as one time each, the generic cell rate algorithm
// (GCRA): the theoretical arrival time (TAT) of the next request if the
// client went on at exactly the allowed rate. A request at now passes when
// max(TAT, now) + Interval - now <= Tolerance, and then moves TAT to
// max(TAT, now) + Interval. A bucket whose TAT is not after now is full,
// the same as no bucket, so state expires by itself and a store can drop
// it. (A TAT further ahead than Tolerance counts as full too: see base.) The same arithmetic runs in process and in the database (see
// Store.TakeRateToken), so both give the same answers.
type RateLimit struct {
	Count int
	Per   time.Duration
	Burst int
}

// Bounds of a rate limit: wide enough for any real policy, narrow enough
// that the arithmetic in nanoseconds never overflows.
const (
	maxRateCount     = 1_000_000
	maxRateBurst     = 1_000_000
	minRatePer       = time.Second
	maxRatePer       = 24 * time.Hour
	maxRateTolerance = 31 * 24 * time.Hour
)

// Off reports whether l limits nothing.
func (l RateLimit) Off() bool { return l.Count == 0 }

// Interval is the time one request's token takes to come back.
func (l RateLimit) Interval() time.Duration { return l.Per / time.Duration(l.Count) }

// Tolerance is the time a full bucket holds: Burst intervals.
func (l RateLimit) Tolerance() time.Duration { return l.Interval() * time.Duration(l.Burst) }

// Validate checks that l is off or within the bounds.
func (l RateLimit) Validate() error {
	if l == (RateLimit{}) {
		return nil
	}
	switch {
	case l.Count < 1 || l.Count > maxRateCount:
		return Errorf(EINVALID, "the rate must be 1 to %d requests per period, not %d", maxRateCount, l.Count)
	case l.Per < minRatePer || l.Per > maxRatePer:
		return Errorf(EINVALID, "the period must be between 1s and 24h, not %s", l.Per)
	case l.Burst < 1 || l.Burst > maxRateBurst:
		return Errorf(EINVALID, "the burst must be 1 to %d requests, not %d", maxRateBurst, l.Burst)
	case float64(l.Interval())*float64(l.Burst) > float64(maxRateTolerance):
		return Errorf(EINVALID, "a burst of %d at %d per %s takes more than 31 days to refill", l.Burst, l.Count, l.Per)
	}
	return nil
}

// String writes l in the form ParseRateLimit reads: "20/s burst 400",
// "600/m burst 50", "5/10s burst 5", or "off".
func (l RateLimit) String() string {
	if l.Off() {
		return "off"
	}
	per := l.Per.String()
	switch l.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	case 24 * time.Hour:
		per = "d"
	}
	return strconv.Itoa(l.Count) + "/" + per + " burst " + strconv.Itoa(l.Burst)
}

// ParseRateLimit reads a rate limit written as "<count>/<period>",
// optionally followed by "burst <n>", or "off". The period is a unit (s,
// m, h, d, or second, minute, hour, day) or a duration such as 10s or
// 1m30s. Without a burst, the burst is the count: "600/m" lets a client
// make 600 requests at once, then 10 a second.
func ParseRateLimit(s string) (RateLimit, error) {
	bad := func(why string) (RateLimit, error) {
		return RateLimit{}, Errorf(EINVALID, "rate limit %q: %s; write it like \"20/s burst 400\", \"600/m\" or \"off\"", truncate(s, 64), why)
	}
	spec := strings.ToLower(strings.TrimSpace(s))
	if spec == "off" {
		return RateLimit{}, nil
	}
	rate, burst, hasBurst := strings.Cut(spec, "burst")
	count, per, ok := strings.Cut(rate, "/")
	if !ok {
		return bad("no \"/\" between the count and the period")
	}
	var l RateLimit
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 || n > maxRateCount {
		return bad(fmt.Sprintf("the count must be a whole number from 1 to %d", maxRateCount))
	}
	l.Count = n
	switch p := strings.TrimSpace(per); p {
	case "s", "sec", "second":
		l.Per = time.Second
	case "m", "min", "minute":
		l.Per = time.Minute
	case "h", "hour":
		l.Per = time.Hour
	case "d", "day":
		l.Per = 24 * time.Hour
	default:
		d, err := time.ParseDuration(p)
		if err != nil || p == "" || p[0] < '0' || p[0] > '9' {
			return bad("the period must be s, m, h, d or a duration such as 10s")
		}
		l.Per = d
	}
	l.Burst = l.Count
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burst))
		if err != nil || b < 1 || b > maxRateBurst {
			return bad(fmt.Sprintf("the burst must be a whole number from 1 to %d", maxRateBurst))
		}
		l.Burst = b
	}
	if err := l.Validate(); err != nil {
		return bad(ErrorMessage(err))
	}
	return l, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RateDecision is the answer of a bucket to one request.
type RateDecision struct {
	Allowed bool
	// Remaining is how many more requests would pass now.
	Remaining int
	// RetryAfter, for a refused request, is how long until one passes.
	RetryAfter time.Duration
	// Reset is how long until the bucket holds one more request; 0 when
	// it is full.
	Reset time.Duration
}

// Take applies one request at now to a bucket whose TAT is tat (the zero
// time for a bucket never used). It returns the bucket's new TAT, which is
// tat itself when the request is refused.
func (l RateLimit) Take(tat, now time.Time) (time.Time, bool) {
	next := l.base(tat, now).Add(l.Interval())
	if next.Sub(now) > l.Tolerance() {
		return tat, false
	}
	return next, true
}

// Decide describes the bucket after a request at now: tat is its TAT
// after the request, and allowed says whether the request passed.
func (l RateLimit) Decide(tat time.Time, now time.Time, allowed bool) RateDecision {
	t, tau := l.Interval(), l.Tolerance()
	ahead := l.base(tat, now).Sub(now)
	if !allowed {
		wait := max(ahead+t-tau, time.Nanosecond)
		return RateDecision{RetryAfter: wait, Reset: wait}
	}
	remaining := int((tau - ahead) / t)
	d := RateDecision{Allowed: true, Remaining: max(remaining, 0)}
	if ahead > 0 {
		d.Reset = max(ahead+time.Duration(remaining+1)*t-tau, time.Nanosecond)
	}
	return d
}

// Seconds rounds d up to whole seconds, as Retry-After and the RateLimit
// fields want: a client told 0 would ask again at once.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// base is where a request at now starts from: tat while it lies between
// now and now+Tolerance, now otherwise. Before now the bucket is full. A
// tat past now+Tolerance cannot come from requests, only from a clock
// that went back (an NTP step, a replica whose clock is behind); the
// bucket then counts as full rather than making clients wait out the
// clock's jump.
func (l RateLimit) base(tat, now time.Time) time.Time {
	if tat.Before(now) || tat.Sub(now) > l.Tolerance() {
		return now
	}
	return tat
}
