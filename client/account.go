package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// Me describes the caller.
type Me struct {
	UserID    string       `json:"user_id,omitempty"`
	TokenID   string       `json:"token_id,omitempty"`
	SessionID string       `json:"session_id,omitempty"`
	Role      freight.Role `json:"role"`
	OrgID     string       `json:"org_id,omitempty"`
	// Products narrows a publisher token to these product ids.
	Products []string `json:"products,omitempty"`
	// MFAEnrollment says the person must enrol a second factor before
	// anything else.
	MFAEnrollment bool `json:"mfa_enrollment,omitempty"`
	// User is the person the token belongs to; nil for a service account.
	User *freight.User `json:"user,omitempty"`
	// Memberships lists the organizations the person may act in.
	Memberships []*freight.Membership `json:"memberships,omitempty"`
}

// Me answers who the token is.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var m Me
	return m, c.Do(ctx, "GET", "/api/v1/me", nil, &m)
}

// Links by mail. A person who has no session yet follows a link sent by
// mail; its token is the "token" parameter of the link. These calls need
// no API token and are bounded per client address, like sign-ins.

// ForgotPassword asks for a password reset link by mail. The answer is
// the same whether or not the address has an account.
func (c *Client) ForgotPassword(ctx context.Context, email string) error {
	return c.Do(ctx, "POST", "/api/v1/auth/forgot", map[string]string{"email": email}, nil)
}

// ResetPassword sets a new password with the token of a reset link. It
// signs nobody in and ends every session of the account.
func (c *Client) ResetPassword(ctx context.Context, token, password string) error {
	return c.Do(ctx, "POST", "/api/v1/auth/reset", map[string]string{"token": token, "password": password}, nil)
}

// AcceptInvitation accepts an invitation with the token of its link: a new
// account with name and password, or, for an address that has an account,
// the membership or role only (password then must be empty).
func (c *Client) AcceptInvitation(ctx context.Context, token, name, password string) (*freight.User, error) {
	var u freight.User
	in := map[string]string{"token": token, "name": name, "password": password}
	return &u, c.Do(ctx, "POST", "/api/v1/auth/accept", in, &u)
}

// VerifyEmail marks an address verified with the token of its link.
func (c *Client) VerifyEmail(ctx context.Context, token string) (*freight.User, error) {
	var u freight.User
	return &u, c.Do(ctx, "POST", "/api/v1/auth/verify", map[string]string{"token": token}, &u)
}

// Provider is an OpenID provider people may sign in with, in a browser.
type Provider struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	StartURL    string `json:"start_url"` // a path on the portal
}

// SignInProviders lists the OpenID providers of the portal.
func (c *Client) SignInProviders(ctx context.Context) ([]Provider, error) {
	var l List[Provider]
	return l.Items, c.Do(ctx, "GET", "/api/v1/auth/providers", nil, &l)
}

// The signed-in person's own account. These calls take the session of a
// password sign-in (SignIn.Client), never an API token: an API token that
// leaked must not be able to change the credentials of its owner.

// SignOutEverywhere ends every session of the person, this one included,
// and answers how many ended.
func (c *Client) SignOutEverywhere(ctx context.Context) (int, error) {
	var out struct {
		Ended int `json:"sessions_ended"`
	}
	return out.Ended, c.Do(ctx, "POST", "/api/v1/auth/signout-everywhere", nil, &out)
}

// SwitchOrganization makes the session act in another of the person's
// organizations; the session gets a new id, which the client keeps.
func (c *Client) SwitchOrganization(ctx context.Context, orgID string) (*freight.Session, error) {
	var s freight.Session
	return &s, c.Do(ctx, "POST", "/api/v1/account/organization", map[string]string{"org_id": orgID}, &s)
}

// ChangePassword sets a new password after the current one; every other
// session of the person ends.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.Do(ctx, "POST", "/api/v1/account/password", map[string]string{"password": current, "new_password": next}, nil)
}

