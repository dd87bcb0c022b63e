package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var rateLimitTests = []subtest{
	{"BurstThenRefill", testRateBurstThenRefill},
	{"KeysIndependent", testRateKeysIndependent},
	{"MatchesInProcess", testRateMatchesInProcess},
	{"Invalid", testRateInvalid},
	{"Prune", testRatePrune},
	{"Concurrent", testRateConcurrent},
}

var quotaTests = []subtest{
	{"DefaultZero", testQuotaDefaultZero},
	{"SetRoundTrip", testQuotaSetRoundTrip},
	{"ChargeWithinCaps", testQuotaChargeWithinCaps},
	{"ChargeWindowsApart", testQuotaChargeWindowsApart},
	{"ChargeInTxRollsBack", testQuotaChargeInTxRollsBack},
	{"ChargeConcurrent", testQuotaChargeConcurrent},
	{"Prune", testQuotaPrune},
	{"DeletedWithOrganization", testQuotaDeletedWithOrganization},
}

var sweepTests = []subtest{
	{"ClaimOncePerInterval", testSweepClaimOncePerInterval},
	{"ClaimConcurrent", testSweepClaimConcurrent},
}

var rate5 = freight.RateLimit{Count: 1, Per: time.Second, Burst: 5}

// A fresh key passes Burst requests at one instant, refuses the next with
// the wait for one token, and passes again once that much time went by.
func testRateBurstThenRefill(t *testing.T, s freight.Store) {
	now := ts(0)
	for i := range 5 {
		d, err := s.TakeRateToken(t.Context(), "k", rate5, now)
		noErr(t, "TakeRateToken", err)
		if !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 4-i)
		}
	}
	d, err := s.TakeRateToken(t.Context(), "k", rate5, now)
	noErr(t, "TakeRateToken", err)
	if d.Allowed || d.RetryAfter != time.Second || d.Remaining != 0 {
		t.Fatalf("request 6: %+v, want refused with RetryAfter 1s", d)
	}
	// A refusal takes nothing: just before the second is up, still no.
	d, err = s.TakeRateToken(t.Context(), "k", rate5, now.Add(time.Second-time.Millisecond))
	noErr(t, "TakeRateToken", err)
	if d.Allowed || d.RetryAfter != time.Millisecond {
		t.Fatalf("1ms early: %+v, want refused with RetryAfter 1ms", d)
	}
	d, err = s.TakeRateToken(t.Context(), "k", rate5, now.Add(time.Second))
	noErr(t, "TakeRateToken", err)
	if !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after RetryAfter: %+v, want allowed with 0 remaining", d)
	}
}

func testRateKeysIndependent(t *testing.T, s freight.Store) {
	now := ts(0)
	one := freight.RateLimit{Count: 1, Per: time.Minute, Burst: 1}
	for _, k := range []string{"a", "b", "a:b"} {
		d, err := s.TakeRateToken(t.Context(), k, one, now)
		noErr(t, "TakeRateToken", err)
		if !d.Allowed {
			t.Errorf("first request of %q refused: %+v", k, d)
		}
	}
	d, err := s.TakeRateToken(t.Context(), "a", one, now)
	noErr(t, "TakeRateToken", err)
	if d.Allowed {
		t.Errorf("second request of \"a\" allowed: %+v", d)
	}
}

// The store must answer exactly what the in-process arithmetic answers,
// request after request, at uneven times and across a clock that went
// back, since a server uses one or the other.
func testRateMatchesInProcess(t *testing.T, s freight.Store) {
	limit := freight.RateLimit{Count: 7, Per: 3 * time.Second, Burst: 4}
	var tat time.Time
	now := ts(0)
	for i := range 60 {
		now = now.Add(time.Duration(i%5) * 97 * time.Millisecond)
		if i == 40 {
			now = now.Add(-time.Hour) // a clock that went back
		}
		got, err := s.TakeRateToken(t.Context(), "same", limit, now)
		noErr(t, "TakeRateToken", err)
		next, ok := limit.Take(tat, now)
		want := limit.Decide(next, now, ok)
		tat = next
		if got != want {
			t.Fatalf("request %d at +%s: store %+v, in process %+v", i, now.Sub(ts(0)), got, want)
		}
	}
}

func testRateInvalid(t *testing.T, s freight.Store) {
	_, err := s.TakeRateToken(t.Context(), "", rate5, ts(0))
	wantCode(t, "TakeRateToken with an empty key", err, freight.EINVALID)
	_, err = s.TakeRateToken(t.Context(), "k", freight.RateLimit{}, ts(0))
	wantCode(t, "TakeRateToken with no limit", err, freight.EINVALID)
	_, err = s.TakeRateToken(t.Context(), "k", freight.RateLimit{Count: 1, Per: time.Second}, ts(0))
	wantCode(t, "TakeRateToken with no burst", err, freight.EINVALID)
}

