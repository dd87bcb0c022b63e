package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/freight-portal/freight"
)

// TakeRateToken runs the GCRA step of freight.RateLimit in one statement:
// an upsert that inserts the bucket of a new key, or moves the TAT of an
// existing one, only if the request fits; RETURNING tells which. The row
// lock of the upsert serializes the requests of one key across replicas,
// each for the length of the statement only. A refused request costs a
// second, read-only statement, for the time to wait: refusals are the
// rare case, and a TAT that moved on meanwhile only makes that wait a
// little longer than needed.
//
// Times are nanoseconds since the Unix epoch, in a bigint, so that both
// dialects do the same integer arithmetic.
func (s *store) TakeRateToken(ctx context.Context, key string, limit freight.RateLimit, now time.Time) (freight.RateDecision, error) {
	if key == "" {
		return freight.RateDecision{}, freight.FieldError("key", "must not be empty")
	}
	if limit.Off() {
		return freight.RateDecision{}, freight.FieldError("limit", "must not be off")
	}
	if err := limit.Validate(); err != nil {
		return freight.RateDecision{}, err
	}
	t, tau, n := int64(limit.Interval()), int64(limit.Tolerance()), now.UnixNano()
	// base is freight.RateLimit's base: the TAT while it lies within
	// [now, now+tau], else now.
	const base = `(CASE WHEN rate_buckets.tat BETWEEN ? AND ? THEN rate_buckets.tat ELSE ? END)`
	var tat int64
	err := s.execReturning(ctx, []any{&tat}, `INSERT INTO rate_buckets (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = `+base+` + ?
		WHERE `+base+` + ? - ? <= ?
		RETURNING tat`,
		key, n+t, n, n+tau, n, t, n, n+tau, n, t, n, tau)
	if err == nil {
		return limit.Decide(time.Unix(0, tat), now, true), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return freight.RateDecision{}, s.fail(ctx, err, nil)
	}
	err = s.queryRow(ctx, `SELECT tat FROM rate_buckets WHERE key = ?`, key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		// Pruned in between, which needs a bucket that filled up: the
		// next request passes.
		tat = n
	} else if err != nil {
		return freight.RateDecision{}, s.fail(ctx, err, nil)
	}
	return limit.Decide(time.Unix(0, tat), now, false), nil
}

// PruneRateBuckets deletes the buckets that are full at now.
func (s *store) PruneRateBuckets(ctx context.Context, now time.Time) (int, error) {
	return s.deleteCount(ctx, `DELETE FROM rate_buckets WHERE tat <= ?`, now.UnixNano())
}

func (s *store) deleteCount(ctx context.Context, query string, args ...any) (int, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	return int(n), nil
}

func quotaErrs(orgID string) *errs {
	return &errs{notFound: "organization not found", parents: []parent{
		{constraint: "org_quotas_org_id_fkey", table: "organizations", id: orgID, notFound: "organization not found"},
		{constraint: "org_usage_org_id_fkey", table: "organizations", id: orgID, notFound: "organization not found"},
	}}
}

