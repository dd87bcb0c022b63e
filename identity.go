package freight

import (
	"time"
)

// Sign-in security state of a user, kept with the user so that every
// replica sees the same counters and a row lock serialises their updates.
// None of it leaves the server.
type UserSecurity struct {
	// TOTPSecret is the enrolled TOTP secret; empty when MFA is off.
	// TOTPPending is a secret being enrolled, not yet confirmed by a code.
	// Codes are computed from them, so they cannot be hashed: the store
	// keeps them sealed (package seal).
	TOTPSecret  []byte
	TOTPPending []byte
	// TOTPLastStep is the last time step accepted, so that no code is
	// accepted twice.
	TOTPLastStep int64
	// Failures counts consecutive failed password checks; LockedUntil ends
	// the current lockout. MFAFailures and MFALockedUntil do the same for
	// second-factor codes.
	Failures       int
	LockedUntil    time.Time
	LastFailure    time.Time
	MFAFailures    int
	MFALockedUntil time.Time
	LastMFAFailure time.Time
}

// MFAEnabled reports whether the user has a confirmed second factor.
func (s *UserSecurity) MFAEnabled() bool { return len(s.TOTPSecret) > 0 }

// Session is a signed-in browser. The cookie holds the secret
// "frs_<id>_<random>"; only the SHA-256 of the random part is stored, so a
// copy of the database signs nobody in.
type Session struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// Level is SessionPartial between a correct password and the second
	// factor, SessionFull after. A partial session can do nothing but
	// complete the sign-in.
	Level  SessionLevel `json:"level"`
	Method string       `json:"method"` // "password", or "oidc:<provider>"
	// OrgID is the organization a customer user acts in, one of its
	// memberships; empty for vendor staff.
	OrgID      string    `json:"org_id,omitempty"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// ExpiresAt is the absolute end of the session, whatever its use.
	ExpiresAt time.Time `json:"expires_at"`

	SecretHash []byte `json:"-"`
}

// SessionLevel says how far a sign-in got.
type SessionLevel string

// Session levels.
const (
	SessionPartial SessionLevel = "partial"
	SessionFull    SessionLevel = "full"
)

// Validate checks the fields a caller sets.
func (s *Session) Validate() error {
	if !ValidID(PrefixUser, s.UserID) {
		return FieldError("user_id", "must be a user id")
	}
	if s.Level != SessionPartial && s.Level != SessionFull {
		return FieldError("level", "must be partial or full")
	}
	if len(s.SecretHash) != 32 {
		return FieldError("secret_hash", "must be a SHA-256")
	}
	if s.ExpiresAt.IsZero() {
		return FieldError("expires_at", "is required")
	}
	s.UserAgent = truncateText(s.UserAgent, 256)
	return nil
}

// NewSessionSecret returns a new session id and its cookie secret, shaped
// like a token secret with the prefix "frs_".
func NewSessionSecret(now time.Time) (id, secret string, hash []byte) {
	return newSecret(sessionPrefix, PrefixSession, now)
}

// ParseSessionSecret splits a session cookie into the session id and the
// hash of its random part.
func ParseSessionSecret(secret string) (id string, hash []byte, ok bool) {
	return parseSecret(sessionPrefix, PrefixSession, secret)
}

// Ticket is a single-use, expiring link sent by mail: an invitation, an
// email verification or a password reset; or the authorization code that
// a signed-in person's browser hands to the command line (TicketCLI). The
// link or code holds the secret "frl_<id>_<random>"; only its hash is
// stored.
type Ticket struct {
	ID   string     `json:"id"`
	Kind TicketKind `json:"kind"`
	// Email is where the link was sent. UserID is the user it acts on;
	// an invitation of a new person has none until it is accepted.
	Email  string `json:"email"`
	UserID string `json:"user_id,omitempty"`
	// An invitation places the user in OrgID with Role, or gives the
	// vendor role VendorRole.
	OrgID      string     `json:"org_id,omitempty"`
	Role       Role       `json:"role,omitempty"`
	VendorRole Role       `json:"vendor_role,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	UsedAt     *time.Time `json:"used_at,omitempty"`
	// RevokedAt is when the ticket was withdrawn (RevokeTicket): its link
	// no longer works.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`

	// A TicketCLI binds its code to the PKCE challenge (RFC 7636, S256:
	// the unpadded base64url SHA-256 of the verifier only the command line
	// knows), to the exact loopback address it was sent to, and to the
	// name of the machine the person allowed; the token it is exchanged
	// for acts with Role in OrgID, or with VendorRole.
	CodeChallenge string `json:"code_challenge,omitempty"`
	RedirectURI   string `json:"redirect_uri,omitempty"`
	ClientName    string `json:"client_name,omitempty"`

	SecretHash []byte `json:"-"`
}

