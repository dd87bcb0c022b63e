package client

import (
	"context"
	"net/url"

	"github.com/freight-portal/freight"
)

// entitlementBody is what the API accepts of an entitlement: every field a
// caller sets. Fields the server does not know are refused, so the
// stored ones (id, times) stay out. The limits name each of their fields:
// a PATCH merges an object into the stored one, and the zero limits that
// clear them would otherwise be an empty object, which changes nothing.
func entitlementBody(e *freight.Entitlement) map[string]any {
	limits := map[string]any{"downloads": e.Limits.Downloads, "bytes": e.Limits.Bytes, "period": e.Limits.Period}
	return map[string]any{"org_id": e.OrgID, "product_id": e.ProductID, "channels": e.Channels, "version_range": e.VersionRange,
		"maintenance_until": e.MaintenanceUntil, "not_before": e.NotBefore, "not_after": e.NotAfter,
		"platforms": e.Platforms, "arches": e.Arches, "limits": limits}
}

// EntitlementFilter narrows Entitlements; empty fields do not filter.
type EntitlementFilter struct {
	OrgID     string
	ProductID string
}

// Entitlements lists one page of entitlements.
func (c *Client) Entitlements(ctx context.Context, f EntitlementFilter, p freight.Page) (List[*freight.Entitlement], error) {
	q := url.Values{}
	if f.OrgID != "" {
		q.Set("org_id", f.OrgID)
	}
	if f.ProductID != "" {
		q.Set("product_id", f.ProductID)
	}
	var l List[*freight.Entitlement]
	return l, c.Do(ctx, "GET", listPath("/api/v1/entitlements", q, p), nil, &l)
}

// Entitlement returns an entitlement by id.
func (c *Client) Entitlement(ctx context.Context, id string) (*freight.Entitlement, error) {
	var e freight.Entitlement
	return &e, c.Do(ctx, "GET", "/api/v1/entitlements/"+url.PathEscape(id), nil, &e)
}

// CreateEntitlement entitles an organization to a product with the
// clauses of e; its id and times are the server's to set.
func (c *Client) CreateEntitlement(ctx context.Context, e *freight.Entitlement) (*freight.Entitlement, error) {
	var out freight.Entitlement
	return &out, c.Do(ctx, "POST", "/api/v1/entitlements", entitlementBody(e), &out)
}

// UpdateEntitlement sets every clause of the entitlement e.ID to e's: a
// clause left empty in e is cleared. Read the entitlement, change it and
// send it back. The organization and the product cannot change.
func (c *Client) UpdateEntitlement(ctx context.Context, e *freight.Entitlement) (*freight.Entitlement, error) {
	var out freight.Entitlement
	return &out, c.Do(ctx, "PATCH", "/api/v1/entitlements/"+url.PathEscape(e.ID), entitlementBody(e), &out)
}

// DeleteEntitlement deletes an entitlement: the organization loses access
// to the product at once.
func (c *Client) DeleteEntitlement(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/entitlements/"+url.PathEscape(id), nil, nil)
}