// Pruning drops full buckets only: a drained one keeps refusing.
func testRatePrune(t *testing.T, s freight.Store) {
	one := freight.RateLimit{Count: 1, Per: time.Minute, Burst: 1}
	_, err := s.TakeRateToken(t.Context(), "old", one, ts(0))
	noErr(t, "TakeRateToken", err)
	_, err = s.TakeRateToken(t.Context(), "new", one, ts(time.Minute))
	noErr(t, "TakeRateToken", err)
	n, err := s.PruneRateBuckets(t.Context(), ts(time.Minute))
	noErr(t, "PruneRateBuckets", err)
	if n != 1 {
		t.Errorf("PruneRateBuckets = %d, want 1 (the bucket full again)", n)
	}
	d, err := s.TakeRateToken(t.Context(), "new", one, ts(time.Minute+time.Second))
	noErr(t, "TakeRateToken", err)
	if d.Allowed {
		t.Errorf("the drained bucket lost its state to pruning: %+v", d)
	}
}

// 10 writers × 10 requests on one key at one instant with a burst of 37:
// exactly 37 pass, whatever the interleaving.
func testRateConcurrent(t *testing.T, s freight.Store) {
	limit := freight.RateLimit{Count: 1, Per: time.Hour, Burst: 37}
	var passed atomic.Int64
	run(10, func(int) {
		for range 10 {
			d, err := s.TakeRateToken(t.Context(), "shared", limit, ts(0))
			if err != nil {
				t.Errorf("TakeRateToken: %v", err)
				return
			}
			if d.Allowed {
				passed.Add(1)
			}
		}
	})
	if got := passed.Load(); got != 37 {
		t.Errorf("%d of 100 concurrent requests passed a burst of 37", got)
	}
}

func testQuotaDefaultZero(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	q, err := s.OrgQuota(t.Context(), o.ID)
	noErr(t, "OrgQuota", err)
	if q != (freight.Quota{}) {
		t.Errorf("OrgQuota of a new organization = %+v, want no caps", q)
	}
	_, err = s.OrgQuota(t.Context(), missingID(freight.PrefixOrganization))
	wantCode(t, "OrgQuota of a missing organization", err, freight.ENOTFOUND)
	u, err := s.OrgUsage(t.Context(), o.ID, freight.LimitDay, ts(0))
	noErr(t, "OrgUsage", err)
	if u != (freight.Usage{}) {
		t.Errorf("OrgUsage with no charge = %+v, want zero", u)
	}
}

func testQuotaSetRoundTrip(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	want := freight.Quota{DailyDownloads: 10, DailyBytes: 1 << 40, MonthlyDownloads: 100, MonthlyBytes: 1 << 50}
	noErr(t, "SetOrgQuota", s.SetOrgQuota(t.Context(), o.ID, want))
	got, err := s.OrgQuota(t.Context(), o.ID)
	noErr(t, "OrgQuota", err)
	if got != want {
		t.Errorf("OrgQuota = %+v, want %+v", got, want)
	}
	want = freight.Quota{MonthlyBytes: 5}
	noErr(t, "SetOrgQuota again", s.SetOrgQuota(t.Context(), o.ID, want))
	if got, _ = s.OrgQuota(t.Context(), o.ID); got != want {
		t.Errorf("OrgQuota after replacing = %+v, want %+v", got, want)
	}
	wantCode(t, "SetOrgQuota negative", s.SetOrgQuota(t.Context(), o.ID, freight.Quota{DailyBytes: -1}), freight.EINVALID)
	wantCode(t, "SetOrgQuota of a missing organization",
		s.SetOrgQuota(t.Context(), missingID(freight.PrefixOrganization), want), freight.ENOTFOUND)
}

