package sqlstore

import (
	"context"
	"time"

	"github.com/freight-portal/freight"
)

// statsDayLayout is how DownloadStats names a day, in both dialects.
const statsDayLayout = "2006-01-02"

// DownloadStats aggregates in the database, in two steps: the requests
// the filter selects are first summed per grant (one download, however
// many requests it took), then the grants are counted per group. The
// per-grant step keeps a download that took 16 range requests one
// download, and lets completion compare what its requests sent with the
// grant's size. The indexes on downloads (org_id, product_id, started_at)
// serve the filter; no row travels to Go but the groups.
func (s *store) DownloadStats(ctx context.Context, f freight.DownloadStatsFilter) (*freight.DownloadStats, error) {
	if !f.Group.Valid() {
		return nil, freight.FieldError("group", "must be one of day, release, organization, artifact")
	}
	var days []string
	if f.Group == freight.GroupDay {
		var err error
		if days, err = statsDays(f.Since, f.Until); err != nil {
			return nil, err
		}
	}
	var c conds
	if f.OrgID != "" {
		c.add(`d.org_id = ?`, f.OrgID)
	}
	if f.ProductID != "" {
		c.add(`d.product_id = ?`, f.ProductID)
	}
	if !f.Since.IsZero() {
		c.add(`d.started_at >= ?`, f.Since)
	}
	if !f.Until.IsZero() {
		c.add(`d.started_at < ?`, f.Until)
	}
	// One row per grant: its first request in the range, its requests and
	// bytes, and whether one request sent the whole file. The sums are
	// cast because PostgreSQL sums bigints into numeric.
	perGrant := `SELECT d.grant_id, d.org_id, d.artifact_id, MIN(d.started_at) AS first_at, COUNT(*) AS requests,
		CAST(SUM(d.bytes) AS BIGINT) AS bytes,
		MAX(CASE WHEN d.completed AND d.range_header = '' THEN 1 ELSE 0 END) AS whole
		FROM downloads d` + c.String() + ` GROUP BY d.grant_id, d.org_id, d.artifact_id`
	counts := `COUNT(*), CAST(COALESCE(SUM(CASE WHEN g.whole = 1 OR g.bytes >= gr.size THEN 1 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(g.requests), 0) AS BIGINT), CAST(COALESCE(SUM(g.bytes), 0) AS BIGINT)`
	from := ` FROM (` + perGrant + `) g JOIN grants gr ON gr.id = g.grant_id`

	out := &freight.DownloadStats{Rows: []freight.DownloadStat{}}
	t := &out.Total
	if err := s.queryRow(ctx, `SELECT `+counts+from, c.args...).Scan(&t.Downloads, &t.Completed, &t.Requests, &t.Bytes); err != nil {
		return nil, s.fail(ctx, err, nil)
	}

	var q string
	args := c.args
	switch f.Group {
	case freight.GroupDay:
		day := `substr(g.first_at, 1, 10)`
		if s.db.dialect == dialectPostgres {
			day = `to_char(g.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
		}
		q = `SELECT ` + day + `, '', '', '', ` + counts + from + ` GROUP BY ` + day
	case freight.GroupRelease:
		q = `SELECT COALESCE(r.id, ''), '', COALESCE(r.version, ''), COALESCE(r.product_id, ''), ` + counts + from +
			` LEFT JOIN artifacts a ON a.id = g.artifact_id LEFT JOIN releases r ON r.id = a.release_id
			GROUP BY r.id, r.version, r.product_id`
	case freight.GroupOrganization:
		q = `SELECT COALESCE(g.org_id, ''), COALESCE(o.name, ''), '', '', ` + counts + from +
			` LEFT JOIN organizations o ON o.id = g.org_id GROUP BY g.org_id, o.name`
	case freight.GroupArtifact:
		q = `SELECT g.artifact_id, COALESCE(a.filename, ''), COALESCE(r.version, ''), COALESCE(r.product_id, ''), ` + counts + from +
			` LEFT JOIN artifacts a ON a.id = g.artifact_id LEFT JOIN releases r ON r.id = a.release_id
			GROUP BY g.artifact_id, a.filename, r.version, r.product_id`
	}
	if f.Group != freight.GroupDay {
		// Ordered by the aggregates' positions: 5 downloads, 8 bytes, 1 key.
		q += ` ORDER BY 5 DESC, 8 DESC, 1 LIMIT ?`
		args = append(args[:len(args):len(args)], freight.Page{Limit: f.Limit}.Size())
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	for rows.Next() {
		var r freight.DownloadStat
		if err := rows.Scan(&r.Key, &r.Name, &r.Version, &r.ProductID, &r.Downloads, &r.Completed, &r.Requests, &r.Bytes); err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out.Rows = append(out.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	if f.Group == freight.GroupDay {
		out.Rows = fillDays(days, out.Rows)
	}
	return out, nil
}

// statsDays lists the UTC days from since's to the one holding the last
// instant before until.
func statsDays(since, until time.Time) ([]string, error) {
	if since.IsZero() || until.IsZero() {
		return nil, freight.FieldError("since", "and until are required to count by day")
	}
	since, until = normTime(since), normTime(until)
	if !until.After(since) {
		return nil, freight.FieldError("until", "must be after since")
	}
	first := since.Truncate(24 * time.Hour)
	last := until.Add(-time.Microsecond).Truncate(24 * time.Hour)
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n > freight.MaxStatsDays {
		return nil, freight.FieldError("until", "must be at most %d days after since", freight.MaxStatsDays)
	}
	days := make([]string, 0, n)
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(statsDayLayout))
	}
	return days, nil
}

// fillDays returns a row for every day, in order: the counted one, or
// zeros.
func fillDays(days []string, counted []freight.DownloadStat) []freight.DownloadStat {
	byDay := make(map[string]freight.DownloadStat, len(counted))
	for _, r := range counted {
		byDay[r.Key] = r
	}
	out := make([]freight.DownloadStat, len(days))
	for i, d := range days {
		r, ok := byDay[d]
		if !ok {
			r = freight.DownloadStat{Key: d}
		}
		out[i] = r
	}
	return out
}
