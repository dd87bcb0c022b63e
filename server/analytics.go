package server

import (
	"context"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// dateLayout is how the analytics name days, in UTC.
const dateLayout = "2006-01-02"

// defaultAnalyticsDays is the range analytics cover when none is given:
// the last 30 days, today included.
const defaultAnalyticsDays = 30

// analyticsQuery is a request for download figures, read from the query
// and narrowed to what the caller may see.
type analyticsQuery struct {
	Group     freight.DownloadGroup
	From, To  time.Time // UTC days, both included
	OrgID     string
	ProductID string
	Limit     int
}

func (q analyticsQuery) filter() freight.DownloadStatsFilter {
	return freight.DownloadStatsFilter{Group: q.Group, OrgID: q.OrgID, ProductID: q.ProductID,
		Since: q.From, Until: q.To.AddDate(0, 0, 1), Limit: q.Limit}
}

// values writes the query back as URL parameters, for links to the same
// figures in another group or format.
func (q analyticsQuery) values() url.Values {
	v := url.Values{}
	v.Set("group", string(q.Group))
	v.Set("from", q.From.Format(dateLayout))
	v.Set("to", q.To.Format(dateLayout))
	if q.ProductID != "" {
		v.Set("product", q.ProductID)
	}
	if q.OrgID != "" {
		v.Set("org", q.OrgID)
	}
	return v
}

// parseAnalyticsQuery reads group, from, to, product, org and limit. The
// range defaults to the last 30 days. An org-admin is kept to its own
// organization: naming another one is refused, whether it exists or not.
func (s *Server) parseAnalyticsQuery(ctx context.Context, p freight.Principal, q url.Values) (analyticsQuery, error) {
	a := analyticsQuery{Group: freight.DownloadGroup(q.Get("group"))}
	if a.Group == "" {
		a.Group = freight.GroupDay
	}
	if !a.Group.Valid() {
		return a, freight.FieldError("group", "must be one of day, release, organization, artifact")
	}
	today := s.now().UTC().Truncate(24 * time.Hour)
	var err error
	if a.To, err = queryDate(q, "to", today); err != nil {
		return a, err
	}
	if a.From, err = queryDate(q, "from", a.To.AddDate(0, 0, 1-defaultAnalyticsDays)); err != nil {
		return a, err
	}
	if a.To.Before(a.From) {
		return a, freight.FieldError("to", "must not be before from")
	}
	if days := int(a.To.Sub(a.From)/(24*time.Hour)) + 1; days > freight.MaxStatsDays {
		return a, freight.FieldError("from", "must be at most %d days before to", freight.MaxStatsDays)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > freight.MaxPageSize {
			return a, freight.FieldError("limit", "must be an integer from 1 to %d", freight.MaxPageSize)
		}
		a.Limit = n
	}
	if ref := q.Get("product"); ref != "" {
		// An id is taken as it is: the product may be gone, its
		// downloads are not.
		if freight.ValidID(freight.PrefixProduct, ref) {
			a.ProductID = ref
		} else if pr, err := productRef(ctx, s.store, ref); err != nil {
			return a, err
		} else {
			a.ProductID = pr.ID
		}
	}
	ref := q.Get("org")
	if !p.CanRead() {
		if p.Role != freight.RoleOrgAdmin || p.OrgID == "" {
			return a, need(p, false, "see download figures")
		}
		if ref != "" {
			if err := s.sameOrg(ctx, p, ref, "see download figures"); err != nil {
				return a, err
			}
		}
		a.OrgID = p.OrgID
		return a, nil
	}
	if ref != "" {
		if freight.ValidID(freight.PrefixOrganization, ref) {
			a.OrgID = ref
		} else if o, err := organizationRef(ctx, s.store, ref); err != nil {
			return a, err
		} else {
			a.OrgID = o.ID
		}
	}
	return a, nil
}

// queryDate reads an optional day (2006-01-02, UTC) from the query.
func queryDate(q url.Values, name string, def time.Time) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(dateLayout, v)
	if err != nil {
		return time.Time{}, freight.FieldError(name, "must be a day like 2026-01-31 (UTC)")
	}
	return t, nil
}

// analyticsCounts are DownloadCounts with their completion rate, as the
// API writes them.
type analyticsCounts struct {
	freight.DownloadCounts
	CompletionRate float64 `json:"completion_rate"`
}

func withRate(c freight.DownloadCounts) analyticsCounts {
	return analyticsCounts{c, c.CompletionRate()}
}