func (s *store) OrgQuota(ctx context.Context, orgID string) (freight.Quota, error) {
	var q freight.Quota
	err := s.queryRow(ctx, `SELECT daily_downloads, daily_bytes, monthly_downloads, monthly_bytes FROM org_quotas WHERE org_id = ?`, orgID).
		Scan(&q.DailyDownloads, &q.DailyBytes, &q.MonthlyDownloads, &q.MonthlyBytes)
	if err == nil {
		return q, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return q, s.fail(ctx, err, nil)
	}
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM organizations WHERE id = ?`, orgID).Scan(&one); err != nil {
		return q, s.fail(ctx, err, errOrgNotFound)
	}
	return q, nil
}

func (s *store) SetOrgQuota(ctx context.Context, orgID string, q freight.Quota) error {
	if err := q.Validate(); err != nil {
		return err
	}
	_, err := s.exec(ctx, `INSERT INTO org_quotas (org_id, daily_downloads, daily_bytes, monthly_downloads, monthly_bytes) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET daily_downloads = excluded.daily_downloads, daily_bytes = excluded.daily_bytes,
			monthly_downloads = excluded.monthly_downloads, monthly_bytes = excluded.monthly_bytes`,
		orgID, q.DailyDownloads, q.DailyBytes, q.MonthlyDownloads, q.MonthlyBytes)
	if err != nil {
		return s.fail(ctx, err, quotaErrs(orgID))
	}
	return nil
}

func checkQuotaWindow(period freight.LimitPeriod, start time.Time) error {
	if period != freight.LimitDay && period != freight.LimitMonth {
		return freight.FieldError("period", "must be day or month")
	}
	if start.IsZero() {
		return freight.FieldError("start", "must be set")
	}
	return nil
}

// ChargeUsage is one upsert whose update happens only if the new totals
// stay within the caps; the first charge of a window is checked here,
// before the insert. On PostgreSQL a concurrent charge of the same window
// waits for the row lock and then checks the caps against the committed
// totals, so racing grants never pass a cap together.
func (s *store) ChargeUsage(ctx context.Context, orgID string, period freight.LimitPeriod, start time.Time, add, caps freight.Usage) (freight.Usage, error) {
	if err := checkQuotaWindow(period, start); err != nil {
		return freight.Usage{}, err
	}
	if add.Downloads < 0 || add.Bytes < 0 || caps.Downloads < 0 || caps.Bytes < 0 {
		return freight.Usage{}, freight.Errorf(freight.EINVALID, "usage and caps must not be negative")
	}
	refuse := freight.Errorf(freight.ETOOLARGE, "the organization's %s quota is used up", period)
	if add.Exceeds(freight.Usage{}, caps) {
		return freight.Usage{}, refuse
	}
	maxOr := func(c int64) int64 {
		if c == 0 {
			return math.MaxInt64
		}
		return c
	}
	var u freight.Usage
	err := s.execReturning(ctx, []any{&u.Downloads, &u.Bytes}, `INSERT INTO org_usage (org_id, period, window_start, downloads, bytes) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (org_id, period, window_start) DO UPDATE
			SET downloads = org_usage.downloads + excluded.downloads, bytes = org_usage.bytes + excluded.bytes
			WHERE org_usage.downloads <= ? - excluded.downloads AND org_usage.bytes <= ? - excluded.bytes
		RETURNING downloads, bytes`,
		orgID, string(period), start, add.Downloads, add.Bytes, maxOr(caps.Downloads), maxOr(caps.Bytes))
	if errors.Is(err, sql.ErrNoRows) {
		return freight.Usage{}, refuse
	}
	if err != nil {
		return freight.Usage{}, s.fail(ctx, err, quotaErrs(orgID))
	}
	return u, nil
}

func (s *store) OrgUsage(ctx context.Context, orgID string, period freight.LimitPeriod, start time.Time) (freight.Usage, error) {
	if err := checkQuotaWindow(period, start); err != nil {
		return freight.Usage{}, err
	}
	var u freight.Usage
	err := s.queryRow(ctx, `SELECT downloads, bytes FROM org_usage WHERE org_id = ? AND period = ? AND window_start = ?`, orgID, string(period), start).
		Scan(&u.Downloads, &u.Bytes)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return freight.Usage{}, s.fail(ctx, err, nil)
	}
	return u, nil
}

func (s *store) PruneUsage(ctx context.Context, period freight.LimitPeriod, before time.Time) (int, error) {
	if err := checkQuotaWindow(period, before); err != nil {
		return 0, err
	}
	return s.deleteCount(ctx, `DELETE FROM org_usage WHERE period = ? AND window_start < ?`, string(period), before)
}

// ClaimSweep is one upsert that takes the sweep over only when its next
// run has come; on PostgreSQL racing upserts of one name serialize on the
// row and the later ones see the next run moved, so exactly one changes a
// row.
func (s *store) ClaimSweep(ctx context.Context, name, owner string, now, next time.Time) (bool, error) {
	if name == "" || owner == "" {
		return false, freight.Errorf(freight.EINVALID, "a sweep needs a name and an owner")
	}
	if !next.After(now) {
		return false, freight.FieldError("next", "must be after now")
	}
	res, err := s.exec(ctx, `INSERT INTO sweeps (name, owner, next_run) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, next_run = excluded.next_run
		WHERE sweeps.next_run <= ?`, name, owner, next, now)
	if err != nil {
		return false, s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(ctx, err, nil)
	}
	return n == 1, nil
}
