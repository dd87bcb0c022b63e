package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/freight-portal/freight"
)

const webhookColumns = `id, org_id, url, description, events, enabled, secret, previous_secret, previous_secret_expires_at,
	created_by, created_at, updated_at`

func (s *store) scanWebhook(r scanner) (*freight.Webhook, error) {
	var w freight.Webhook
	err := r.Scan(&w.ID, nullStringCol{&w.OrgID}, &w.URL, &w.Description, listCol[string]{&w.Events}, boolCol{&w.Enabled},
		&w.Secret, &w.PreviousSecret, nullTimeCol{&w.PreviousSecretExpiresAt}, &w.CreatedBy, timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt})
	if err != nil {
		return nil, err
	}
	if w.Secret, err = s.openText(colWebhookSecret, w.ID, w.Secret); err != nil {
		return nil, err
	}
	if w.PreviousSecret, err = s.openText(colWebhookPrevious, w.ID, w.PreviousSecret); err != nil {
		return nil, err
	}
	return &w, nil
}

// sealWebhookSecrets returns the signing secrets of w as they are stored:
// sealed, an empty string for no previous secret.
func (s *store) sealWebhookSecrets(w *freight.Webhook) (secret, previous string, err error) {
	if secret, err = s.sealText(colWebhookSecret, w.ID, w.Secret); err != nil {
		return "", "", err
	}
	if previous, err = s.sealText(colWebhookPrevious, w.ID, w.PreviousSecret); err != nil {
		return "", "", err
	}
	return secret, previous, nil
}

var errWebhookNotFound = &errs{notFound: "webhook not found"}

func webhookErrs(w *freight.Webhook) *errs {
	return &errs{
		notFound:   "webhook not found",
		idConflict: fmt.Sprintf("a webhook with id %q already exists", w.ID),
		parents:    []parent{{constraint: "webhooks_org_id_fkey", table: "organizations", id: w.OrgID, notFound: "organization not found"}},
	}
}

// CreateWebhook stores w, giving it an id if it has none and setting its
// times.
func (s *store) CreateWebhook(ctx context.Context, w *freight.Webhook) error {
	c := *w
	c.Events = slices.Clone(c.Events)
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixWebhook, now)
	} else if err := checkID(freight.PrefixWebhook, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	c.PreviousSecretExpiresAt = normTimePtr(c.PreviousSecretExpiresAt)
	secret, previous, err := s.sealWebhookSecrets(&c)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, nullString(c.OrgID), c.URL, c.Description, list(c.Events), c.Enabled, secret, previous, c.PreviousSecretExpiresAt,
		c.CreatedBy, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, webhookErrs(&c))
	}
	*w = c
	return nil
}

func (s *store) Webhook(ctx context.Context, id string) (*freight.Webhook, error) {
	return s.webhook(ctx, id, false)
}

func (s *store) webhook(ctx context.Context, id string, lock bool) (*freight.Webhook, error) {
	q := `SELECT ` + webhookColumns + ` FROM webhooks WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	w, err := s.scanWebhook(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errWebhookNotFound)
	}
	return w, nil
}

func (s *store) Webhooks(ctx context.Context, f freight.WebhookFilter) ([]*freight.Webhook, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixWebhook, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	switch {
	case f.OrgID != "" && f.VendorOnly:
		return nil, "", freight.Errorf(freight.EINVALID, "a webhook filter names an organization or the vendor, not both")
	case f.OrgID != "":
		c.add(`org_id = ?`, f.OrgID)
	case f.VendorOnly:
		c.add(`org_id IS NULL`)
	}
	return listPage(ctx, s, `SELECT `+webhookColumns+` FROM webhooks`+c.String()+` ORDER BY id`, c.args, f.Size(),
		named(orgNamed(f.OrgID)), s.scanWebhook, func(w *freight.Webhook) string { return w.ID })
}

// UpdateWebhook locks the webhook, passes a copy to fn and writes what fn
// returns, but for the fields that never change.
func (s *store) UpdateWebhook(ctx context.Context, id string, fn func(*freight.Webhook) error) (*freight.Webhook, error) {
	var out *freight.Webhook
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.webhook(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		c.Events = slices.Clone(old.Events)
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.OrgID, c.CreatedBy, c.CreatedAt = old.ID, old.OrgID, old.CreatedBy, old.CreatedAt
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		c.PreviousSecretExpiresAt = normTimePtr(c.PreviousSecretExpiresAt)
		secret, previous, err := s.sealWebhookSecrets(&c)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, `UPDATE webhooks SET url = ?, description = ?, events = ?, enabled = ?, secret = ?, previous_secret = ?,
			previous_secret_expires_at = ?, updated_at = ? WHERE id = ?`,
			c.URL, c.Description, list(c.Events), c.Enabled, secret, previous, c.PreviousSecretExpiresAt, c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, webhookErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteWebhook deletes the webhook; the foreign keys delete its
// deliveries and their attempts. Jobs queued for those deliveries find
// nothing to send when they run.
func (s *store) DeleteWebhook(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM webhooks WHERE id = ?`, id, errWebhookNotFound)
}

const deliveryColumns = `id, webhook_id, event_id, event_type, payload, state, attempts, last_status, last_error, job_id, created_at, updated_at`

func scanDelivery(r scanner) (*freight.WebhookDelivery, error) {
	var d freight.WebhookDelivery
	var payload string
	err := r.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &payload, (*string)(&d.State), &d.Attempts, &d.LastStatus,
		&d.LastError, nullStringCol{&d.JobID}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt})
	if err != nil {
		return nil, err
	}
	d.Payload = []byte(payload)
	return &d, nil
}

