package freight

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Id prefixes of webhooks, their deliveries and the events they carry.
const (
	PrefixWebhook         = "whk"
	PrefixWebhookDelivery = "whd"
	PrefixWebhookEvent    = "wev"
)

// Webhook event types: what happened, as "object.verb". A webhook names
// the types it wants; EventWebhookTest is sent only on request ("send test
// event") and cannot be subscribed to.
const (
	EventReleasePublished   = "release.published"   // a release became downloadable
	EventReleaseYanked      = "release.yanked"      // a published release was withdrawn
	EventArtifactDownloaded = "artifact.downloaded" // a download of an artifact completed (once per download URL)
	EventLicenseIssued      = "license.issued"      // a license was issued, new or amending another
	EventLicenseRevoked     = "license.revoked"     // a license was revoked
	EventWebhookTest        = "webhook.test"        // sent by the "send test event" action
)

// WebhookEvents lists the event types a webhook may subscribe to.
func WebhookEvents() []string {
	return []string{EventReleasePublished, EventReleaseYanked, EventArtifactDownloaded, EventLicenseIssued, EventLicenseRevoked}
}

// Webhook limits.
const (
	// WebhookSecretPrefix starts every signing secret, so that one pasted
	// in the wrong place is recognised.
	WebhookSecretPrefix = "whsec_"
	// maxWebhookURL bounds the URL in bytes.
	maxWebhookURL = 2000
	// maxWebhookDescription bounds the description in characters.
	maxWebhookDescription = 500
	// MaxWebhookResponse bounds the response body a delivery attempt keeps.
	MaxWebhookResponse = 1024
)

// Webhook is an endpoint that receives signed events: a vendor-level one
// (OrgID empty), which an admin manages and which receives every event it
// subscribes to, or one of an organization, which its org-admins manage
// and which receives only the events about that organization.
//
// Secret is the current signing secret and PreviousSecret the one it
// replaced, still used for a second signature until
// PreviousSecretExpiresAt, so that receivers can switch without losing a
// delivery. A signature is an HMAC, which needs the secret itself, so it
// cannot be kept hashed as credentials are: the store keeps it sealed with
// a key the database does not hold (package seal); it never appears in
// JSON, in the audit log or in logs, and the API shows it once, when it is
// made.
type Webhook struct {
	ID                      string     `json:"id"`
	OrgID                   string     `json:"org_id,omitempty"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	Events                  []string   `json:"events"`
	Enabled                 bool       `json:"enabled"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedBy               string     `json:"created_by"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`

	Secret         string `json:"-"`
	PreviousSecret string `json:"-"`
}

// NewWebhookSecret returns a new signing secret: the prefix and 256
// random bits, base64url.
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails on supported platforms
	return WebhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func validWebhookSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, WebhookSecretPrefix)
	if !ok || len(rest) < 32 || len(rest) > 128 {
		return false
	}
	return strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// Subscribed reports whether the webhook wants events of the type.
func (w *Webhook) Subscribed(eventType string) bool { return slices.Contains(w.Events, eventType) }

// Secrets returns the secrets that sign a delivery at now: the current
// one, and the previous one while its grace lasts.
func (w *Webhook) Secrets(now time.Time) []string {
	out := []string{w.Secret}
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
		out = append(out, w.PreviousSecret)
	}
	return out
}

// Validate checks the fields a caller sets and normalises Events (sorted,
// without repeats). It checks the URL's form only; whether the portal may
// send to it (https, no private address) is the server's policy.
func (w *Webhook) Validate() error {
	if w.OrgID != "" && !ValidID(PrefixOrganization, w.OrgID) {
		return FieldError("org_id", "must be an organization id")
	}
	if err := ValidateWebhookURL("url", w.URL); err != nil {
		return err
	}
	if err := validateText("description", w.Description, maxWebhookDescription); err != nil {
		return err
	}
	if len(w.Events) == 0 {
		return FieldError("events", "must name at least one event type, such as %q", EventReleasePublished)
	}
	known := WebhookEvents()
	for _, e := range w.Events {
		if !slices.Contains(known, e) {
			return FieldError("events", "%q is not an event type; use %s", e, strings.Join(known, ", "))
		}
	}
	ev := slices.Clone(w.Events)
	slices.Sort(ev)
	w.Events = slices.Compact(ev)
	if !validWebhookSecret(w.Secret) {
		return FieldError("secret", "must be a secret made by NewWebhookSecret")
	}
	if w.PreviousSecret != "" && (!validWebhookSecret(w.PreviousSecret) || w.PreviousSecretExpiresAt == nil) {
		return FieldError("previous_secret", "must be a secret made by NewWebhookSecret, with the time it expires")
	}
	if w.PreviousSecret == "" {
		w.PreviousSecretExpiresAt = nil
	}
	return nil
}

