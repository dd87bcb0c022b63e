package freight

import (
	"encoding/json"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Organization is a customer of the vendor. Its users download what its
// entitlements allow.
type Organization struct {
	ID   string `json:"id"`
	Slug string `json:"slug"` // unique, used in URLs and by humans
	Name string `json:"name"`
	// RequireMFA makes a second factor mandatory for the organization's
	// users.
	RequireMFA bool `json:"require_mfa"`
	// Region is where the organization downloads from: delivery mode edge
	// sends it to a healthy edge of this region first. Empty: no preference.
	Region    string    `json:"region,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the fields a caller sets.
func (o *Organization) Validate() error {
	if err := validateSlug("slug", o.Slug); err != nil {
		return err
	}
	if err := ValidateRegion("region", o.Region, true); err != nil {
		return err
	}
	return validateName("name", o.Name)
}

// User is a person who signs in: vendor staff (with a vendor role) or a
// customer's employee (with memberships in one or more organizations).
type User struct {
	ID         string `json:"id"`
	Email      string `json:"email"` // unique, stored lower case
	Name       string `json:"name"`
	VendorRole Role   `json:"vendor_role,omitempty"` // empty for customer users
	Disabled   bool   `json:"disabled"`
	// EmailVerified is set when the user proved the address: by accepting
	// an invitation or following a verification link.
	EmailVerified bool `json:"email_verified"`
	// NoReleaseMail is the user's choice not to be mailed when a release
	// their organization is entitled to is published. Its zero value keeps
	// the notifications on; JSON shows it as "notify_releases", the
	// opposite.
	NoReleaseMail bool      `json:"-"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	// PasswordHash is the encoded password hash, empty when no password is
	// set. It never leaves the server, nor does Security.
	PasswordHash string       `json:"-"`
	Security     UserSecurity `json:"-"`
}

// MarshalJSON adds whether the user has a second factor, without the
// factor itself, and whether release notifications are on.
func (u User) MarshalJSON() ([]byte, error) {
	type plain User
	return json.Marshal(struct {
		plain
		MFAEnabled     bool `json:"mfa_enabled"`
		NotifyReleases bool `json:"notify_releases"`
	}{plain(u), u.Security.MFAEnabled(), !u.NoReleaseMail})
}

// UnmarshalJSON reads a user as MarshalJSON writes it, so that a client
// of the API gets the release notification choice back; the second
// factor itself never travels, so mfa_enabled is not read.
func (u *User) UnmarshalJSON(b []byte) error {
	type plain User
	v := struct {
		*plain
		NotifyReleases *bool `json:"notify_releases"`
	}{plain: (*plain)(u)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.NotifyReleases != nil {
		u.NoReleaseMail = !*v.NotifyReleases
	}
	return nil
}

// Validate normalises the email address and checks the fields a caller sets.
func (u *User) Validate() error {
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return err
	}
	u.Email = email
	if u.Name != "" {
		if err := validateName("name", u.Name); err != nil {
			return err
		}
	}
	if u.VendorRole != "" && !u.VendorRole.IsVendor() {
		return FieldError("vendor_role", "must be one of admin, publisher, support")
	}
	return nil
}

// NormalizeEmail checks that s is a plain email address (no display name)
// and returns it in lower case.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", FieldError("email", "is required")
	}
	// Lower-casing can lengthen a string (Ⱥ is 2 bytes, ⱥ is 3), so the
	// limit applies to the lower-case form, which is what is stored.
	if len(strings.ToLower(s)) > 254 {
		return "", FieldError("email", "must be at most 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", FieldError("email", "must be a plain email address like name@example.com")
	}
	return strings.ToLower(s), nil
}

// Membership places a user in an organization with an organization role.
type Membership struct {
	UserID    string    `json:"user_id"`
	OrgID     string    `json:"org_id"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the role.
func (m *Membership) Validate() error {
	if !m.Role.IsOrg() {
		return FieldError("role", "must be org-admin or member")
	}
	return nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func validateSlug(field, s string) error {
	if s == "" {
		return FieldError(field, "is required")
	}
	if !slugRE.MatchString(s) {
		return FieldError(field, "must be 1 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit")
	}
	return nil
}

func validateName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return FieldError(field, "is required")
	}
	if strings.ContainsAny(s, "\n\t") {
		return FieldError(field, "must be a single line")
	}
	return validateText(field, s, 200)
}

// validateText bounds free text and refuses invalid UTF-8 and control
// characters, which have no business in names and break logs and terminals.
func validateText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return FieldError(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return FieldError(field, "must be at most %d characters", max)
	}
	for _, r := range s {
		// C0, DEL and C1 (U+0080–U+009F, which include terminal escapes).
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return FieldError(field, "must not contain control characters")
		}
	}
	return nil
}