var errDeliveryNotFound = &errs{notFound: "webhook delivery not found"}

func deliveryErrs(d *freight.WebhookDelivery) *errs {
	return &errs{
		notFound:   "webhook delivery not found",
		idConflict: fmt.Sprintf("a webhook delivery with id %q already exists", d.ID),
		conflict:   fmt.Sprintf("event %s was delivered to webhook %s already", d.EventID, d.WebhookID),
		parents:    []parent{{constraint: "webhook_deliveries_webhook_id_fkey", table: "webhooks", id: d.WebhookID, notFound: "webhook not found"}},
	}
}

// CreateWebhookDelivery stores d, giving it an id if it has none and
// setting its times. An event reaches one webhook once: a second delivery
// of it is ECONFLICT.
func (s *store) CreateWebhookDelivery(ctx context.Context, d *freight.WebhookDelivery) error {
	c := *d
	c.Payload = append([]byte(nil), c.Payload...)
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixWebhookDelivery, now)
	} else if err := checkID(freight.PrefixWebhookDelivery, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.WebhookID, c.EventID, c.EventType, string(c.Payload), string(c.State), c.Attempts, c.LastStatus, c.LastError,
		nullString(c.JobID), c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, deliveryErrs(&c))
	}
	*d = c
	return nil
}

func (s *store) WebhookDelivery(ctx context.Context, id string) (*freight.WebhookDelivery, error) {
	return s.delivery(ctx, id, false)
}

func (s *store) delivery(ctx context.Context, id string, lock bool) (*freight.WebhookDelivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	d, err := scanDelivery(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errDeliveryNotFound)
	}
	return d, nil
}

func (s *store) WebhookDeliveries(ctx context.Context, f freight.WebhookDeliveryFilter) ([]*freight.WebhookDelivery, string, error) {
	if f.WebhookID == "" {
		return nil, "", freight.FieldError("webhook_id", "is required")
	}
	var c conds
	c.add(`webhook_id = ?`, f.WebhookID)
	if f.After != "" {
		if err := idCursor(freight.PrefixWebhookDelivery, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id < ?`, f.After)
	}
	if f.State != "" {
		if !freight.ValidDeliveryState(f.State) {
			return nil, "", freight.FieldError("state", "must be pending, succeeded or failed")
		}
		c.add(`state = ?`, string(f.State))
	}
	return listPage(ctx, s, `SELECT `+deliveryColumns+` FROM webhook_deliveries`+c.String()+` ORDER BY id DESC`, c.args, f.Size(),
		[]parent{{table: "webhooks", id: f.WebhookID, notFound: "webhook not found"}},
		scanDelivery, func(d *freight.WebhookDelivery) string { return d.ID })
}

// UpdateWebhookDelivery locks the delivery, passes a copy to fn and writes
// the fields that change as it is attempted; anything else fn changes is
// ignored: what was sent stays as it was.
func (s *store) UpdateWebhookDelivery(ctx context.Context, id string, fn func(*freight.WebhookDelivery) error) (*freight.WebhookDelivery, error) {
	var out *freight.WebhookDelivery
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.delivery(ctx, id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.WebhookID, c.EventID, c.EventType, c.Payload, c.CreatedAt = old.ID, old.WebhookID, old.EventID, old.EventType, old.Payload, old.CreatedAt
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		_, err = s.exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?, last_status = ?, last_error = ?, job_id = ?, updated_at = ?
			WHERE id = ?`, string(c.State), c.Attempts, c.LastStatus, c.LastError, nullString(c.JobID), c.UpdatedAt, c.ID)
		if err != nil {
			return s.fail(ctx, err, deliveryErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddWebhookAttempt appends an attempt to a delivery's record.
func (s *store) AddWebhookAttempt(ctx context.Context, a *freight.WebhookAttempt) error {
	c := *a
	if err := c.Validate(); err != nil {
		return err
	}
	c.At = normTime(c.At)
	id := s.db.newID("wha", s.db.now())
	_, err := s.exec(ctx, `INSERT INTO webhook_attempts (id, delivery_id, at, status_code, duration_ms, error, response_body)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, c.DeliveryID, c.At, c.StatusCode, c.DurationMS, c.Error, c.ResponseBody)
	if err != nil {
		return s.fail(ctx, err, &errs{parents: []parent{{constraint: "webhook_attempts_delivery_id_fkey", table: "webhook_deliveries",
			id: c.DeliveryID, notFound: "webhook delivery not found"}}})
	}
	*a = c
	return nil
}

// WebhookAttempts lists the attempts of a delivery in the order they were
// made.
func (s *store) WebhookAttempts(ctx context.Context, deliveryID string) ([]*freight.WebhookAttempt, error) {
	rows, err := s.query(ctx, `SELECT delivery_id, at, status_code, duration_ms, error, response_body FROM webhook_attempts
		WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	defer rows.Close()
	out := []*freight.WebhookAttempt{}
	for rows.Next() {
		var a freight.WebhookAttempt
		if err := rows.Scan(&a.DeliveryID, timeCol{&a.At}, &a.StatusCode, &a.DurationMS, &a.Error, &a.ResponseBody); err != nil {
			return nil, s.fail(ctx, err, nil)
		}
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, err, nil)
	}
	if len(out) == 0 {
		if err := s.mustExist(ctx, []parent{{table: "webhook_deliveries", id: deliveryID, notFound: "webhook delivery not found"}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