func testQuotaChargeWithinCaps(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	start := ts(0)
	caps := freight.Usage{Downloads: 3, Bytes: 100}
	one := func(bytes int64) (freight.Usage, error) {
		return s.ChargeUsage(t.Context(), o.ID, freight.LimitDay, start, freight.Usage{Downloads: 1, Bytes: bytes}, caps)
	}
	u, err := one(60)
	noErr(t, "ChargeUsage", err)
	if u != (freight.Usage{Downloads: 1, Bytes: 60}) {
		t.Errorf("after one charge: %+v", u)
	}
	_, err = one(41)
	wantCode(t, "ChargeUsage past the byte cap", err, freight.ETOOLARGE)
	u, err = one(40)
	noErr(t, "ChargeUsage up to the byte cap", err)
	if u != (freight.Usage{Downloads: 2, Bytes: 100}) {
		t.Errorf("after two charges: %+v", u)
	}
	_, err = one(0)
	noErr(t, "ChargeUsage of the third download", err)
	_, err = one(0)
	wantCode(t, "ChargeUsage past the download cap", err, freight.ETOOLARGE)
	if u, _ = s.OrgUsage(t.Context(), o.ID, freight.LimitDay, start); u != (freight.Usage{Downloads: 3, Bytes: 100}) {
		t.Errorf("OrgUsage = %+v, want the refused charges left out", u)
	}
	// A first charge larger than the caps is refused too.
	_, err = s.ChargeUsage(t.Context(), o.ID, freight.LimitMonth, start, freight.Usage{Downloads: 1, Bytes: 101}, caps)
	wantCode(t, "ChargeUsage of a new window past the cap", err, freight.ETOOLARGE)
	// Zero caps are no caps.
	_, err = s.ChargeUsage(t.Context(), o.ID, freight.LimitMonth, start, freight.Usage{Downloads: 1, Bytes: 1 << 50}, freight.Usage{})
	noErr(t, "ChargeUsage without caps", err)
	_, err = s.ChargeUsage(t.Context(), o.ID, "week", start, freight.Usage{Downloads: 1}, caps)
	wantCode(t, "ChargeUsage of a week", err, freight.EINVALID)
	_, err = s.ChargeUsage(t.Context(), missingID(freight.PrefixOrganization), freight.LimitDay, start, freight.Usage{Downloads: 1}, caps)
	wantCode(t, "ChargeUsage of a missing organization", err, freight.ENOTFOUND)
}

func testQuotaChargeWindowsApart(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	caps := freight.Usage{Downloads: 1}
	add := freight.Usage{Downloads: 1, Bytes: 7}
	day1 := freight.LimitWindowStart(freight.LimitDay, ts(0))
	day2 := day1.AddDate(0, 0, 1)
	_, err := s.ChargeUsage(t.Context(), o.ID, freight.LimitDay, day1, add, caps)
	noErr(t, "ChargeUsage day 1", err)
	_, err = s.ChargeUsage(t.Context(), o.ID, freight.LimitDay, day2, add, caps)
	noErr(t, "ChargeUsage day 2: a new window starts empty", err)
	_, err = s.ChargeUsage(t.Context(), o.ID, freight.LimitMonth, day1, add, caps)
	noErr(t, "ChargeUsage month: periods count apart", err)
	other := MustCreateOrganization(t, s, newOrg("globex"))
	_, err = s.ChargeUsage(t.Context(), other.ID, freight.LimitDay, day1, add, caps)
	noErr(t, "ChargeUsage of another organization", err)
}

func testQuotaChargeInTxRollsBack(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	err := s.Tx(t.Context(), func(tx freight.Store) error {
		if _, err := tx.ChargeUsage(t.Context(), o.ID, freight.LimitDay, ts(0), freight.Usage{Downloads: 1, Bytes: 5}, freight.Usage{}); err != nil {
			return err
		}
		return errSentinel
	})
	if err != errSentinel {
		t.Fatalf("Tx = %v, want the sentinel", err)
	}
	u, err := s.OrgUsage(t.Context(), o.ID, freight.LimitDay, ts(0))
	noErr(t, "OrgUsage", err)
	if u != (freight.Usage{}) {
		t.Errorf("OrgUsage after a rolled back charge = %+v, want zero", u)
	}
	// A refused charge inside a transaction leaves it usable.
	err = s.Tx(t.Context(), func(tx freight.Store) error {
		if _, err := tx.ChargeUsage(t.Context(), o.ID, freight.LimitDay, ts(0), freight.Usage{Downloads: 2}, freight.Usage{Downloads: 1}); freight.ErrorCode(err) != freight.ETOOLARGE {
			t.Errorf("charge past the cap: %v", err)
		}
		_, err := tx.ChargeUsage(t.Context(), o.ID, freight.LimitDay, ts(0), freight.Usage{Downloads: 1}, freight.Usage{Downloads: 1})
		return err
	})
	noErr(t, "Tx with a refused charge, then one that fits", err)
}

