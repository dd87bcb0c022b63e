package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// CatalogEntry is one release the caller may download, with its files.
type CatalogEntry struct {
	Product struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"product"`
	Release   *freight.Release    `json:"release"`
	Artifacts []*freight.Artifact `json:"artifacts"`
}

// CatalogFilter narrows the catalog.
type CatalogFilter struct {
	Product  string // id or slug
	Platform string
	Arch     string
}

func (f CatalogFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"product": f.Product, "platform": f.Platform, "arch": f.Arch} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Catalog lists one page of what the caller may download, newest first.
func (c *Client) Catalog(ctx context.Context, f CatalogFilter, p freight.Page) (List[CatalogEntry], error) {
	var l List[CatalogEntry]
	return l, c.Do(ctx, "GET", listPath("/api/v1/catalog", f.values(), p), nil, &l)
}

// Upgrade answers the newest release of product newer than from that the
// caller may download, with files for the platform and arch when given;
// nil when there is none.
func (c *Client) Upgrade(ctx context.Context, product, from string, channel freight.Channel, platform, arch string) (*CatalogEntry, error) {
	q := CatalogFilter{Platform: platform, Arch: arch}.values()
	q.Set("from", from)
	if channel != "" {
		q.Set("channel", string(channel))
	}
	resp, err := c.send(ctx, "GET", "/api/v1/products/"+url.PathEscape(product)+"/upgrade?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var e CatalogEntry
	if err := decodeJSON(resp.Body, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Grant is a signed download URL and what it names.
type Grant struct {
	GrantID     string    `json:"grant_id"`
	URL         string    `json:"url"`
	ExpiresAt   time.Time `json:"expires_at"`   // a new download must start before
	ResumeUntil time.Time `json:"resume_until"` // ranged requests work until
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
}

// Download asks for a signed URL of an artifact.
func (c *Client) Download(ctx context.Context, artifactID string) (*Grant, error) {
	var g Grant
	return &g, c.Do(ctx, "POST", "/api/v1/artifacts/"+url.PathEscape(artifactID)+"/download", nil, &g)
}

// OrganizationCatalog lists one page of what an organization's members may
// download now, as Catalog answers them; for vendor staff.
func (c *Client) OrganizationCatalog(ctx context.Context, org string, f CatalogFilter, p freight.Page) (List[CatalogEntry], error) {
	var l List[CatalogEntry]
	return l, c.Do(ctx, "GET", listPath("/api/v1/organizations/"+url.PathEscape(org)+"/catalog", f.values(), p), nil, &l)
}

// Changes of a release in a catalog preview.
const (
	PreviewKept    = "kept"    // seen now and with the draft
	PreviewAdded   = "added"   // seen with the draft only
	PreviewRemoved = "removed" // seen now only
)

// PreviewEntry is one release of a catalog preview and what the draft
// entitlement changes about it (PreviewKept, PreviewAdded or
// PreviewRemoved).
type PreviewEntry struct {
	CatalogEntry
	Change string `json:"change"`
}

// PreviewCatalog answers what an organization's members would see with a
// draft entitlement, before it is saved: every release seen now or with
// the draft, newest first. draft is added (the new version of the
// entitlement replaces names, when set); draft nil with replaces previews
// deleting that entitlement. Nothing is stored.
func (c *Client) PreviewCatalog(ctx context.Context, org string, draft *freight.Entitlement, replaces string) ([]PreviewEntry, error) {
	in := map[string]any{}
	if draft != nil {
		in["entitlement"] = entitlementBody(draft)
	}
	if replaces != "" {
		in["replaces"] = replaces
	}
	var l List[PreviewEntry]
	return l.Items, c.Do(ctx, "POST", "/api/v1/organizations/"+url.PathEscape(org)+"/catalog/preview", in, &l)
}
