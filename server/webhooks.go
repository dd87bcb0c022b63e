package server

import (
	"context"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// Webhook routes come in two sets with the same handlers: the vendor's
// under /api/v1/webhooks (admins), and an organization's under
// /api/v1/organizations/{org}/webhooks (its org-admins, and vendor
// admins). Each set sees its own webhooks only: a webhook of another
// scope answers 404, as a missing one does.

// webhookScope is the organization a webhook route acts for: "" for the
// vendor's routes, the id of {org} for an organization's.
func (s *Server) webhookScope(r *http.Request) (string, error) {
	ref := r.PathValue("org")
	if ref == "" {
		return "", nil
	}
	o, err := organizationRef(r.Context(), s.store, ref)
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

// webhookOf loads the {webhook} of the route's scope.
func (s *Server) webhookOf(r *http.Request) (*freight.Webhook, error) {
	scope, err := s.webhookScope(r)
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, "webhook", freight.PrefixWebhook, "webhook")
	if err != nil {
		return nil, err
	}
	w, err := s.store.Webhook(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if w.OrgID != scope {
		return nil, freight.Errorf(freight.ENOTFOUND, "webhook not found")
	}
	return w, nil
}

// checkWebhookURL applies the sending policy to a URL when it is saved,
// for a clear error now rather than failed deliveries later. The policy
// is applied again at every connection.
func (s *Server) checkWebhookURL(ctx context.Context, raw string) error {
	if err := freight.ValidateWebhookURL("url", raw); err != nil {
		return err
	}
	pol := s.cfg.Webhooks.Policy
	u, err := pol.CheckURL(raw)
	if err != nil {
		return freight.FieldError("url", "%s", trimRefused(err))
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := pol.Resolve(ctx, u); err != nil {
		return freight.FieldError("url", "%s", trimRefused(err))
	}
	return nil
}

// trimRefused words a policy refusal for the API: without the package
// prefix.
func trimRefused(err error) string {
	msg := err.Error()
	const p = "webhook: destination refused: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// webhookInput is what a caller sets on a webhook. An update names only
// what changes.
type webhookInput struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
}

func (in webhookInput) apply(w *freight.Webhook) {
	if in.URL != nil {
		w.URL = *in.URL
	}
	if in.Description != nil {
		w.Description = *in.Description
	}
	if in.Events != nil {
		w.Events = *in.Events
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
}

// webhookWithSecret is the answer that shows a signing secret: creation
// and rotation, and never again.
type webhookWithSecret struct {
	*freight.Webhook
	Secret string `json:"secret"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	scope, err := s.webhookScope(r)
	if err != nil {
		return err
	}
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	f := freight.WebhookFilter{Page: pg, OrgID: scope, VendorOnly: scope == ""}
	hooks, next, err := s.store.Webhooks(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, hooks, next)
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	scope, err := s.webhookScope(r)
	if err != nil {
		return err
	}
	var in webhookInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	hook := &freight.Webhook{OrgID: scope, Enabled: true, Secret: freight.NewWebhookSecret(), CreatedBy: principal(ctx).Actor()}
	in.apply(hook)
	if err := hook.Validate(); err != nil {
		return err
	}
	if err := s.checkWebhookURL(ctx, hook.URL); err != nil {
		return err
	}
	err = s.change(r, "webhook.create", "webhook", func(tx freight.Store) (audited, error) {
		if err := tx.CreateWebhook(ctx, hook); err != nil {
			return audited{}, err
		}
		return audited{id: hook.ID, orgID: hook.OrgID, details: hook}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, webhookWithSecret{Webhook: hook, Secret: hook.Secret})
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hook)
	return nil
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	var in webhookInput
	if _, err := s.patchBody(w, r, &in); err != nil {
		return err
	}
	if in.URL != nil && *in.URL != hook.URL {
		if err := s.checkWebhookURL(ctx, *in.URL); err != nil {
			return err
		}
	}
	var after *freight.Webhook
	err = s.change(r, "webhook.update", "webhook", func(tx freight.Store) (audited, error) {
		var before *freight.Webhook
		var err error
		after, err = tx.UpdateWebhook(ctx, hook.ID, func(c *freight.Webhook) error {
			b := *c
			before = &b
			in.apply(c)
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: after.ID, orgID: after.OrgID, details: diff{Before: before, After: after}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	err = s.change(r, "webhook.delete", "webhook", func(tx freight.Store) (audited, error) {
		if err := tx.DeleteWebhook(r.Context(), hook.ID); err != nil {
			return audited{}, err
		}
		return audited{id: hook.ID, orgID: hook.OrgID, details: hook}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateInput says how long the old secret keeps signing beside the new
// one; absent, the configured grace. 0 ends the old secret at once.
type rotateInput struct {
	GraceSeconds *int64 `json:"grace_seconds"`
}

// rotateWebhookSecret makes a new signing secret and answers it, once.
// During the grace period every delivery carries a signature with each
// secret, so receivers can move to the new one without missing any.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	var in rotateInput
	if err := s.decodeOptional(w, r, &in); err != nil {
		return err
	}
	grace := s.cfg.Webhooks.RotationGrace
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || *in.GraceSeconds > int64(maxWebhookGrace/time.Second) {
			return freight.FieldError("grace_seconds", "must be between 0 and %d (seven days)", int64(maxWebhookGrace/time.Second))
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	var after *freight.Webhook
	err = s.change(r, "webhook.rotate-secret", "webhook", func(tx freight.Store) (audited, error) {
		var err error
		after, err = tx.UpdateWebhook(ctx, hook.ID, func(c *freight.Webhook) error {
			if grace > 0 {
				until := s.now().Add(grace)
				c.PreviousSecret, c.PreviousSecretExpiresAt = c.Secret, &until
			} else {
				c.PreviousSecret, c.PreviousSecretExpiresAt = "", nil
			}
			c.Secret = freight.NewWebhookSecret()
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: after.ID, orgID: after.OrgID, details: map[string]any{"grace_seconds": int64(grace / time.Second)}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookWithSecret{Webhook: after, Secret: after.Secret})
	return nil
}

// testEvent is the data of a webhook.test event.
type testEvent struct {
	WebhookID string `json:"webhook_id"`
	Message   string `json:"message"`
}

// testWebhook sends a webhook.test event to the webhook, enabled or not,
// through the same queue, signing and log as every delivery, and answers
// the pending delivery to follow.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	id, body, err := s.eventBody(freight.EventWebhookTest, testEvent{WebhookID: hook.ID, Message: "A test event sent from the portal."})
	if err != nil {
		return err
	}
	var d *freight.WebhookDelivery
	err = s.change(r, "webhook.test", "webhook", func(tx freight.Store) (audited, error) {
		var err error
		if d, err = s.queueDelivery(ctx, tx, hook.ID, id, freight.EventWebhookTest, body); err != nil {
			return audited{}, err
		}
		return audited{id: hook.ID, orgID: hook.OrgID, details: map[string]any{"delivery_id": d.ID, "event_id": id}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusAccepted, d)
	return nil
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.WebhookDeliveryFilter{Page: pg, WebhookID: hook.ID, State: freight.WebhookDeliveryState(q.Get("state"))}
	if f.State != "" && !freight.ValidDeliveryState(f.State) {
		return freight.FieldError("state", "must be pending, succeeded or failed")
	}
	ds, next, err := s.store.WebhookDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, ds, next)
	return nil
}

// deliveryOf loads the {delivery} of the route's webhook.
func (s *Server) deliveryOf(r *http.Request) (*freight.Webhook, *freight.WebhookDelivery, error) {
	hook, err := s.webhookOf(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "delivery", freight.PrefixWebhookDelivery, "webhook delivery")
	if err != nil {
		return nil, nil, err
	}
	d, err := s.store.WebhookDelivery(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if d.WebhookID != hook.ID {
		return nil, nil, freight.Errorf(freight.ENOTFOUND, "webhook delivery not found")
	}
	return hook, d, nil
}

// deliveryView is a delivery with its attempts, oldest first.
type deliveryView struct {
	*freight.WebhookDelivery
	AttemptLog []*freight.WebhookAttempt `json:"attempt_log"`
}

func (s *Server) getWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	_, d, err := s.deliveryOf(r)
	if err != nil {
		return err
	}
	as, err := s.store.WebhookAttempts(r.Context(), d.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deliveryView{WebhookDelivery: d, AttemptLog: as})
	return nil
}

// retryWebhookDelivery sends a delivery again: one that failed for good
// gets a fresh count of attempts, one that succeeded is sent once more
// (receivers deduplicate on the event id). A pending delivery is being
// tried already (ECONFLICT).
func (s *Server) retryWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	hook, d, err := s.deliveryOf(r)
	if err != nil {
		return err
	}
	err = s.change(r, "webhook.retry", "webhook", func(tx freight.Store) (audited, error) {
		var err error
		d, err = tx.UpdateWebhookDelivery(ctx, d.ID, func(c *freight.WebhookDelivery) error {
			if c.State == freight.DeliveryPending {
				return freight.Errorf(freight.ECONFLICT, "delivery %s is pending: it will be tried again without a retry", c.ID)
			}
			// The dead job of a failed delivery comes back; a done or
			// pruned one is replaced.
			jobID := ""
			if c.JobID != "" {
				j, err := tx.RetryJob(ctx, c.JobID, s.now())
				switch freight.ErrorCode(err) {
				case "":
					jobID = j.ID
				case freight.ECONFLICT, freight.ENOTFOUND:
				default:
					return err
				}
			}
			if jobID == "" {
				p := []byte(`{"delivery":"` + c.ID + `"}`)
				j := &freight.Job{Kind: webhookJobKind, Payload: p, MaxAttempts: s.cfg.Webhooks.Attempts, RunAt: s.now()}
				if err := tx.EnqueueJob(ctx, j); err != nil {
					return err
				}
				jobID = j.ID
			}
			c.State, c.JobID = freight.DeliveryPending, jobID
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: hook.ID, orgID: hook.OrgID, details: map[string]any{"delivery_id": d.ID, "event_id": d.EventID}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusAccepted, d)
	return nil
}
