package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/mail"
	"github.com/freight-portal/freight/webhook"
)

// Webhook defaults.
const (
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookAttempts = 24
	DefaultWebhookGrace    = 24 * time.Hour
	// maxWebhookGrace bounds how long a rotated secret keeps signing.
	maxWebhookGrace = 7 * 24 * time.Hour
	// webhookDrain bounds what is read of an answer: the first
	// freight.MaxWebhookResponse bytes are kept, the rest up to this is
	// read so that the connection can be reused, and beyond it dropped.
	webhookDrain = 64 << 10
)

// WebhookConfig configures the webhooks the portal sends.
type WebhookConfig struct {
	// Policy says which destinations deliveries may reach; its zero value
	// allows https to public addresses only.
	Policy webhook.Policy
	// Timeout bounds one attempt: connecting, sending and the answer's
	// headers and body. Default 10s.
	Timeout time.Duration
	// Attempts is how many times a delivery is tried before it fails for
	// good (and waits for an admin's retry). Default 24: with the job
	// queue's default backoff (5s doubling up to an hour, full jitter),
	// at most about 14 hours of pauses.
	Attempts int
	// RotationGrace is how long a rotated secret keeps signing beside the
	// new one, when the rotation does not say. Default 24h.
	RotationGrace time.Duration
}

// webhookJobKind is the job that makes the attempts of one delivery.
const webhookJobKind = "webhook"

// webhookJobPayload names the delivery a webhook job sends.
type webhookJobPayload struct {
	Delivery string `json:"delivery"`
}

// eventBody builds the body of a new event: its id, type, time and data.
// The same bytes go to every webhook that receives the event and on every
// attempt, so receivers can deduplicate on the id.
func (s *Server) eventBody(typ string, data any) (string, []byte, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	raw, err := json.Marshal(data)
	if err != nil {
		return "", nil, freight.Internal(fmt.Errorf("webhook: marshal %s data: %w", typ, err))
	}
	ev := webhook.Event{ID: freight.NewID(freight.PrefixWebhookEvent, now), Type: typ, CreatedAt: now, Data: raw}
	body, err := json.Marshal(ev)
	if err != nil {
		return "", nil, freight.Internal(err)
	}
	if len(body) > freight.MaxJobPayload {
		return "", nil, freight.Internal(fmt.Errorf("webhook: %s event of %d bytes is too large", typ, len(body)))
	}
	return ev.ID, body, nil
}

// emit queues, on tx, the transaction of the change that caused it, one
// delivery of a new event to every enabled webhook subscribed to its type
// that may see it: every vendor webhook, and an organization's webhook
// when reaches says the event concerns that organization. The deliveries
// commit with the change or not at all. It answers whether any delivery
// was queued, so that the caller can wake the queue after the commit.
func (s *Server) emit(ctx context.Context, tx freight.Store, typ string, data any, reaches func(orgID string) (bool, error)) (bool, error) {
	targets, err := subscribers(ctx, tx, freight.WebhookFilter{}, typ, reaches)
	if err != nil {
		return false, err
	}
	return s.queueEvent(ctx, tx, typ, data, targets)
}

// emitToOrg is emit for an event about one organization (none when orgID
// is ""): it reaches the vendor's webhooks and that organization's, and
// reads only those, since it runs in every download request.
func (s *Server) emitToOrg(ctx context.Context, tx freight.Store, typ string, data any, orgID string) (bool, error) {
	targets, err := subscribers(ctx, tx, freight.WebhookFilter{VendorOnly: true}, typ, nil)
	if err != nil {
		return false, err
	}
	if orgID != "" {
		own, err := subscribers(ctx, tx, freight.WebhookFilter{OrgID: orgID}, typ, nil)
		if err != nil {
			return false, err
		}
		targets = append(targets, own...)
	}
	return s.queueEvent(ctx, tx, typ, data, targets)
}

