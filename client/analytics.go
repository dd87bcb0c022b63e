package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// Downloads lists one page of the download log, newest first: every
// request that served bytes (an org-admin sees its organization's).
func (c *Client) Downloads(ctx context.Context, f freight.DownloadFilter) (List[*freight.Download], error) {
	q := url.Values{}
	for k, v := range map[string]string{"org_id": f.OrgID, "product_id": f.ProductID, "artifact_id": f.ArtifactID, "grant_id": f.GrantID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	var l List[*freight.Download]
	return l, c.Do(ctx, "GET", listPath("/api/v1/downloads", q, f.Page), nil, &l)
}

// FiguresQuery asks DownloadFigures for the downloads of a range of UTC
// days, grouped.
type FiguresQuery struct {
	// Group is how rows are made (freight.GroupDay when empty).
	Group freight.DownloadGroup
	// From and To are the first and last day, both included, as dates in
	// UTC; zero takes the last 30 days.
	From, To time.Time
	// Product and Org narrow to one product and one organization (id or
	// slug); an org-admin sees its own organization's only.
	Product, Org string
	// Limit bounds the rows of groups other than days (largest first).
	Limit int
}

// FigureCounts are the figures of a set of downloads with their
// completion rate.
type FigureCounts struct {
	freight.DownloadCounts
	CompletionRate float64 `json:"completion_rate"`
}

// FigureRow is one row of DownloadFigures: a day, release, organization
// or artifact, named for people by Label.
type FigureRow struct {
	Key       string `json:"key"`
	Label     string `json:"label"`
	Name      string `json:"name,omitempty"`
	Version   string `json:"version,omitempty"`
	ProductID string `json:"product_id,omitempty"`
	FigureCounts
}

// Figures are download figures: the total and a row per group.
type Figures struct {
	Group     freight.DownloadGroup `json:"group"`
	From      string                `json:"from"` // 2006-01-02
	To        string                `json:"to"`
	OrgID     string                `json:"org_id,omitempty"`
	ProductID string                `json:"product_id,omitempty"`
	Total     FigureCounts          `json:"total"`
	Rows      []FigureRow           `json:"rows"`
}

// DownloadFigures answers download figures: downloads (one per signed URL
// however many requests it took), those completed, requests and bytes.
func (c *Client) DownloadFigures(ctx context.Context, fq FiguresQuery) (*Figures, error) {
	q := url.Values{}
	if fq.Group != "" {
		q.Set("group", string(fq.Group))
	}
	if !fq.From.IsZero() {
		q.Set("from", fq.From.UTC().Format(time.DateOnly))
	}
	if !fq.To.IsZero() {
		q.Set("to", fq.To.UTC().Format(time.DateOnly))
	}
	if fq.Product != "" {
		q.Set("product", fq.Product)
	}
	if fq.Org != "" {
		q.Set("org", fq.Org)
	}
	if fq.Limit > 0 {
		q.Set("limit", fmt.Sprint(fq.Limit))
	}
	var f Figures
	return &f, c.Do(ctx, "GET", listPath("/api/v1/analytics/downloads", q, freight.Page{}), nil, &f)
}
