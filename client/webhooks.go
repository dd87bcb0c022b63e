package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// Webhooks come in two scopes with the same methods: the vendor's, which
// receive every event they subscribe to (admins manage them; pass org
// ""), and an organization's, which receive the events about that
// organization only (its org-admins and vendor admins manage them; pass
// the organization's id or slug). A webhook of another scope answers not
// found.

// webhookPath is the path of the webhooks of a scope, and of what lies
// under them.
func webhookPath(org string, rest ...string) string {
	p := "/api/v1/webhooks"
	if org != "" {
		p = orgPath(org, "webhooks")
	}
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// NewWebhook describes a webhook to create; it starts enabled.
type NewWebhook struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Events      []string `json:"events"` // freight.WebhookEvents
}

// WebhookUpdate names the fields of a webhook to change; nil fields keep
// their value.
type WebhookUpdate struct {
	URL         *string   `json:"url,omitempty"`
	Description *string   `json:"description,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// WebhookWithSecret is a webhook with its signing secret, which the API
// shows when the webhook is created and when the secret is rotated, and
// never again.
type WebhookWithSecret struct {
	freight.Webhook
	Secret string `json:"secret"`
}

// WebhookDelivery is a delivery with its attempts, oldest first.
type WebhookDelivery struct {
	freight.WebhookDelivery
	AttemptLog []*freight.WebhookAttempt `json:"attempt_log"`
}

// Webhooks lists one page of the webhooks of a scope.
func (c *Client) Webhooks(ctx context.Context, org string, p freight.Page) (List[*freight.Webhook], error) {
	var l List[*freight.Webhook]
	return l, c.Do(ctx, "GET", listPath(webhookPath(org), nil, p), nil, &l)
}

// CreateWebhook creates a webhook in a scope and answers its signing
// secret, this once. The portal refuses a URL its sending policy would
// refuse (plain http, private addresses) now rather than at delivery.
func (c *Client) CreateWebhook(ctx context.Context, org string, w NewWebhook) (*WebhookWithSecret, error) {
	var out WebhookWithSecret
	return &out, c.Do(ctx, "POST", webhookPath(org), w, &out)
}

// Webhook returns a webhook of a scope.
func (c *Client) Webhook(ctx context.Context, org, id string) (*freight.Webhook, error) {
	var w freight.Webhook
	return &w, c.Do(ctx, "GET", webhookPath(org, id), nil, &w)
}

// UpdateWebhook changes a webhook of a scope.
func (c *Client) UpdateWebhook(ctx context.Context, org, id string, u WebhookUpdate) (*freight.Webhook, error) {
	var w freight.Webhook
	return &w, c.Do(ctx, "PATCH", webhookPath(org, id), u, &w)
}

// DeleteWebhook deletes a webhook of a scope with its deliveries.
func (c *Client) DeleteWebhook(ctx context.Context, org, id string) error {
	return c.Do(ctx, "DELETE", webhookPath(org, id), nil, nil)
}

// DefaultGrace asks RotateWebhookSecret for the portal's configured grace.
const DefaultGrace time.Duration = -1

// RotateWebhookSecret gives a webhook a new signing secret and answers
// it, this once. The old secret keeps signing beside the new one for
// grace (whole seconds, at most seven days; 0 ends it at once;
// DefaultGrace takes the portal's default), so that receivers switch
// without missing a delivery.
func (c *Client) RotateWebhookSecret(ctx context.Context, org, id string, grace time.Duration) (*WebhookWithSecret, error) {
	var in any
	if grace >= 0 {
		in = map[string]int64{"grace_seconds": int64(grace / time.Second)}
	}
	var out WebhookWithSecret
	return &out, c.Do(ctx, "POST", webhookPath(org, id, "rotate-secret"), in, &out)
}

// TestWebhook sends a webhook.test event to a webhook, enabled or not,
// through the same queue, signature and log as every delivery; it answers
// the pending delivery to follow.
func (c *Client) TestWebhook(ctx context.Context, org, id string) (*freight.WebhookDelivery, error) {
	var d freight.WebhookDelivery
	return &d, c.Do(ctx, "POST", webhookPath(org, id, "test"), nil, &d)
}

// WebhookDeliveries lists one page of a webhook's deliveries, newest
// first; state "" lists all.
func (c *Client) WebhookDeliveries(ctx context.Context, org, id string, state freight.WebhookDeliveryState, p freight.Page) (List[*freight.WebhookDelivery], error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", string(state))
	}
	var l List[*freight.WebhookDelivery]
	return l, c.Do(ctx, "GET", listPath(webhookPath(org, id, "deliveries"), q, p), nil, &l)
}

// WebhookDelivery returns a delivery of a webhook with its attempts.
func (c *Client) WebhookDelivery(ctx context.Context, org, id, deliveryID string) (*WebhookDelivery, error) {
	var d WebhookDelivery
	return &d, c.Do(ctx, "GET", webhookPath(org, id, "deliveries", deliveryID), nil, &d)
}

// RetryWebhookDelivery sends a delivery that failed or succeeded again;
// receivers deduplicate on its event id. A pending one is refused
// (ECONFLICT): it is being tried already.
func (c *Client) RetryWebhookDelivery(ctx context.Context, org, id, deliveryID string) (*freight.WebhookDelivery, error) {
	var d freight.WebhookDelivery
	return &d, c.Do(ctx, "POST", webhookPath(org, id, "deliveries", deliveryID, "retry"), nil, &d)
}