// 10 writers × 5 charges against a cap of 23 downloads: exactly 23 pass.
func testQuotaChargeConcurrent(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	var passed atomic.Int64
	run(10, func(int) {
		for range 5 {
			_, err := s.ChargeUsage(t.Context(), o.ID, freight.LimitMonth, ts(0), freight.Usage{Downloads: 1, Bytes: 10}, freight.Usage{Downloads: 23})
			switch freight.ErrorCode(err) {
			case "":
				passed.Add(1)
			case freight.ETOOLARGE:
			default:
				t.Errorf("ChargeUsage: %v", err)
			}
		}
	})
	if got := passed.Load(); got != 23 {
		t.Errorf("%d of 50 concurrent charges passed a cap of 23", got)
	}
	u, err := s.OrgUsage(t.Context(), o.ID, freight.LimitMonth, ts(0))
	noErr(t, "OrgUsage", err)
	if u != (freight.Usage{Downloads: 23, Bytes: 230}) {
		t.Errorf("OrgUsage = %+v, want 23 downloads and 230 bytes", u)
	}
}

func testQuotaPrune(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	add := freight.Usage{Downloads: 1}
	for _, w := range []struct {
		p     freight.LimitPeriod
		start time.Time
	}{{freight.LimitDay, ts(0)}, {freight.LimitDay, ts(24 * time.Hour)}, {freight.LimitMonth, ts(0)}} {
		_, err := s.ChargeUsage(t.Context(), o.ID, w.p, w.start, add, freight.Usage{})
		noErr(t, "ChargeUsage", err)
	}
	n, err := s.PruneUsage(t.Context(), freight.LimitDay, ts(24*time.Hour))
	noErr(t, "PruneUsage", err)
	if n != 1 {
		t.Errorf("PruneUsage = %d, want 1", n)
	}
	if u, _ := s.OrgUsage(t.Context(), o.ID, freight.LimitDay, ts(24*time.Hour)); u.Downloads != 1 {
		t.Errorf("the current day was pruned: %+v", u)
	}
	if u, _ := s.OrgUsage(t.Context(), o.ID, freight.LimitMonth, ts(0)); u.Downloads != 1 {
		t.Errorf("the month was pruned with the days: %+v", u)
	}
}

func testQuotaDeletedWithOrganization(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	noErr(t, "SetOrgQuota", s.SetOrgQuota(t.Context(), o.ID, freight.Quota{DailyDownloads: 1}))
	_, err := s.ChargeUsage(t.Context(), o.ID, freight.LimitDay, ts(0), freight.Usage{Downloads: 1}, freight.Usage{})
	noErr(t, "ChargeUsage", err)
	noErr(t, "DeleteOrganization", s.DeleteOrganization(t.Context(), o.ID))
	// An organization made again with the same id starts clean.
	again := newOrg("acme")
	again.ID = o.ID
	MustCreateOrganization(t, s, again)
	q, err := s.OrgQuota(t.Context(), o.ID)
	noErr(t, "OrgQuota", err)
	u, err := s.OrgUsage(t.Context(), o.ID, freight.LimitDay, ts(0))
	noErr(t, "OrgUsage", err)
	if q != (freight.Quota{}) || u != (freight.Usage{}) {
		t.Errorf("quota %+v and usage %+v outlived their organization", q, u)
	}
}

func testSweepClaimOncePerInterval(t *testing.T, s freight.Store) {
	claim := func(owner string, now time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimSweep(t.Context(), "gc", owner, ts(now), ts(now+time.Minute))
		noErr(t, "ClaimSweep", err)
		return ok
	}
	if !claim("a", 0) {
		t.Fatal("the first claim of a sweep failed")
	}
	if claim("b", time.Second) || claim("a", 59*time.Second) {
		t.Error("a sweep was claimed again before its next run")
	}
	ok, err := s.ClaimSweep(t.Context(), "uploads", "b", ts(time.Second), ts(time.Minute))
	noErr(t, "ClaimSweep", err)
	if !ok {
		t.Error("sweeps of other names are claimed apart")
	}
	if !claim("b", time.Minute) {
		t.Error("a sweep was not claimable at its next run")
	}
	_, err = s.ClaimSweep(t.Context(), "gc", "a", ts(0), ts(0))
	wantCode(t, "ClaimSweep with next not after now", err, freight.EINVALID)
}

func testSweepClaimConcurrent(t *testing.T, s freight.Store) {
	var won atomic.Int64
	run(10, func(i int) {
		ok, err := s.ClaimSweep(t.Context(), "gc", "replica-"+string(rune('a'+i)), ts(0), ts(time.Minute))
		if err != nil {
			t.Errorf("ClaimSweep: %v", err)
		}
		if ok {
			won.Add(1)
		}
	})
	if n := won.Load(); n != 1 {
		t.Errorf("%d of 10 racing replicas claimed one sweep, want exactly 1", n)
	}
}
