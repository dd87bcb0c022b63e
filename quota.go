package freight

import "time"

// Quota caps what one organization's people and tokens may take through
// download grants, whatever the product: grants and the bytes they name,
// per UTC day and per calendar month (UTC). Zero means no cap. It sits
// above the limits of each entitlement, which count per product: a quota
// is the vendor's bound on an organization as a whole, like a usage plan.
type Quota struct {
	DailyDownloads   int64 `json:"daily_downloads"`
	DailyBytes       int64 `json:"daily_bytes"`
	MonthlyDownloads int64 `json:"monthly_downloads"`
	MonthlyBytes     int64 `json:"monthly_bytes"`
}

// Validate checks that no cap is negative.
func (q Quota) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"daily_downloads", q.DailyDownloads}, {"daily_bytes", q.DailyBytes},
		{"monthly_downloads", q.MonthlyDownloads}, {"monthly_bytes", q.MonthlyBytes},
	} {
		if f.v < 0 {
			return FieldError(f.name, "must not be negative (0 means no cap)")
		}
	}
	return nil
}

// Caps returns the caps of one period (LimitDay or LimitMonth) as a Usage;
// zero fields are not capped.
func (q Quota) Caps(p LimitPeriod) Usage {
	switch p {
	case LimitDay:
		return Usage{Downloads: q.DailyDownloads, Bytes: q.DailyBytes}
	case LimitMonth:
		return Usage{Downloads: q.MonthlyDownloads, Bytes: q.MonthlyBytes}
	}
	return Usage{}
}

// QuotaPeriods are the windows a Quota counts over, shortest first: the
// order in which a grant is charged to them.
var QuotaPeriods = []LimitPeriod{LimitDay, LimitMonth}

// LimitWindowEnd returns the end of the limit period that contains now,
// which is the start of the next one: the next UTC midnight for day, the
// next Monday for week, the first of the next month for month, and the
// zero time for LimitTotal, which never ends.
func LimitWindowEnd(p LimitPeriod, now time.Time) time.Time {
	start := LimitWindowStart(p, now)
	switch p {
	case LimitDay:
		return start.AddDate(0, 0, 1)
	case LimitWeek:
		return start.AddDate(0, 0, 7)
	case LimitMonth:
		return start.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// Exceeds reports whether used plus add passes a cap of caps (zero fields
// are no cap).
func (add Usage) Exceeds(used, caps Usage) bool {
	return caps.Downloads > 0 && used.Downloads+add.Downloads > caps.Downloads ||
		caps.Bytes > 0 && used.Bytes+add.Bytes > caps.Bytes
}
