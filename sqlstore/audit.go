package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

const auditColumns = `id, occurred_at, actor, token_id, action, target_type, target_id, org_id, ip, request_id, details`

func scanAuditEvent(r scanner) (*freight.AuditEvent, error) {
	var e freight.AuditEvent
	var details string
	err := r.Scan(&e.ID, timeCol{&e.Time}, &e.Actor, &e.TokenID, &e.Action, &e.TargetType, &e.TargetID, &e.OrgID,
		&e.IP, &e.RequestID, nullStringCol{&details})
	if err != nil {
		return nil, err
	}
	if details != "" {
		e.Details = json.RawMessage(details)
	}
	return &e, nil
}

// CreateAuditEvent appends e, giving it an id if it has none and the
// current time if it has none. Details must be a JSON object; it is stored
// as given, byte for byte, and JSON null is stored as no details.
func (s *store) CreateAuditEvent(ctx context.Context, e *freight.AuditEvent) error {
	c := *e
	if c.Actor == "" {
		return freight.FieldError("actor", "is required")
	}
	if c.Action == "" {
		return freight.FieldError("action", "is required")
	}
	if d := bytes.TrimSpace(c.Details); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		c.Details = nil
	} else if !json.Valid(d) || d[0] != '{' {
		return freight.FieldError("details", "must be a JSON object")
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixAudit, now)
	} else if err := checkID(freight.PrefixAudit, c.ID); err != nil {
		return err
	}
	if c.Time.IsZero() {
		c.Time = now
	}
	c.Time = normTime(c.Time)
	var details any
	if c.Details != nil {
		c.Details = append(json.RawMessage(nil), c.Details...)
		details = string(c.Details)
	}
	_, err := s.exec(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Time, c.Actor, c.TokenID, c.Action, c.TargetType, c.TargetID, c.OrgID, c.IP, c.RequestID, details)
	if err != nil {
		return s.fail(ctx, err, &errs{idConflict: fmt.Sprintf("an audit event with id %q already exists", c.ID)})
	}
	*e = c
	return nil
}

// AuditEvents lists events newest first by their time, which is not always
// the order they arrived in: an edge node reports its events late. Events of
// one instant come in id order, newest first. The cursor holds the time and
// the id of the last event returned.
func (s *store) AuditEvents(ctx context.Context, f freight.AuditFilter) ([]*freight.AuditEvent, string, error) {
	var c conds
	if f.After != "" {
		at, id, err := parseAuditCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		c.add(`(occurred_at < ? OR (occurred_at = ? AND id < ?))`, at, at, id)
	}
	for _, eq := range []struct{ col, v string }{
		{"actor", f.Actor},
		{"action", f.Action},
		{"target_type", f.TargetType},
		{"target_id", f.TargetID},
		{"org_id", f.OrgID},
	} {
		if eq.v != "" {
			c.add(eq.col+` = ?`, eq.v)
		}
	}
	if !f.Since.IsZero() {
		c.add(`occurred_at >= ?`, f.Since)
	}
	if !f.Until.IsZero() {
		c.add(`occurred_at < ?`, f.Until)
	}
	return listPage(ctx, s, `SELECT `+auditColumns+` FROM audit_events`+c.String()+` ORDER BY occurred_at DESC, id DESC`, c.args, f.Size(), nil,
		scanAuditEvent, auditCursor)
}

func auditCursor(e *freight.AuditEvent) string {
	return e.Time.UTC().Format(timeLayout) + "/" + e.ID
}

func parseAuditCursor(after string) (time.Time, string, error) {
	ts, id, ok := strings.Cut(after, "/")
	if !ok || !freight.ValidID(freight.PrefixAudit, id) {
		return time.Time{}, "", badCursor()
	}
	at, err := time.Parse(timeLayout, ts)
	if err != nil {
		return time.Time{}, "", badCursor()
	}
	return at, id, nil
}
