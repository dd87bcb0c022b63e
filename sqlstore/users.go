package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

const userColumns = `id, email, name, vendor_role, disabled, password_hash, created_at, updated_at, email_verified, ` +
	`totp_secret, totp_pending, totp_last_step, failures, locked_until, last_failure, mfa_failures, mfa_locked_until, last_mfa_failure, ` +
	`notify_releases`

func (s *store) scanUser(r scanner) (*freight.User, error) {
	var u freight.User
	var notify bool
	sec := &u.Security
	err := r.Scan(&u.ID, &u.Email, &u.Name, (*string)(&u.VendorRole), boolCol{&u.Disabled}, &u.PasswordHash,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, boolCol{&u.EmailVerified},
		bytesCol{&sec.TOTPSecret}, bytesCol{&sec.TOTPPending}, &sec.TOTPLastStep,
		&sec.Failures, zeroTimeCol{&sec.LockedUntil}, zeroTimeCol{&sec.LastFailure},
		&sec.MFAFailures, zeroTimeCol{&sec.MFALockedUntil}, zeroTimeCol{&sec.LastMFAFailure},
		boolCol{&notify})
	if err != nil {
		return nil, err
	}
	if sec.TOTPSecret, err = s.open(colTOTPSecret, u.ID, sec.TOTPSecret); err != nil {
		return nil, err
	}
	if sec.TOTPPending, err = s.open(colTOTPPending, u.ID, sec.TOTPPending); err != nil {
		return nil, err
	}
	u.NoReleaseMail = !notify
	return &u, nil
}

// sealTOTP returns the TOTP secrets of u as they are stored: sealed, NULL
// when empty.
func (s *store) sealTOTP(u *freight.User) (secret, pending any, err error) {
	sec, err := s.seal(colTOTPSecret, u.ID, u.Security.TOTPSecret)
	if err != nil {
		return nil, nil, err
	}
	pend, err := s.seal(colTOTPPending, u.ID, u.Security.TOTPPending)
	if err != nil {
		return nil, nil, err
	}
	return nullBytes(sec), nullBytes(pend), nil
}

// userValues returns the values of userColumns for u, the Security state
// as it is stored: zero times as NULL, secrets sealed, empty ones as NULL.
func (s *store) userValues(u *freight.User) ([]any, error) {
	sec := &u.Security
	totp, pending, err := s.sealTOTP(u)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.Email, u.Name, string(u.VendorRole), u.Disabled, u.PasswordHash,
		u.CreatedAt, u.UpdatedAt, u.EmailVerified,
		totp, pending, sec.TOTPLastStep,
		sec.Failures, zeroTime(sec.LockedUntil), zeroTime(sec.LastFailure),
		sec.MFAFailures, zeroTime(sec.MFALockedUntil), zeroTime(sec.LastMFAFailure),
		!u.NoReleaseMail}, nil
}

// prepareSecurity checks the sign-in state that is about to be written and
// makes it what the store returns: times in UTC at microseconds, secrets
// copied so that the stored user shares no bytes with the caller.
func prepareSecurity(sec *freight.UserSecurity) error {
	if sec.Failures < 0 || sec.MFAFailures < 0 {
		return freight.FieldError("security", "failure counters must not be negative")
	}
	if sec.TOTPLastStep < 0 {
		return freight.FieldError("security", "the last TOTP step must not be negative")
	}
	if len(sec.TOTPSecret) > maxTOTPSecret || len(sec.TOTPPending) > maxTOTPSecret {
		return freight.FieldError("security", "a TOTP secret must be at most %d bytes", maxTOTPSecret)
	}
	sec.TOTPSecret, sec.TOTPPending = cloneBytes(sec.TOTPSecret), cloneBytes(sec.TOTPPending)
	sec.LockedUntil, sec.LastFailure = normZeroTime(sec.LockedUntil), normZeroTime(sec.LastFailure)
	sec.MFALockedUntil, sec.LastMFAFailure = normZeroTime(sec.MFALockedUntil), normZeroTime(sec.LastMFAFailure)
	return nil
}

// maxTOTPSecret bounds a stored TOTP secret: RFC 4226 asks for 160 bits,
// SHA-512 keys are 64 bytes, and anything much longer is not a TOTP key.
const maxTOTPSecret = 128

func userErrs(u *freight.User) *errs {
	return &errs{
		notFound:   "user not found",
		conflict:   fmt.Sprintf("a user with email %q already exists", u.Email),
		idConflict: fmt.Sprintf("a user with id %q already exists", u.ID),
	}
}

var errUserNotFound = &errs{notFound: "user not found"}

// CreateUser stores u with its email in lower case, giving it an id if it
// has none, and sets its created and updated times.
func (s *store) CreateUser(ctx context.Context, u *freight.User) error {
	c := *u
	if err := c.Validate(); err != nil {
		return err
	}
	if err := prepareSecurity(&c.Security); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixUser, now)
	} else if err := checkID(freight.PrefixUser, c.ID); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = now, now
	values, err := s.userValues(&c)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, values...)
	if err != nil {
		return s.fail(ctx, err, userErrs(&c))
	}
	*u = c
	return nil
}

func (s *store) User(ctx context.Context, id string) (*freight.User, error) {
	return s.user(ctx, "id", id, false)
}

// UserByEmail finds a user by email address, in any case.
func (s *store) UserByEmail(ctx context.Context, email string) (*freight.User, error) {
	return s.user(ctx, "email", strings.ToLower(strings.TrimSpace(email)), false)
}

