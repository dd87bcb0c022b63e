package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// Settings answers the portal-wide settings.
func (c *Client) Settings(ctx context.Context) (*freight.Settings, error) {
	var s freight.Settings
	return &s, c.Do(ctx, "GET", "/api/v1/settings", nil, &s)
}

// SettingsUpdate names the settings to change; nil fields keep their
// value.
type SettingsUpdate struct {
	// RequireVendorMFA makes a second factor mandatory for vendor staff.
	RequireVendorMFA *bool `json:"require_vendor_mfa,omitempty"`
}

// UpdateSettings changes the portal-wide settings (admins only).
func (c *Client) UpdateSettings(ctx context.Context, u SettingsUpdate) (*freight.Settings, error) {
	var s freight.Settings
	return &s, c.Do(ctx, "PATCH", "/api/v1/settings", u, &s)
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

// Jobs lists one page of background jobs, newest first, with their
// attempts and last error (admins only); the payloads stay on the server.
func (c *Client) Jobs(ctx context.Context, f freight.JobFilter) (List[*freight.Job], error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	var l List[*freight.Job]
	return l, c.Do(ctx, "GET", listPath("/api/v1/jobs", q, f.Page), nil, &l)
}

// RetryJob queues a dead job again with a fresh count of attempts.
func (c *Client) RetryJob(ctx context.Context, id string) (*freight.Job, error) {
	var j freight.Job
	return &j, c.Do(ctx, "POST", "/api/v1/jobs/"+url.PathEscape(id)+"/retry", nil, &j)
}

// keysQuery names the keyring of a key route: grants ("" too) or
// licenses.
func keysQuery(purpose string) string {
	if purpose == "" || purpose == freight.KeyGrants {
		return ""
	}
	return "?" + url.Values{"purpose": {purpose}}.Encode()
}

// SigningKeys lists the portal's signing keys of a purpose
// (freight.KeyGrants, "" too, or freight.KeyLicenses), public halves only.
func (c *Client) SigningKeys(ctx context.Context, purpose string) ([]*freight.SigningKey, error) {
	var l List[*freight.SigningKey]
	return l.Items, c.Do(ctx, "GET", "/api/v1/keys"+keysQuery(purpose), nil, &l)
}

// RotateSigningKey makes a new signing key of a purpose current. What the
// older keys signed stays valid until they are retired.
func (c *Client) RotateSigningKey(ctx context.Context, purpose string) (*freight.SigningKey, error) {
	var k freight.SigningKey
	return &k, c.Do(ctx, "POST", "/api/v1/keys/rotate"+keysQuery(purpose), nil, &k)
}

// RetireSigningKey retires a signing key of a purpose: what it signed
// stops verifying.
func (c *Client) RetireSigningKey(ctx context.Context, purpose, kid string) (*freight.SigningKey, error) {
	var k freight.SigningKey
	return &k, c.Do(ctx, "POST", "/api/v1/keys/"+url.PathEscape(kid)+"/retire"+keysQuery(purpose), nil, &k)
}