// RequestVerification mails the person a link that verifies its address
// (see VerifyEmail).
func (c *Client) RequestVerification(ctx context.Context) error {
	return c.Do(ctx, "POST", "/api/v1/account/verify-email", nil, nil)
}

// Preferences names the preferences to change; nil fields keep their
// value.
type Preferences struct {
	// NotifyReleases mails the person when a release its organization is
	// entitled to is published.
	NotifyReleases *bool `json:"notify_releases,omitempty"`
}

// SetPreferences changes the person's preferences and answers the
// account.
func (c *Client) SetPreferences(ctx context.Context, p Preferences) (*freight.User, error) {
	var u freight.User
	return &u, c.Do(ctx, "POST", "/api/v1/account/preferences", p, &u)
}

// TOTPEnrollment is a TOTP secret waiting for its first code.
type TOTPEnrollment struct {
	Secret string `json:"secret"` // base32, for typing into an app
	URI    string `json:"uri"`    // otpauth://, for a QR code
}

// BeginTOTP starts enrolling a TOTP authenticator, after the current
// password; ConfirmTOTP turns it on.
func (c *Client) BeginTOTP(ctx context.Context, password string) (*TOTPEnrollment, error) {
	var e TOTPEnrollment
	return &e, c.Do(ctx, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": password}, &e)
}

// ConfirmTOTP turns the pending authenticator on with a code from it and
// answers the recovery codes, shown this once. Every other session ends.
func (c *Client) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	return out.Codes, c.Do(ctx, "POST", "/api/v1/account/mfa/totp/confirm", map[string]string{"code": code}, &out)
}

// RenewRecoveryCodes replaces the recovery codes, after the password, and
// answers the new ones, this once.
func (c *Client) RenewRecoveryCodes(ctx context.Context, password string) ([]string, error) {
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	return out.Codes, c.Do(ctx, "POST", "/api/v1/account/mfa/recovery-codes", map[string]string{"password": password}, &out)
}

// DisableMFA turns the second factor off, after the password and a current
// TOTP code.
func (c *Client) DisableMFA(ctx context.Context, password, code string) error {
	return c.Do(ctx, "POST", "/api/v1/account/mfa/disable", map[string]string{"password": password, "code": code}, nil)
}

// Session is a signed-in session of the person; Current marks the one the
// request came with.
type Session struct {
	freight.Session
	Current bool `json:"current"`
}

// Sessions lists the person's sessions.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var l List[Session]
	return l.Items, c.Do(ctx, "GET", "/api/v1/account/sessions", nil, &l)
}

// EndSession ends one of the person's sessions.
func (c *Client) EndSession(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/account/sessions/"+url.PathEscape(id), nil, nil)
}

// PersonalTokens lists one page of the person's own API tokens.
func (c *Client) PersonalTokens(ctx context.Context, p freight.Page) (List[*freight.Token], error) {
	var l List[*freight.Token]
	return l, c.Do(ctx, "GET", listPath("/api/v1/account/tokens", nil, p), nil, &l)
}

// NewPersonalToken describes a personal token: at most the person's role,
// which is also the default, in the organization the session acts in.
type NewPersonalToken struct {
	Name      string       `json:"name"`
	Role      freight.Role `json:"role,omitempty"`
	OrgID     string       `json:"org_id,omitempty"`
	ExpiresAt *time.Time   `json:"expires_at,omitempty"` // nil: the server's default lifetime
}

// CreatePersonalToken mints an API token of the person's and answers its
// secret, this once.
func (c *Client) CreatePersonalToken(ctx context.Context, t NewPersonalToken) (*CreatedToken, error) {
	var ct CreatedToken
	return &ct, c.Do(ctx, "POST", "/api/v1/account/tokens", t, &ct)
}

// RevokePersonalToken revokes one of the person's tokens.
func (c *Client) RevokePersonalToken(ctx context.Context, id string) (*freight.Token, error) {
	var t freight.Token
	return &t, c.Do(ctx, "DELETE", "/api/v1/account/tokens/"+url.PathEscape(id), nil, &t)
}
