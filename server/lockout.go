package server

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/freight-portal/freight"
)

// Lockout follows Amazon Cognito: from the fifth consecutive failure on,
// an account refuses every attempt for 2^(n-5) seconds after the n-th
// failure, up to 15 minutes. Attempts during a lockout are refused without
// being checked and do not extend it. The counter starts again after a
// success, or after 15 quiet minutes. Second-factor codes have their own
// counter with the same rule.
const (
	lockoutThreshold = 5
	lockoutMax       = 15 * time.Minute
	lockoutQuiet     = 15 * time.Minute
)

// attempts is one failure counter: an account's password or its second
// factor, or an unknown email address.
type attempts struct {
	Failures    int
	LockedUntil time.Time
	LastFailure time.Time
}

// wait returns how long the counter still refuses attempts at now.
func (a *attempts) wait(now time.Time) time.Duration {
	if now.Before(a.LockedUntil) {
		return a.LockedUntil.Sub(now)
	}
	return 0
}

// fail records a failure at now and starts the lockout it earns.
func (a *attempts) fail(now time.Time) {
	if !a.LastFailure.IsZero() && now.Sub(a.LastFailure) >= lockoutQuiet {
		a.Failures = 0
	}
	a.Failures++
	a.LastFailure = now
	if a.Failures >= lockoutThreshold {
		a.LockedUntil = now.Add(lockoutFor(a.Failures))
	}
}

// lockoutFor is the lockout after the n-th consecutive failure.
func lockoutFor(n int) time.Duration {
	exp := n - lockoutThreshold
	if exp > 10 { // 2^10 s is past the cap already
		return lockoutMax
	}
	return min(time.Duration(math.Pow(2, float64(exp)))*time.Second, lockoutMax)
}

func (a *attempts) reset() { *a = attempts{} }

func passwordAttempts(s *freight.UserSecurity) *attempts {
	return &attempts{Failures: s.Failures, LockedUntil: s.LockedUntil, LastFailure: s.LastFailure}
}

func (a *attempts) storePassword(s *freight.UserSecurity) {
	s.Failures, s.LockedUntil, s.LastFailure = a.Failures, a.LockedUntil, a.LastFailure
}

func mfaAttempts(s *freight.UserSecurity) *attempts {
	return &attempts{Failures: s.MFAFailures, LockedUntil: s.MFALockedUntil, LastFailure: s.LastMFAFailure}
}

func (a *attempts) storeMFA(s *freight.UserSecurity) {
	s.MFAFailures, s.MFALockedUntil, s.LastMFAFailure = a.Failures, a.LockedUntil, a.LastFailure
}

// errLocked is the answer during a lockout.
func errLocked(wait time.Duration) error {
	e := freight.Errorf(freight.ERATELIMIT, "too many failed attempts: try again in %d seconds", int64((wait+time.Second-1)/time.Second))
	e.RetryAfter = wait
	return e
}

// ghostLockouts keeps failure counters for email addresses with no
// account, so that guessing at an unknown address locks out exactly like a
// real account and a lockout reveals nothing about who exists. It holds at
// most ghostMax addresses, dropping the quietest when full; it is per
// process, which is enough to hide the difference.
type ghostLockouts struct {
	mu sync.Mutex
	m  map[string]*attempts
}

const ghostMax = 10000

func newGhostLockouts() *ghostLockouts { return &ghostLockouts{m: make(map[string]*attempts)} }

func (g *ghostLockouts) get(email string) attempts {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a, ok := g.m[email]; ok {
		return *a
	}
	return attempts{}
}

func (g *ghostLockouts) fail(email string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.m[email]
	if !ok {
		if len(g.m) >= ghostMax {
			g.evict(now)
		}
		a = &attempts{}
		g.m[email] = a
	}
	a.fail(now)
}

// evict drops counters that no longer matter, or else the oldest one.
func (g *ghostLockouts) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, a := range g.m {
		if now.Sub(a.LastFailure) >= lockoutQuiet && !now.Before(a.LockedUntil) {
			delete(g.m, k)
			continue
		}
		if oldest == "" || a.LastFailure.Before(oldestAt) {
			oldest, oldestAt = k, a.LastFailure
		}
	}
	if len(g.m) >= ghostMax {
		delete(g.m, oldest)
	}
}

// Per-address limits on sign-in attempts: a client gets a burst of
// DefaultSignInBurst attempts, refilled at DefaultSignInRate per second,
// across all accounts it tries. This bounds credential stuffing from one
// address, which the per-account lockout alone does not.
const (
	DefaultSignInRate  = 0.5
	DefaultSignInBurst = 30
)

// ipLimiter is a token bucket per client address, kept in process: a
// replica limits what reaches it.
type ipLimiter struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
	now   func() time.Time
}

const ipLimiterMax = 100000

func newIPLimiter(perSecond float64, burst int, now func() time.Time) *ipLimiter {
	return &ipLimiter{rate: rate.Limit(perSecond), burst: burst, m: make(map[string]*rate.Limiter), now: now}
}

// allow takes one attempt from the address's bucket, or answers
// ERATELIMIT with the time until the next one.
func (l *ipLimiter) allow(ip string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.m[ip]
	if !ok {
		if len(l.m) >= ipLimiterMax {
			// Drop the buckets that are full again: they hold nothing.
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[ip] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		e := freight.Errorf(freight.ERATELIMIT, "too many sign-in attempts from your address: try again in %d seconds", int64((d+time.Second-1)/time.Second))
		e.RetryAfter = d
		return e
	}
	return nil
}
