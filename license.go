package freight

import "time"

// LicenseState is where an issued license is in its life.
type LicenseState string

// License states. An amendment supersedes the license it replaces (which
// is kept); a revoked license is listed in the revocation list.
const (
	LicenseActive     LicenseState = "active"
	LicenseSuperseded LicenseState = "superseded"
	LicenseRevoked    LicenseState = "revoked"
)

// LicenseFeature is one licensed function, with an optional value or limit.
type LicenseFeature struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Limit *int64 `json:"limit,omitempty"`
}

// License is a license file issued to an organization for a product. The
// signed file is stored as issued, so that every download returns the
// same bytes.
type License struct {
	ID               string           `json:"id"`
	OrgID            string           `json:"org_id"`
	ProductID        string           `json:"product_id"`
	Features         []LicenseFeature `json:"features"`
	Seats            int              `json:"seats"` // 0: no limit
	HardwareIDs      []string         `json:"hardware_ids,omitempty"`
	NotBefore        time.Time        `json:"not_before"`
	ExpiresAt        *time.Time       `json:"expires_at,omitempty"`
	MaintenanceUntil *time.Time       `json:"maintenance_until,omitempty"`
	KeyID            string           `json:"key_id"`
	State            LicenseState     `json:"state"`
	SupersedesID     string           `json:"supersedes_id,omitempty"` // the license this one amends
	RevokedAt        *time.Time       `json:"revoked_at,omitempty"`
	RevokeReason     string           `json:"revoke_reason,omitempty"`
	CreatedBy        string           `json:"created_by"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`

	// File is the signed license file. It carries no secret, but it is
	// the customer's, so list answers leave it out.
	File []byte `json:"-"`
}