// subscribers lists the enabled webhooks that f selects and that are
// subscribed to typ. An organization's webhook is kept only when reaches
// says so, when reaches is not nil.
func subscribers(ctx context.Context, tx freight.Store, f freight.WebhookFilter, typ string, reaches func(orgID string) (bool, error)) ([]*freight.Webhook, error) {
	var targets []*freight.Webhook
	f.Page = freight.Page{Limit: freight.MaxPageSize}
	seen := map[string]bool{}
	for {
		hooks, next, err := tx.Webhooks(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, w := range hooks {
			if !w.Enabled || !w.Subscribed(typ) {
				continue
			}
			if w.OrgID != "" && reaches != nil {
				ok, known := seen[w.OrgID]
				if !known {
					if ok, err = reaches(w.OrgID); err != nil {
						return nil, err
					}
					seen[w.OrgID] = ok
				}
				if !ok {
					continue
				}
			}
			targets = append(targets, w)
		}
		if next == "" {
			return targets, nil
		}
		f.After = next
	}
}

// queueEvent queues one delivery of a new event to each of targets.
func (s *Server) queueEvent(ctx context.Context, tx freight.Store, typ string, data any, targets []*freight.Webhook) (bool, error) {
	if len(targets) == 0 {
		return false, nil
	}
	id, body, err := s.eventBody(typ, data)
	if err != nil {
		return false, err
	}
	for _, w := range targets {
		if _, err := s.queueDelivery(ctx, tx, w.ID, id, typ, body); err != nil {
			return false, err
		}
	}
	return true, nil
}

// queueDelivery stores a pending delivery of the event to one webhook and
// the job that sends it, on tx.
func (s *Server) queueDelivery(ctx context.Context, tx freight.Store, webhookID, eventID, typ string, body []byte) (*freight.WebhookDelivery, error) {
	now := s.now()
	jobID := freight.NewID(freight.PrefixJob, now)
	d := &freight.WebhookDelivery{WebhookID: webhookID, EventID: eventID, EventType: typ, Payload: body,
		State: freight.DeliveryPending, JobID: jobID}
	if err := tx.CreateWebhookDelivery(ctx, d); err != nil {
		return nil, err
	}
	p, err := json.Marshal(webhookJobPayload{Delivery: d.ID})
	if err != nil {
		return nil, freight.Internal(err)
	}
	j := &freight.Job{ID: jobID, Kind: webhookJobKind, Payload: p, MaxAttempts: s.cfg.Webhooks.Attempts, RunAt: now}
	if err := tx.EnqueueJob(ctx, j); err != nil {
		return nil, err
	}
	return d, nil
}

// eventProduct is how events name a product.
type eventProduct struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// releaseEvent is the data of release.published and release.yanked.
type releaseEvent struct {
	Release *freight.Release `json:"release"`
	Product eventProduct     `json:"product"`
}

// emitRelease queues the event of a release's publication or withdrawal.
// An organization's webhooks receive it when the organization's
// entitlement covers the release, by the rule of the catalog
// (freight.Decide), judged as if the release were published: a yank is
// news to those who could download it.
func (s *Server) emitRelease(ctx context.Context, tx freight.Store, typ string, rel *freight.Release) (bool, error) {
	prod, err := tx.Product(ctx, rel.ProductID)
	if err != nil {
		return false, err
	}
	var ents []*freight.Entitlement
	loaded := false
	asPublished := *rel
	asPublished.State = freight.ReleasePublished
	now := s.now()
	reaches := func(orgID string) (bool, error) {
		if !loaded {
			if ents, err = allEntitlements(ctx, tx, prod.ID); err != nil {
				return false, err
			}
			loaded = true
		}
		q := freight.AccessQuery{Principal: freight.Principal{Role: freight.RoleMember, OrgID: orgID},
			Entitlements: ents, Product: prod, Release: &asPublished, Now: now}
		return freight.Decide(q).Allowed, nil
	}
	data := releaseEvent{Release: rel, Product: eventProduct{ID: prod.ID, Slug: prod.Slug, Name: prod.Name}}
	return s.emit(ctx, tx, typ, data, reaches)
}

// downloadEvent is the data of artifact.downloaded: a download completed.
// A download is one signed URL (a grant), however many requests it took:
// it completes when its requests together have served the file, by the
// rule the download figures count completions by, and the event is sent
// once, from the transaction that records the request that completed it.
type downloadEvent struct {
	GrantID      string             `json:"grant_id"`
	OrgID        string             `json:"org_id,omitempty"`
	Organization *eventOrganization `json:"organization,omitempty"`
	Actor        string             `json:"actor"`
	// Via is where the completing request was served: origin, s3 or
	// cloudfront (the portal redirected it there), or an edge's name.
	Via         string            `json:"via"`
	CompletedAt time.Time         `json:"completed_at"`
	Artifact    *freight.Artifact `json:"artifact"`
	Release     eventRelease      `json:"release"`
	Product     eventProduct      `json:"product"`
}

// eventOrganization is how events name an organization.
type eventOrganization struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// downloadRecorded runs in the transaction that recorded a request of the
// grant: when the downloads recorded now complete the grant, it marks the
// grant (once, whatever other requests race with this one) and queues the
// artifact.downloaded event. It reports whether a delivery was queued, so
// that the caller wakes the queue after the commit.
func (s *Server) downloadRecorded(ctx context.Context, tx freight.Store, grantID, via string, at time.Time) (bool, error) {
	done, err := tx.CompleteGrant(ctx, grantID, at)
	if err != nil || !done {
		return false, err
	}
	g, err := tx.Grant(ctx, grantID)
	if err != nil {
		return false, err
	}
	// Artifacts with grants are kept, and so their releases and products.
	a, err := tx.Artifact(ctx, g.ArtifactID)
	if err != nil {
		return false, err
	}
	rel, err := tx.Release(ctx, a.ReleaseID)
	if err != nil {
		return false, err
	}
	prod, err := tx.Product(ctx, rel.ProductID)
	if err != nil {
		return false, err
	}
	data := downloadEvent{GrantID: g.ID, OrgID: g.OrgID, Actor: g.Actor, Via: via, CompletedAt: at.UTC(), Artifact: a,
		Release: eventRelease{ID: rel.ID, Version: rel.Version, Channel: rel.Channel},
		Product: eventProduct{ID: prod.ID, Slug: prod.Slug, Name: prod.Name}}
	if g.OrgID != "" {
		// An organization deleted since keeps its id in the event.
		o, err := tx.Organization(ctx, g.OrgID)
		switch {
		case err == nil:
			data.Organization = &eventOrganization{ID: o.ID, Slug: o.Slug, Name: o.Name}
		case freight.ErrorCode(err) != freight.ENOTFOUND:
			return false, err
		}
	}
	return s.emitToOrg(ctx, tx, freight.EventArtifactDownloaded, data, g.OrgID)
}

type eventRelease struct {
	ID      string          `json:"id"`
	Version string          `json:"version"`
	Channel freight.Channel `json:"channel"`
}

// licenseEvent is the data of license.issued and license.revoked.
type licenseEvent struct {
	OrgID   string           `json:"org_id"`
	License *freight.License `json:"license"`
}

// webhookJob makes one attempt at a delivery: it signs the stored body
// with the webhook's secrets at the time of the attempt, posts it, and
// records the attempt and the delivery's state. An answer outside 2xx,
// a network failure or a timeout fails the job, which the queue retries
// with backoff until the delivery's last attempt; a destination the
// policy refuses fails it for good at once.
func (s *Server) webhookJob(ctx context.Context, j *freight.Job) error {
	var p webhookJobPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Delivery == "" {
		return jobs.Permanent(errors.New("the payload is not a webhook delivery"))
	}
	d, err := s.store.WebhookDelivery(ctx, p.Delivery)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil // its webhook was deleted
	} else if err != nil {
		return err
	}
	// A retry gives the delivery a new job; the old one has nothing to do,
	// nor has a job run again after its delivery succeeded.
	if d.JobID != j.ID || d.State == freight.DeliverySucceeded {
		return nil
	}
	w, err := s.store.Webhook(ctx, d.WebhookID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	now := s.now()
	a := &freight.WebhookAttempt{DeliveryID: d.ID, At: now}
	var sendErr error
	permanent := false
	switch {
	case !w.Enabled && d.EventType != freight.EventWebhookTest:
		sendErr, permanent = errors.New("the webhook is disabled"), true
	default:
		if _, err := s.cfg.Webhooks.Policy.CheckURL(w.URL); err != nil {
			sendErr, permanent = err, true
			break
		}
		a.StatusCode, a.ResponseBody, sendErr = s.post(ctx, w, d, now, a)
	}
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	final := sendErr != nil && (permanent || j.Attempts >= j.MaxAttempts)
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := tx.AddWebhookAttempt(ctx, a); err != nil {
			return err
		}
		_, err := tx.UpdateWebhookDelivery(ctx, d.ID, func(c *freight.WebhookDelivery) error {
			if c.JobID != j.ID {
				return nil // retried meanwhile: leave it to the new job
			}
			c.Attempts++
			c.LastStatus, c.LastError = a.StatusCode, a.Error
			switch {
			case sendErr == nil:
				c.State = freight.DeliverySucceeded
			case final:
				c.State = freight.DeliveryFailed
			default:
				c.State = freight.DeliveryPending
			}
			return nil
		})
		return err
	})
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil // deleted while it was being sent
	} else if err != nil {
		return err
	}
	if sendErr != nil && permanent {
		return jobs.Permanent(sendErr)
	}
	return sendErr
}