// ValidateWebhookURL checks the form of a webhook URL: absolute http or
// https with a host, no user information (a password in a URL ends up in
// logs) and no fragment, at most 2000 bytes.
func ValidateWebhookURL(field, s string) error {
	if s == "" {
		return FieldError(field, "is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.Opaque != "" ||
		u.Fragment != "" || strings.ContainsAny(s, " \t\r\n#") || len(s) > maxWebhookURL {
		return FieldError(field, "must be an absolute https URL such as https://hooks.example.com/freight, without a fragment, at most %d bytes", maxWebhookURL)
	}
	if u.User != nil {
		return FieldError(field, "must not hold a user name or password: authenticate deliveries by their signature")
	}
	return nil
}

// WebhookDeliveryState is where a delivery is: pending while attempts
// remain, succeeded after an answer in 2xx, failed after its last attempt
// failed (an admin may retry it).
type WebhookDeliveryState string

// Delivery states.
const (
	DeliveryPending   WebhookDeliveryState = "pending"
	DeliverySucceeded WebhookDeliveryState = "succeeded"
	DeliveryFailed    WebhookDeliveryState = "failed"
)

// ValidDeliveryState reports whether s is one of the delivery states.
func ValidDeliveryState(s WebhookDeliveryState) bool {
	switch s {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed:
		return true
	}
	return false
}

// WebhookDelivery is one event sent to one webhook: the body sent, exactly
// (every attempt sends the same bytes, signed anew), and where its
// attempts stand. JobID names the job that makes the attempts; a retry by
// an admin may give the delivery a new one.
type WebhookDelivery struct {
	ID         string               `json:"id"`
	WebhookID  string               `json:"webhook_id"`
	EventID    string               `json:"event_id"`
	EventType  string               `json:"event_type"`
	Payload    json.RawMessage      `json:"payload"`
	State      WebhookDeliveryState `json:"state"`
	Attempts   int                  `json:"attempts"`
	LastStatus int                  `json:"last_status,omitempty"`
	LastError  string               `json:"last_error,omitempty"`
	JobID      string               `json:"job_id,omitempty"`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
}

// Validate checks the fields a caller sets.
func (d *WebhookDelivery) Validate() error {
	if !ValidID(PrefixWebhook, d.WebhookID) {
		return FieldError("webhook_id", "must be a webhook id")
	}
	if !ValidID(PrefixWebhookEvent, d.EventID) {
		return FieldError("event_id", "must be an event id")
	}
	if d.EventType != EventWebhookTest && !slices.Contains(WebhookEvents(), d.EventType) {
		return FieldError("event_type", "is not an event type")
	}
	if len(d.Payload) == 0 || len(d.Payload) > MaxJobPayload || d.Payload[0] != '{' || !json.Valid(d.Payload) {
		return FieldError("payload", "must be a JSON object of at most %d bytes", MaxJobPayload)
	}
	if !ValidDeliveryState(d.State) {
		return FieldError("state", "must be pending, succeeded or failed")
	}
	if d.Attempts < 0 || d.LastStatus < 0 || d.LastStatus > 999 {
		return FieldError("attempts", "must not be negative")
	}
	if d.JobID != "" && !ValidID(PrefixJob, d.JobID) {
		return FieldError("job_id", "must be a job id")
	}
	d.LastError = JobErrorText(d.LastError)
	return nil
}

// WebhookAttempt is one try at a delivery: when, the answer's status (0
// when there was none), how long it took, the error (a network failure, a
// timeout, a status outside 2xx) and the start of the answer's body.
type WebhookAttempt struct {
	DeliveryID   string    `json:"delivery_id"`
	At           time.Time `json:"at"`
	StatusCode   int       `json:"status_code,omitempty"`
	DurationMS   int64     `json:"duration_ms"`
	Error        string    `json:"error,omitempty"`
	ResponseBody string    `json:"response_body,omitempty"`
}

// Validate checks an attempt and cuts the error and the body to what is
// kept of them: valid UTF-8, no NUL, at most MaxWebhookResponse bytes.
func (a *WebhookAttempt) Validate() error {
	if !ValidID(PrefixWebhookDelivery, a.DeliveryID) {
		return FieldError("delivery_id", "must be a delivery id")
	}
	if a.At.IsZero() {
		return FieldError("at", "is required")
	}
	if a.StatusCode < 0 || a.StatusCode > 999 || a.DurationMS < 0 {
		return FieldError("status_code", "must be an HTTP status")
	}
	a.Error = JobErrorText(cleanText(a.Error))
	a.ResponseBody = TruncateText(cleanText(a.ResponseBody), MaxWebhookResponse)
	return nil
}

// cleanText makes s storable as text in every database: valid UTF-8
// without NUL.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// TruncateText cuts s to at most n bytes without splitting a character.
func TruncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut]
}

// WebhookFilter selects webhooks by id order. OrgID keeps one
// organization's; VendorOnly keeps the vendor-level ones. Neither: all.
type WebhookFilter struct {
	Page
	OrgID      string
	VendorOnly bool
}

// WebhookDeliveryFilter selects the deliveries of one webhook, newest
// first.
type WebhookDeliveryFilter struct {
	Page
	WebhookID string
	State     WebhookDeliveryState
}