// TicketKind is what a ticket does.
type TicketKind string

// Ticket kinds.
const (
	TicketInvite TicketKind = "invite"
	TicketVerify TicketKind = "verify"
	TicketReset  TicketKind = "reset"
	TicketCLI    TicketKind = "cli"
)

// Pending reports whether an invitation can still be accepted at now:
// not used, not withdrawn, not expired.
func (t *Ticket) Pending(now time.Time) bool {
	return t.Kind == TicketInvite && t.UsedAt == nil && t.RevokedAt == nil && now.Before(t.ExpiresAt)
}

// Validate checks the fields a caller sets.
func (t *Ticket) Validate() error {
	switch t.Kind {
	case TicketInvite:
		if (t.OrgID == "") == (t.VendorRole == "") {
			return FieldError("org_id", "an invitation is to an organization or to a vendor role, one of the two")
		}
		if t.OrgID != "" && !t.Role.IsOrg() {
			return FieldError("role", "must be org-admin or member")
		}
		if t.VendorRole != "" && !t.VendorRole.IsVendor() {
			return FieldError("vendor_role", "must be one of admin, publisher, support")
		}
	case TicketVerify, TicketReset:
		if t.UserID == "" {
			return FieldError("user_id", "is required")
		}
	case TicketCLI:
		if t.UserID == "" {
			return FieldError("user_id", "is required")
		}
		if (t.Role == "") == (t.VendorRole == "") || (t.Role != "") != (t.OrgID != "") {
			return FieldError("role", "a command-line sign-in acts with an organization role in its organization, or with a vendor role")
		}
		if t.Role != "" && !t.Role.IsOrg() || t.VendorRole != "" && !t.VendorRole.IsVendor() {
			return FieldError("role", "must be an organization role, or vendor_role a vendor role")
		}
		if len(t.CodeChallenge) != 43 {
			return FieldError("code_challenge", "must be an S256 challenge: 43 characters of unpadded base64url")
		}
		if t.RedirectURI == "" || len(t.RedirectURI) > 200 {
			return FieldError("redirect_uri", "is required, at most 200 characters")
		}
		if err := validateName("client_name", t.ClientName); err != nil {
			return err
		}
	default:
		return FieldError("kind", "must be invite, verify, reset or cli")
	}
	if t.Kind != TicketCLI && (t.CodeChallenge != "" || t.RedirectURI != "" || t.ClientName != "") {
		return FieldError("code_challenge", "belongs to command-line sign-ins only")
	}
	email, err := NormalizeEmail(t.Email)
	if err != nil {
		return err
	}
	t.Email = email
	if len(t.SecretHash) != 32 {
		return FieldError("secret_hash", "must be a SHA-256")
	}
	if t.ExpiresAt.IsZero() {
		return FieldError("expires_at", "is required")
	}
	return nil
}

// NewTicketSecret returns a new ticket id and the secret of its link.
func NewTicketSecret(now time.Time) (id, secret string, hash []byte) {
	return newSecret(ticketPrefix, PrefixTicket, now)
}

// ParseTicketSecret splits a link secret into the ticket id and the hash of
// its random part.
func ParseTicketSecret(secret string) (id string, hash []byte, ok bool) {
	return parseSecret(ticketPrefix, PrefixTicket, secret)
}

// Identity links an account at an external OpenID provider, named by its
// issuer and subject (never by email, which providers let people change),
// to a user.
type Identity struct {
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	UserID    string    `json:"user_id"`
	Provider  string    `json:"provider"`
	CreatedAt time.Time `json:"created_at"`
}

// Settings are the portal-wide settings an admin changes at run time.
type Settings struct {
	// RequireVendorMFA makes a second factor mandatory for vendor staff.
	RequireVendorMFA bool      `json:"require_vendor_mfa"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}
