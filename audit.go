package freight

import (
	"encoding/json"
	"time"
)

// AuditEvent records one change or one security-relevant act: who did
// what to which object, when, from where. Events are append-only.
type AuditEvent struct {
	ID         string          `json:"id"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`              // user or token id, or "system"
	TokenID    string          `json:"token_id,omitempty"` // the credential used
	Action     string          `json:"action"`             // e.g. "organization.create"
	TargetType string          `json:"target_type"`        // e.g. "organization"
	TargetID   string          `json:"target_id"`
	OrgID      string          `json:"org_id,omitempty"` // the customer organization concerned, if any
	IP         string          `json:"ip,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"` // a JSON object; never holds secrets
}
