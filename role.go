package freight

import "slices"

// Role is what a principal may do. Vendor roles apply to the whole portal;
// organization roles apply inside one customer organization.
type Role string

// Vendor roles.
const (
	RoleAdmin     Role = "admin"     // everything
	RolePublisher Role = "publisher" // products and releases: upload, publish, yank
	RoleSupport   Role = "support"   // read-only view of everything
)

// Organization roles.
const (
	RoleOrgAdmin Role = "org-admin" // manages its organization's users and tokens
	RoleMember   Role = "member"    // downloads what the organization is entitled to
)

// IsVendor reports whether r is a vendor staff role.
func (r Role) IsVendor() bool {
	return r == RoleAdmin || r == RolePublisher || r == RoleSupport
}

// IsOrg reports whether r is a role inside a customer organization.
func (r Role) IsOrg() bool { return r == RoleOrgAdmin || r == RoleMember }

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.IsVendor() || r.IsOrg() }

// Principal is the authenticated caller of a request: who acts, with which
// role, and in which organization for organization roles.
type Principal struct {
	UserID    string // empty for a token not bound to a user
	TokenID   string // the API token used, if any
	SessionID string // the browser session used, if any
	Role      Role
	OrgID     string // set only for organization roles
	// Products narrows a publisher to these product ids; empty means all.
	Products []string
	// MFAEnrollment marks a person signed in who must enrol a second
	// factor before doing anything else.
	MFAEnrollment bool
}

// MayPublishTo reports whether p may manage the releases of a product.
func (p Principal) MayPublishTo(productID string) bool {
	return p.CanPublish() && (len(p.Products) == 0 || slices.Contains(p.Products, productID))
}

// Actor returns the identifier recorded in audit events for p.
func (p Principal) Actor() string {
	switch {
	case p.UserID != "":
		return p.UserID
	case p.TokenID != "":
		return p.TokenID
	}
	return "system"
}

// CanRead reports whether p may read vendor-wide administrative data.
func (p Principal) CanRead() bool { return p.Role.IsVendor() }

// CanPublish reports whether p may manage products and releases.
func (p Principal) CanPublish() bool { return p.Role == RoleAdmin || p.Role == RolePublisher }

// CanAdminister reports whether p may manage organizations, users,
// memberships, entitlements and tokens.
func (p Principal) CanAdminister() bool { return p.Role == RoleAdmin }