// post sends one signed attempt and returns the answer's status and the
// start of its body, or why there is no good answer.
func (s *Server) post(ctx context.Context, w *freight.Webhook, d *freight.WebhookDelivery, now time.Time, a *freight.WebhookAttempt) (int, string, error) {
	timeout := s.cfg.Webhooks.Timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, "", fmt.Errorf("the URL cannot be requested: %v", unwrapURLError(err))
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Freight-Webhook/1")
	h.Set(webhook.HeaderEventID, d.EventID)
	h.Set(webhook.HeaderEventType, d.EventType)
	h.Set("Freight-Delivery-Id", d.ID)
	h.Set(webhook.HeaderSignature, webhook.SignatureHeader(now, d.Payload, w.Secrets(now)...))
	start := time.Now()
	resp, err := s.hookClient.Do(req)
	a.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ctx.Err() == context.DeadlineExceeded || ok && ne.Timeout() {
			return 0, "", fmt.Errorf("no answer within %s", timeout)
		}
		return 0, "", unwrapURLError(err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, freight.MaxWebhookResponse))
	io.Copy(io.Discard, io.LimitReader(resp.Body, webhookDrain))
	a.DurationMS = time.Since(start).Milliseconds()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, string(head), fmt.Errorf("the endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp.StatusCode, string(head), nil
}