// analyticsRow is one row of the answer: a DownloadStat with a label for
// people.
type analyticsRow struct {
	Key       string `json:"key"`
	Label     string `json:"label"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
	ProductID string `json:"product_id,omitempty"`
	analyticsCounts
}

// analyticsAnswer is the answer of GET /api/v1/analytics/downloads.
type analyticsAnswer struct {
	Group     freight.DownloadGroup `json:"group"`
	From      string                `json:"from"`
	To        string                `json:"to"`
	OrgID     string                `json:"org_id,omitempty"`
	ProductID string                `json:"product_id,omitempty"`
	Total     analyticsCounts       `json:"total"`
	Rows      []analyticsRow        `json:"rows"`
}

// downloadFigures asks the store for the figures of q and labels them.
func (s *Server) downloadFigures(ctx context.Context, q analyticsQuery) (*analyticsAnswer, error) {
	st, err := s.store.DownloadStats(ctx, q.filter())
	if err != nil {
		return nil, err
	}
	out := &analyticsAnswer{Group: q.Group, From: q.From.Format(dateLayout), To: q.To.Format(dateLayout),
		OrgID: q.OrgID, ProductID: q.ProductID, Total: withRate(st.Total), Rows: make([]analyticsRow, 0, len(st.Rows))}
	products := map[string]string{}
	productName := func(id string) (string, error) {
		if name, ok := products[id]; ok {
			return name, nil
		}
		pr, err := s.store.Product(ctx, id)
		switch {
		case freight.ErrorCode(err) == freight.ENOTFOUND:
			products[id] = ""
			return "", nil
		case err != nil:
			return "", err
		}
		products[id] = pr.Name
		return pr.Name, nil
	}
	for _, r := range st.Rows {
		row := analyticsRow{Key: r.Key, Name: r.Name, Version: r.Version, ProductID: r.ProductID, analyticsCounts: withRate(r.DownloadCounts)}
		switch q.Group {
		case freight.GroupDay:
			row.Label = r.Key
		case freight.GroupRelease:
			name, err := productName(r.ProductID)
			if err != nil {
				return nil, err
			}
			row.Label = strings.TrimSpace(name + " " + r.Version)
		case freight.GroupOrganization:
			switch {
			case r.Key == "":
				row.Label = "Vendor staff"
			case r.Name == "":
				row.Label = "Deleted organization " + r.Key
			default:
				row.Label = r.Name
			}
		case freight.GroupArtifact:
			row.Label = r.Name
		}
		if row.Label == "" {
			row.Label = r.Key
		}
		out.Rows = append(out.Rows, row)
	}
	return out, nil
}

// downloadAnalytics answers GET /api/v1/analytics/downloads: the figures
// of the downloads by day, release, organization or artifact, as JSON or,
// with ?format=csv or Accept: text/csv, as a CSV file.
func (s *Server) downloadAnalytics(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := s.parseAnalyticsQuery(ctx, principal(ctx), r.URL.Query())
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "csv":
	default:
		return freight.FieldError("format", "must be json or csv")
	}
	a, err := s.downloadFigures(ctx, q)
	if err != nil {
		return err
	}
	if format == "csv" || (format == "" && acceptsCSV(r)) {
		writeAnalyticsCSV(w, a)
		return nil
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// acceptsCSV reports whether the request's Accept header prefers CSV to
// JSON: it names text/csv and not application/json before it.
func acceptsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case "application/json":
			return false
		}
	}
	return false
}

// analyticsKeyColumn names the first column of the CSV by group.
var analyticsKeyColumn = map[freight.DownloadGroup]string{
	freight.GroupDay: "day", freight.GroupRelease: "release_id", freight.GroupOrganization: "org_id", freight.GroupArtifact: "artifact_id",
}

// writeAnalyticsCSV writes the figures as a CSV file, a row per group. Every text cell goes through csvSafe: an
// organization's name is the customer's to choose, and a spreadsheet
// would run one that starts with = as a formula.
func writeAnalyticsCSV(w http.ResponseWriter, a *analyticsAnswer) {
	name := fmt.Sprintf("downloads-by-%s-%s-to-%s.csv", a.Group, a.From, a.To)
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{analyticsKeyColumn[a.Group], "label", "version", "product_id", "downloads", "completed", "completion_rate", "requests", "bytes"})
	cells := func(c analyticsCounts) []string {
		return []string{strconv.FormatInt(c.Downloads, 10), strconv.FormatInt(c.Completed, 10),
			strconv.FormatFloat(c.CompletionRate, 'f', 4, 64), strconv.FormatInt(c.Requests, 10), strconv.FormatInt(c.Bytes, 10)}
	}
	for _, r := range a.Rows {
		cw.Write(append([]string{csvSafe(r.Key), csvSafe(r.Label), csvSafe(r.Version), csvSafe(r.ProductID)}, cells(r.analyticsCounts)...))
	}
	cw.Flush()
}
