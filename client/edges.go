package client

import (
	"context"
	"net/url"

	"github.com/freight-portal/freight"
)

// Edge is an edge node as the API shows it: as it last reported itself,
// whether it gets downloads now, and the share of requests its cache
// answered.
type Edge struct {
	freight.Edge
	Healthy  bool    `json:"healthy"`
	HitRatio float64 `json:"hit_ratio"`
}

// CreatedEdge is a new edge with its credential (for freight edge
// --token), shown this once.
type CreatedEdge struct {
	Edge
	Credential string `json:"credential"`
}

// Edges lists one page of edge nodes.
func (c *Client) Edges(ctx context.Context, p freight.Page) (List[*Edge], error) {
	var l List[*Edge]
	return l, c.Do(ctx, "GET", listPath("/api/v1/edges", nil, p), nil, &l)
}

// Edge returns an edge node by id.
func (c *Client) Edge(ctx context.Context, id string) (*Edge, error) {
	var e Edge
	return &e, c.Do(ctx, "GET", "/api/v1/edges/"+url.PathEscape(id), nil, &e)
}

// CreateEdge registers an edge node in a region and answers its
// credential, this once. The node reports its public URL itself.
func (c *Client) CreateEdge(ctx context.Context, name, region string) (*CreatedEdge, error) {
	var e CreatedEdge
	return &e, c.Do(ctx, "POST", "/api/v1/edges", map[string]string{"name": name, "region": region}, &e)
}

// DeleteEdge removes an edge node; its credential stops working.
func (c *Client) DeleteEdge(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/edges/"+url.PathEscape(id), nil, nil)
}
