package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// CreateOrganization creates a customer organization.
func (c *Client) CreateOrganization(ctx context.Context, slug, name string) (*freight.Organization, error) {
	var o freight.Organization
	return &o, c.Do(ctx, "POST", "/api/v1/organizations", map[string]string{"slug": slug, "name": name}, &o)
}

// Organization returns an organization by id or slug.
func (c *Client) Organization(ctx context.Context, ref string) (*freight.Organization, error) {
	var o freight.Organization
	return &o, c.Do(ctx, "GET", "/api/v1/organizations/"+url.PathEscape(ref), nil, &o)
}

// Organizations lists one page of organizations.
func (c *Client) Organizations(ctx context.Context, p freight.Page) (List[*freight.Organization], error) {
	var l List[*freight.Organization]
	return l, c.Do(ctx, "GET", listPath("/api/v1/organizations", nil, p), nil, &l)
}

// CreateUser creates a user; vendorRole is empty for a customer's user.
func (c *Client) CreateUser(ctx context.Context, email, name string, vendorRole freight.Role) (*freight.User, error) {
	in := map[string]any{"email": email, "name": name}
	if vendorRole != "" {
		in["vendor_role"] = vendorRole
	}
	var u freight.User
	return &u, c.Do(ctx, "POST", "/api/v1/users", in, &u)
}

// PutMember gives a user a role in an organization.
func (c *Client) PutMember(ctx context.Context, org, userID string, role freight.Role) (*freight.Membership, error) {
	var m freight.Membership
	return &m, c.Do(ctx, "PUT", "/api/v1/organizations/"+url.PathEscape(org)+"/members/"+url.PathEscape(userID), map[string]any{"role": role}, &m)
}

// CreateEntitlement entitles an organization to a product. Fields the
// server does not know are refused, so e carries only what it sets.
func (c *Client) CreateEntitlement(ctx context.Context, e *freight.Entitlement) (*freight.Entitlement, error) {
	in := map[string]any{"org_id": e.OrgID, "product_id": e.ProductID, "channels": e.Channels, "version_range": e.VersionRange,
		"maintenance_until": e.MaintenanceUntil, "not_before": e.NotBefore, "not_after": e.NotAfter,
		"platforms": e.Platforms, "arches": e.Arches, "limits": e.Limits}
	var out freight.Entitlement
	return &out, c.Do(ctx, "POST", "/api/v1/entitlements", in, &out)
}

// NewToken describes a token to create.
type NewToken struct {
	Name      string       `json:"name"`
	Role      freight.Role `json:"role"`
	OrgID     string       `json:"org_id,omitempty"`
	UserID    string       `json:"user_id,omitempty"`
	ExpiresAt *time.Time   `json:"expires_at,omitempty"`
}

// CreatedToken is a new token with its secret, shown this once.
type CreatedToken struct {
	freight.Token
	Secret string `json:"secret"`
}

// CreateToken creates an API token.
func (c *Client) CreateToken(ctx context.Context, t NewToken) (*CreatedToken, error) {
	var ct CreatedToken
	return &ct, c.Do(ctx, "POST", "/api/v1/tokens", t, &ct)
}

// RevokeToken revokes an API token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// AuditEvents lists one page of the audit log, newest first.
func (c *Client) AuditEvents(ctx context.Context, f freight.AuditFilter) (List[*freight.AuditEvent], error) {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target_type": f.TargetType, "target_id": f.TargetID, "org_id": f.OrgID} {
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
	var l List[*freight.AuditEvent]
	return l, c.Do(ctx, "GET", listPath("/api/v1/audit", q, f.Page), nil, &l)
}

// Downloads lists one page of the download log, newest first.
func (c *Client) Downloads(ctx context.Context, f freight.DownloadFilter) (List[*freight.Download], error) {
	q := url.Values{}
	for k, v := range map[string]string{"org_id": f.OrgID, "product_id": f.ProductID, "artifact_id": f.ArtifactID, "grant_id": f.GrantID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var l List[*freight.Download]
	return l, c.Do(ctx, "GET", listPath("/api/v1/downloads", q, f.Page), nil, &l)
}

// Licenses lists one page of licenses (a member sees its organization's).
func (c *Client) Licenses(ctx context.Context, f freight.LicenseFilter) (List[*freight.License], error) {
	q := url.Values{}
	for k, v := range map[string]string{"org_id": f.OrgID, "product_id": f.ProductID, "state": string(f.State)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var l List[*freight.License]
	return l, c.Do(ctx, "GET", listPath("/api/v1/licenses", q, f.Page), nil, &l)
}