// unwrapURLError drops the URL that net/http puts in its errors: a
// webhook URL may carry the receiver's own token in its query, and job
// errors are logged.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// queueLicenseMail enqueues, on tx, a mail to every enabled org-admin of
// the license's organization, with a link to the licenses page. When the
// portal cannot name its own address the mail is skipped, and that is
// logged, as for release notifications.
func (s *Server) queueLicenseMail(r *http.Request, tx freight.Store, l *freight.License) error {
	ctx := r.Context()
	base, err := s.linkBase(r)
	if err != nil {
		s.logger.WarnContext(ctx, "license mail not sent", "license", l.ID, "err", freight.ErrorMessage(err))
		return nil
	}
	org, err := tx.Organization(ctx, l.OrgID)
	if err != nil {
		return err
	}
	prod, err := tx.Product(ctx, l.ProductID)
	if err != nil {
		return err
	}
	f := freight.MembershipFilter{OrgID: org.ID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ms, next, err := tx.Memberships(ctx, f)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role != freight.RoleOrgAdmin {
				continue
			}
			u, err := tx.User(ctx, m.UserID)
			if err != nil {
				return err
			}
			if u.Disabled {
				continue
			}
			data := mail.License{Name: u.Name, Org: org.Name, Product: prod.Name, Link: base + "/licenses"}
			if l.ExpiresAt != nil {
				data.Expires = *l.ExpiresAt
			}
			if err := s.queueMail(ctx, tx, freight.MailLicenseIssued, u.Email, data); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}
