package server

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/freight-portal/freight"
)

// analyticsRanges are the ranges the analytics page offers, in days.
var analyticsRanges = []int{7, 30, 90, 365}

type selectOption struct {
	Value, Label string
	Selected     bool
}

// figureTable is the data of one chart as a table: the accessible
// version of the chart, and the one to read exact figures from.
type figureTable struct {
	Caption string
	Column  string // the heading of the first column
	Rows    []analyticsRow
	CSV     string // the URL of the same figures as CSV
}

type analyticsPage struct {
	Ranges              []selectOption
	Products            []selectOption
	Orgs                []selectOption
	From, To            string
	Total               analyticsCounts
	Rate                string // the completion rate in percent, "" without downloads
	Empty               bool
	DownloadsChart      columnChart
	BytesChart          columnChart
	ReleaseChart        barChart
	OrgChart            barChart
	ArtifactChart       barChart
	Days                figureTable
	Releases, OrgsTable figureTable
	Artifacts           figureTable
}

// analyticsPage shows the vendor's download figures: charts by day,
// release, organization and file, with the completion rate, filtered by
// range, product and organization, each with its table and CSV link.
func (s *Server) analyticsPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	in := r.URL.Query()
	days := 30
	if v := in.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(analyticsRanges, n) {
			return freight.FieldError("days", "must be one of 7, 30, 90 or 365")
		}
		days = n
	}
	today := s.now().UTC().Format(dateLayout)
	from := s.now().UTC().AddDate(0, 0, 1-days).Format(dateLayout)
	q, err := s.parseAnalyticsQuery(ctx, p, url.Values{"from": {from}, "to": {today}, "product": {in.Get("product")}, "org": {in.Get("org")}})
	if err != nil {
		return err
	}
	body := analyticsPage{From: q.From.Format(dateLayout), To: q.To.Format(dateLayout)}
	for _, n := range analyticsRanges {
		body.Ranges = append(body.Ranges, selectOption{Value: strconv.Itoa(n), Label: "Last " + strconv.Itoa(n) + " days", Selected: n == days})
	}
	if body.Products, err = s.productOptions(ctx, q.ProductID); err != nil {
		return err
	}
	if body.Orgs, err = s.orgOptions(ctx, q.OrgID); err != nil {
		return err
	}

	figures := map[freight.DownloadGroup]*analyticsAnswer{}
	for _, g := range []freight.DownloadGroup{freight.GroupDay, freight.GroupRelease, freight.GroupOrganization, freight.GroupArtifact} {
		gq := q
		gq.Group = g
		if g != freight.GroupDay {
			gq.Limit = 25
		}
		a, err := s.downloadFigures(ctx, gq)
		if err != nil {
			return err
		}
		figures[g] = a
	}
	table := func(g freight.DownloadGroup, caption, column string) figureTable {
		gq := q
		gq.Group = g
		v := gq.values()
		v.Set("format", "csv")
		return figureTable{Caption: caption, Column: column, Rows: figures[g].Rows, CSV: "/api/v1/analytics/downloads?" + v.Encode()}
	}
	body.Total = figures[freight.GroupDay].Total
	body.Empty = body.Total.Downloads == 0
	if !body.Empty {
		body.Rate = formatPercent(body.Total.CompletionRate)
	}
	var downloads, bytes []dayPoint
	for _, r := range figures[freight.GroupDay].Rows {
		downloads = append(downloads, dayPoint{r.Key, r.Downloads})
		bytes = append(bytes, dayPoint{r.Key, r.Bytes})
	}
	body.DownloadsChart = newColumnChart("Downloads per day", "Downloads started each day, "+body.From+" to "+body.To+" (UTC)", downloads, false, formatCount)
	body.BytesChart = newColumnChart("Bytes per day", "Bytes sent each day, "+body.From+" to "+body.To+" (UTC)", bytes, true, formatBytes)
	bars := func(g freight.DownloadGroup, title string) barChart {
		var items []barItem
		for _, r := range figures[g].Rows {
			items = append(items, barItem{Label: r.Label, Value: r.Downloads,
				Title: r.Label + ": " + plural(r.Downloads, "download") + ", " + formatBytes(r.Bytes)})
		}
		return newBarChart(title, items, formatCount)
	}
	body.ReleaseChart = bars(freight.GroupRelease, "Downloads per release")
	body.OrgChart = bars(freight.GroupOrganization, "Downloads per organization")
	body.ArtifactChart = bars(freight.GroupArtifact, "Top files")
	body.Days = table(freight.GroupDay, "Downloads and bytes per day", "Day")
	body.Releases = table(freight.GroupRelease, "Downloads per release", "Release")
	body.OrgsTable = table(freight.GroupOrganization, "Downloads per organization", "Organization")
	body.Artifacts = table(freight.GroupArtifact, "Downloads per file", "File")
	return s.render(w, r, p, "analytics", "Analytics", "console", body)
}

// plural writes a count with its noun.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// productOptions lists every product for a filter, by name.
func (s *Server) productOptions(ctx context.Context, selected string) ([]selectOption, error) {
	out := []selectOption{{Value: "", Label: "All products", Selected: selected == ""}}
	f := freight.ProductFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
	var opts []selectOption
	for {
		ps, next, err := s.store.Products(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, pr := range ps {
			opts = append(opts, selectOption{Value: pr.ID, Label: pr.Name, Selected: pr.ID == selected})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	return append(out, sortOptions(opts)...), nil
}

// orgOptions lists every organization for a filter, by name.
func (s *Server) orgOptions(ctx context.Context, selected string) ([]selectOption, error) {
	out := []selectOption{{Value: "", Label: "All organizations", Selected: selected == ""}}
	f := freight.OrganizationFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
	var opts []selectOption
	for {
		os, next, err := s.store.Organizations(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			opts = append(opts, selectOption{Value: o.ID, Label: o.Name, Selected: o.ID == selected})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	return append(out, sortOptions(opts)...), nil
}

func sortOptions(opts []selectOption) []selectOption {
	slices.SortFunc(opts, func(a, b selectOption) int {
		return cmp.Compare(strings.ToLower(a.Label), strings.ToLower(b.Label))
	})
	return opts
}
