package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// NewToken describes a token to create.
type NewToken struct {
	Name   string       `json:"name"`
	Role   freight.Role `json:"role"`
	OrgID  string       `json:"org_id,omitempty"`
	UserID string       `json:"user_id,omitempty"`
	// Products narrows a publisher token to these product ids.
	Products  []string   `json:"products,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreatedToken is a new token with its secret, shown this once.
type CreatedToken struct {
	freight.Token
	Secret string `json:"secret"`
}

// TokenFilter narrows Tokens; empty fields do not filter.
type TokenFilter struct {
	UserID string
	OrgID  string
}

// Tokens lists one page of API tokens (admins only).
func (c *Client) Tokens(ctx context.Context, f TokenFilter, p freight.Page) (List[*freight.Token], error) {
	q := url.Values{}
	if f.UserID != "" {
		q.Set("user_id", f.UserID)
	}
	if f.OrgID != "" {
		q.Set("org_id", f.OrgID)
	}
	var l List[*freight.Token]
	return l, c.Do(ctx, "GET", listPath("/api/v1/tokens", q, p), nil, &l)
}

// Token returns an API token by id; its secret is never shown again.
func (c *Client) Token(ctx context.Context, id string) (*freight.Token, error) {
	var t freight.Token
	return &t, c.Do(ctx, "GET", "/api/v1/tokens/"+url.PathEscape(id), nil, &t)
}

// CreateToken creates an API token.
func (c *Client) CreateToken(ctx context.Context, t NewToken) (*CreatedToken, error) {
	var ct CreatedToken
	return &ct, c.Do(ctx, "POST", "/api/v1/tokens", t, &ct)
}

// RevokeToken revokes an API token and answers it.
func (c *Client) RevokeToken(ctx context.Context, id string) (*freight.Token, error) {
	var t freight.Token
	return &t, c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, &t)
}
