package client

import (
	"context"
	"net/url"

	"github.com/freight-portal/freight"
)

// UserFilter narrows Users.
type UserFilter struct {
	// Org keeps the members of one organization (id or slug).
	Org string
	// VendorOnly keeps vendor staff.
	VendorOnly bool
}

// Users lists one page of users.
func (c *Client) Users(ctx context.Context, f UserFilter, p freight.Page) (List[*freight.User], error) {
	q := url.Values{}
	if f.Org != "" {
		q.Set("org", f.Org)
	}
	if f.VendorOnly {
		q.Set("vendor", "true")
	}
	var l List[*freight.User]
	return l, c.Do(ctx, "GET", listPath("/api/v1/users", q, p), nil, &l)
}

// User returns a user by id.
func (c *Client) User(ctx context.Context, id string) (*freight.User, error) {
	var u freight.User
	return &u, c.Do(ctx, "GET", "/api/v1/users/"+url.PathEscape(id), nil, &u)
}

// CreateUser creates a user without a password; vendorRole is empty for
// a customer's user. People choose their password when they accept an
// invitation (see InviteStaff and Invite) or reset it.
func (c *Client) CreateUser(ctx context.Context, email, name string, vendorRole freight.Role) (*freight.User, error) {
	in := map[string]any{"email": email, "name": name}
	if vendorRole != "" {
		in["vendor_role"] = vendorRole
	}
	var u freight.User
	return &u, c.Do(ctx, "POST", "/api/v1/users", in, &u)
}

// UserUpdate names the fields of a user to change; nil fields keep their
// value. A pointer to "" in VendorRole makes the user a customer's.
type UserUpdate struct {
	Email      *string       `json:"email,omitempty"`
	Name       *string       `json:"name,omitempty"`
	VendorRole *freight.Role `json:"vendor_role,omitempty"`
	// Disabled true ends the user's sessions and revokes its tokens.
	Disabled *bool `json:"disabled,omitempty"`
}

// UpdateUser changes a user.
func (c *Client) UpdateUser(ctx context.Context, id string, u UserUpdate) (*freight.User, error) {
	var out freight.User
	return &out, c.Do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(id), u, &out)
}

// DeleteUser deletes a user with its memberships, sessions and tokens.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/users/"+url.PathEscape(id), nil, nil)
}

// UserMemberships lists one page of the organizations a user belongs to.
func (c *Client) UserMemberships(ctx context.Context, id string, p freight.Page) (List[*freight.Membership], error) {
	var l List[*freight.Membership]
	return l, c.Do(ctx, "GET", listPath("/api/v1/users/"+url.PathEscape(id)+"/memberships", nil, p), nil, &l)
}

// InviteStaff mails an invitation to the vendor's staff with a vendor
// role; the person accepts it with AcceptInvitation.
func (c *Client) InviteStaff(ctx context.Context, email string, vendorRole freight.Role) (*Invitation, error) {
	var inv Invitation
	return &inv, c.Do(ctx, "POST", "/api/v1/invitations", map[string]any{"email": email, "vendor_role": vendorRole}, &inv)
}
