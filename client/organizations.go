package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// orgPath is the path of an organization, named by id or slug, and of
// what lies under it.
func orgPath(org string, rest ...string) string {
	p := "/api/v1/organizations/" + url.PathEscape(org)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// CreateOrganization creates a customer organization.
func (c *Client) CreateOrganization(ctx context.Context, slug, name string) (*freight.Organization, error) {
	var o freight.Organization
	return &o, c.Do(ctx, "POST", "/api/v1/organizations", map[string]string{"slug": slug, "name": name}, &o)
}

// Organization returns an organization by id or slug.
func (c *Client) Organization(ctx context.Context, ref string) (*freight.Organization, error) {
	var o freight.Organization
	return &o, c.Do(ctx, "GET", orgPath(ref), nil, &o)
}

// Organizations lists one page of organizations.
func (c *Client) Organizations(ctx context.Context, p freight.Page) (List[*freight.Organization], error) {
	var l List[*freight.Organization]
	return l, c.Do(ctx, "GET", listPath("/api/v1/organizations", nil, p), nil, &l)
}

// OrganizationUpdate names the fields of an organization to change; nil
// fields keep their value, and an empty Region clears it.
type OrganizationUpdate struct {
	Slug       *string `json:"slug,omitempty"`
	Name       *string `json:"name,omitempty"`
	RequireMFA *bool   `json:"require_mfa,omitempty"`
	Region     *string `json:"region,omitempty"`
}

// UpdateOrganization changes an organization, named by id or slug.
func (c *Client) UpdateOrganization(ctx context.Context, ref string, u OrganizationUpdate) (*freight.Organization, error) {
	var o freight.Organization
	return &o, c.Do(ctx, "PATCH", orgPath(ref), u, &o)
}

// DeleteOrganization deletes an organization with its memberships,
// entitlements and tokens.
func (c *Client) DeleteOrganization(ctx context.Context, ref string) error {
	return c.Do(ctx, "DELETE", orgPath(ref), nil, nil)
}

// Members lists one page of an organization's memberships.
func (c *Client) Members(ctx context.Context, org string, p freight.Page) (List[*freight.Membership], error) {
	var l List[*freight.Membership]
	return l, c.Do(ctx, "GET", listPath(orgPath(org, "members"), nil, p), nil, &l)
}

// PutMember gives a user a role in an organization. An org-admin changes
// the role of its members only; new people join by invitation.
func (c *Client) PutMember(ctx context.Context, org, userID string, role freight.Role) (*freight.Membership, error) {
	var m freight.Membership
	return &m, c.Do(ctx, "PUT", orgPath(org, "members", url.PathEscape(userID)), map[string]any{"role": role}, &m)
}

// RemoveMember takes a user out of an organization.
func (c *Client) RemoveMember(ctx context.Context, org, userID string) error {
	return c.Do(ctx, "DELETE", orgPath(org, "members", url.PathEscape(userID)), nil, nil)
}

// Invitation is a pending invitation as the API shows it: its secret went
// by mail only.
type Invitation struct {
	freight.Ticket
	// Inviter names who sent it, for people: a user's name or email, or a
	// token's name.
	Inviter string `json:"inviter,omitempty"`
}

// Invite mails an invitation into an organization with an organization
// role; the person accepts it with AcceptInvitation.
func (c *Client) Invite(ctx context.Context, org, email string, role freight.Role) (*Invitation, error) {
	var inv Invitation
	return &inv, c.Do(ctx, "POST", orgPath(org, "invitations"), map[string]any{"email": email, "role": role}, &inv)
}

// Invitations lists one page of an organization's pending invitations:
// neither accepted, withdrawn nor expired.
func (c *Client) Invitations(ctx context.Context, org string, p freight.Page) (List[*Invitation], error) {
	var l List[*Invitation]
	return l, c.Do(ctx, "GET", listPath(orgPath(org, "invitations"), nil, p), nil, &l)
}

// WithdrawInvitation withdraws an organization's pending invitation: its
// link then says it was withdrawn.
func (c *Client) WithdrawInvitation(ctx context.Context, org, id string) (*Invitation, error) {
	var inv Invitation
	return &inv, c.Do(ctx, "DELETE", orgPath(org, "invitations", url.PathEscape(id)), nil, &inv)
}

// OrganizationTokens lists one page of an organization's service-account
// tokens.
func (c *Client) OrganizationTokens(ctx context.Context, org string, p freight.Page) (List[*freight.Token], error) {
	var l List[*freight.Token]
	return l, c.Do(ctx, "GET", listPath(orgPath(org, "tokens"), nil, p), nil, &l)
}

// CreateOrganizationToken creates a service-account token of an
// organization, which downloads what the organization may and nothing
// else. A zero expiresAt takes the server's default lifetime.
func (c *Client) CreateOrganizationToken(ctx context.Context, org, name string, expiresAt time.Time) (*CreatedToken, error) {
	in := map[string]any{"name": name}
	if !expiresAt.IsZero() {
		in["expires_at"] = expiresAt
	}
	var t CreatedToken
	return &t, c.Do(ctx, "POST", orgPath(org, "tokens"), in, &t)
}

// RevokeOrganizationToken revokes a service-account token of an
// organization.
func (c *Client) RevokeOrganizationToken(ctx context.Context, org, id string) (*freight.Token, error) {
	var t freight.Token
	return &t, c.Do(ctx, "DELETE", orgPath(org, "tokens", url.PathEscape(id)), nil, &t)
}

// QuotaWindow is an organization's usage in one quota window.
type QuotaWindow struct {
	Start     time.Time `json:"start"`
	ResetsAt  time.Time `json:"resets_at"`
	Downloads int64     `json:"downloads"`
	Bytes     int64     `json:"bytes"`
}

// OrganizationUsage is an organization's quota and its usage of the
// current UTC day and calendar month.
type OrganizationUsage struct {
	OrgID string        `json:"org_id"`
	Quota freight.Quota `json:"quota"`
	Day   QuotaWindow   `json:"day"`
	Month QuotaWindow   `json:"month"`
}

// Usage answers an organization's quota and usage.
func (c *Client) Usage(ctx context.Context, org string) (*OrganizationUsage, error) {
	var u OrganizationUsage
	return &u, c.Do(ctx, "GET", orgPath(org, "usage"), nil, &u)
}

// SetQuota sets an organization's quota; zero fields are not capped.
func (c *Client) SetQuota(ctx context.Context, org string, q freight.Quota) (*freight.Quota, error) {
	var out freight.Quota
	return &out, c.Do(ctx, "PUT", orgPath(org, "quota"), q, &out)
}
