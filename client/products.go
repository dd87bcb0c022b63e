package client

import (
	"context"
	"net/url"

	"github.com/freight-portal/freight"
)

// Product returns a product by id or slug.
func (c *Client) Product(ctx context.Context, ref string) (*freight.Product, error) {
	var p freight.Product
	return &p, c.Do(ctx, "GET", "/api/v1/products/"+url.PathEscape(ref), nil, &p)
}

// Products lists one page of products.
func (c *Client) Products(ctx context.Context, p freight.Page) (List[*freight.Product], error) {
	var l List[*freight.Product]
	return l, c.Do(ctx, "GET", listPath("/api/v1/products", nil, p), nil, &l)
}

// CreateProduct creates a product.
func (c *Client) CreateProduct(ctx context.Context, slug, name, description string) (*freight.Product, error) {
	var p freight.Product
	in := map[string]string{"slug": slug, "name": name, "description": description}
	return &p, c.Do(ctx, "POST", "/api/v1/products", in, &p)
}

// ProductUpdate names the fields of a product to change; nil fields keep
// their value.
type ProductUpdate struct {
	Slug          *string `json:"slug,omitempty"`
	Name          *string `json:"name,omitempty"`
	Description   *string `json:"description,omitempty"`
	PrefetchEdges *bool   `json:"prefetch_edges,omitempty"`
}

// UpdateProduct changes a product, named by id or slug.
func (c *Client) UpdateProduct(ctx context.Context, ref string, u ProductUpdate) (*freight.Product, error) {
	var p freight.Product
	return &p, c.Do(ctx, "PATCH", "/api/v1/products/"+url.PathEscape(ref), u, &p)
}

// DeleteProduct deletes a product that has no releases (admins only).
func (c *Client) DeleteProduct(ctx context.Context, ref string) error {
	return c.Do(ctx, "DELETE", "/api/v1/products/"+url.PathEscape(ref), nil, nil)
}

// ReleaseFilter narrows Releases.
type ReleaseFilter struct {
	State   freight.ReleaseState
	Channel freight.Channel
}

// Releases lists one page of a product's releases, newest first.
func (c *Client) Releases(ctx context.Context, product string, f ReleaseFilter, p freight.Page) (List[*freight.Release], error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Channel != "" {
		q.Set("channel", string(f.Channel))
	}
	var l List[*freight.Release]
	return l, c.Do(ctx, "GET", listPath("/api/v1/products/"+url.PathEscape(product)+"/releases", q, p), nil, &l)
}

// Release returns a release by id.
func (c *Client) Release(ctx context.Context, id string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "GET", "/api/v1/releases/"+url.PathEscape(id), nil, &r)
}

// CreateRelease creates a draft release of a product.
func (c *Client) CreateRelease(ctx context.Context, product, version string, channel freight.Channel, notes string) (*freight.Release, error) {
	in := map[string]any{"version": version, "notes": notes}
	if channel != "" {
		in["channel"] = channel
	}
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/products/"+url.PathEscape(product)+"/releases", in, &r)
}

// ReleaseUpdate names the fields of a release to change; nil fields keep
// their value. The version is fixed at creation, and the channel changes
// only while the release is a draft.
type ReleaseUpdate struct {
	Channel *freight.Channel `json:"channel,omitempty"`
	Notes   *string          `json:"notes,omitempty"`
}

// UpdateRelease changes a release.
func (c *Client) UpdateRelease(ctx context.Context, id string, u ReleaseUpdate) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "PATCH", "/api/v1/releases/"+url.PathEscape(id), u, &r)
}

// DeleteRelease deletes a draft release with its files.
func (c *Client) DeleteRelease(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/releases/"+url.PathEscape(id), nil, nil)
}

// PublishRelease publishes a draft.
func (c *Client) PublishRelease(ctx context.Context, id string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(id)+"/publish", nil, &r)
}

// YankRelease withdraws a published release.
func (c *Client) YankRelease(ctx context.Context, id, reason string) (*freight.Release, error) {
	var r freight.Release
	return &r, c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(id)+"/yank", map[string]string{"reason": reason}, &r)
}

// Artifacts lists one page of a release's files.
func (c *Client) Artifacts(ctx context.Context, releaseID string, p freight.Page) (List[*freight.Artifact], error) {
	var l List[*freight.Artifact]
	return l, c.Do(ctx, "GET", listPath("/api/v1/releases/"+url.PathEscape(releaseID)+"/artifacts", nil, p), nil, &l)
}

// Artifact returns an artifact by id.
func (c *Client) Artifact(ctx context.Context, id string) (*freight.Artifact, error) {
	var a freight.Artifact
	return &a, c.Do(ctx, "GET", "/api/v1/artifacts/"+url.PathEscape(id), nil, &a)
}

// DeleteArtifact removes a file of a draft release.
func (c *Client) DeleteArtifact(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/artifacts/"+url.PathEscape(id), nil, nil)
}