func (s *store) user(ctx context.Context, col, v string, lock bool) (*freight.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE ` + col + ` = ?`
	if lock {
		q += s.forUpdate()
	}
	u, err := s.scanUser(s.queryRow(ctx, q, v))
	if err != nil {
		return nil, s.fail(ctx, err, errUserNotFound)
	}
	return u, nil
}

func (s *store) Users(ctx context.Context, f freight.UserFilter) ([]*freight.User, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixUser, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id > ?`, f.After)
	}
	if f.OrgID != "" {
		c.add(`EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = ?)`, f.OrgID)
	}
	if f.VendorOnly {
		c.add(`vendor_role <> ''`)
	}
	return listPage(ctx, s, `SELECT `+userColumns+` FROM users`+c.String()+` ORDER BY id`, c.args, f.Size(), named(orgNamed(f.OrgID)),
		s.scanUser, func(u *freight.User) string { return u.ID })
}

func (s *store) UpdateUser(ctx context.Context, id string, fn func(*freight.User) error) (*freight.User, error) {
	var out *freight.User
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.user(ctx, "id", id, true)
		if err != nil {
			return err
		}
		c := *old
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt = old.ID, old.CreatedAt
		if err := c.Validate(); err != nil {
			return err
		}
		if err := prepareSecurity(&c.Security); err != nil {
			return err
		}
		c.UpdatedAt = s.db.now()
		sec := &c.Security
		totp, pending, err := s.sealTOTP(&c)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, `UPDATE users SET email = ?, name = ?, vendor_role = ?, disabled = ?, password_hash = ?, updated_at = ?, email_verified = ?,
			totp_secret = ?, totp_pending = ?, totp_last_step = ?, failures = ?, locked_until = ?, last_failure = ?,
			mfa_failures = ?, mfa_locked_until = ?, last_mfa_failure = ?, notify_releases = ? WHERE id = ?`,
			c.Email, c.Name, string(c.VendorRole), c.Disabled, c.PasswordHash, c.UpdatedAt, c.EmailVerified,
			totp, pending, sec.TOTPLastStep, sec.Failures, zeroTime(sec.LockedUntil), zeroTime(sec.LastFailure),
			sec.MFAFailures, zeroTime(sec.MFALockedUntil), zeroTime(sec.LastMFAFailure), !c.NoReleaseMail, c.ID)
		if err != nil {
			return s.fail(ctx, err, userErrs(&c))
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser deletes the user; the foreign keys delete its memberships,
// tokens, sessions, tickets, recovery codes and identities.
func (s *store) DeleteUser(ctx context.Context, id string) error {
	return s.deleteByID(ctx, `DELETE FROM users WHERE id = ?`, id, errUserNotFound)
}

const membershipColumns = `user_id, org_id, role, created_at`

func scanMembership(r scanner) (*freight.Membership, error) {
	var m freight.Membership
	if err := r.Scan(&m.UserID, &m.OrgID, (*string)(&m.Role), timeCol{&m.CreatedAt}); err != nil {
		return nil, err
	}
	return &m, nil
}

// PutMembership creates the membership or changes its role. A new
// membership gets the current time as its created time; an existing one
// keeps its own, which is copied into m.
func (s *store) PutMembership(ctx context.Context, m *freight.Membership) error {
	if err := m.Validate(); err != nil {
		return err
	}
	var created time.Time
	err := s.execReturning(ctx, []any{timeCol{&created}}, `INSERT INTO memberships (`+membershipColumns+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, org_id) DO UPDATE SET role = excluded.role
		RETURNING created_at`,
		m.UserID, m.OrgID, string(m.Role), s.db.now())
	if err != nil {
		return s.fail(ctx, err, &errs{parents: []parent{
			{constraint: "memberships_user_id_fkey", table: "users", id: m.UserID, notFound: "user not found"},
			{constraint: "memberships_org_id_fkey", table: "organizations", id: m.OrgID, notFound: "organization not found"},
		}})
	}
	m.CreatedAt = created
	return nil
}

// Memberships lists memberships ordered by user id, then organization id.
// The cursor is "userID/orgID" of the last membership returned.
func (s *store) Memberships(ctx context.Context, f freight.MembershipFilter) ([]*freight.Membership, string, error) {
	var c conds
	if f.After != "" {
		userID, orgID, ok := strings.Cut(f.After, "/")
		if !ok || !freight.ValidID(freight.PrefixUser, userID) || !freight.ValidID(freight.PrefixOrganization, orgID) {
			return nil, "", badCursor()
		}
		c.add(`(user_id > ? OR (user_id = ? AND org_id > ?))`, userID, userID, orgID)
	}
	if f.UserID != "" {
		c.add(`user_id = ?`, f.UserID)
	}
	if f.OrgID != "" {
		c.add(`org_id = ?`, f.OrgID)
	}
	return listPage(ctx, s, `SELECT `+membershipColumns+` FROM memberships`+c.String()+` ORDER BY user_id, org_id`, c.args, f.Size(), named(userNamed(f.UserID), orgNamed(f.OrgID)),
		scanMembership, func(m *freight.Membership) string { return m.UserID + "/" + m.OrgID })
}

func (s *store) DeleteMembership(ctx context.Context, userID, orgID string) error {
	return s.deleteRow(ctx, `DELETE FROM memberships WHERE user_id = ? AND org_id = ?`, []any{userID, orgID},
		&errs{notFound: "membership not found"})
}
