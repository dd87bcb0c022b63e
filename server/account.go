package server

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/password"
)

// recoveryCodeCount is how many recovery codes an account gets.
const recoveryCodeCount = 10

// me is the caller as the server sees it.
type me struct {
	UserID        string        `json:"user_id,omitempty"`
	TokenID       string        `json:"token_id,omitempty"`
	SessionID     string        `json:"session_id,omitempty"`
	Role          freight.Role  `json:"role,omitempty"`
	OrgID         string        `json:"org_id,omitempty"`
	Products      []string      `json:"products,omitempty"`
	MFAEnrollment bool          `json:"mfa_enrollment,omitempty"`
	User          *freight.User `json:"user,omitempty"`
	// Memberships lists the organizations a person may act in.
	Memberships []*freight.Membership `json:"memberships,omitempty"`
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	out := me{UserID: p.UserID, TokenID: p.TokenID, SessionID: p.SessionID, Role: p.Role, OrgID: p.OrgID,
		Products: p.Products, MFAEnrollment: p.MFAEnrollment}
	if p.UserID != "" {
		u, err := s.store.User(ctx, p.UserID)
		if err != nil {
			return err
		}
		out.User = u
		if out.Memberships, _, err = s.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, Page: freight.Page{Limit: freight.MaxPageSize}}); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reauth checks the caller's current password before a change of
// credentials, under the same lockout as sign-in.
func (s *Server) reauth(ctx context.Context, r *http.Request, u *freight.User, pw string) error {
	now := s.now()
	if wait := passwordAttempts(&u.Security).wait(now); wait > 0 {
		return errLocked(wait)
	}
	if pw == "" {
		return freight.FieldError("password", "is required: confirm your current password")
	}
	ok, err := password.Verify(ctx, pw, u.PasswordHash)
	if err != nil && err != password.ErrMalformed {
		return err
	}
	if !ok {
		s.recordFailure(ctx, r, u.ID, "auth.reauth_failed", func(sec *freight.UserSecurity) {
			a := passwordAttempts(sec)
			a.fail(now)
			a.storePassword(sec)
		})
		return freight.Errorf(freight.EUNAUTHORIZED, "wrong password")
	}
	return nil
}

type passwordInput struct {
	Password    string `json:"password"`
	NewPassword string `json:"new_password"`
}

// changePassword sets a new password after checking the current one, and
// ends every other session of the account.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in passwordInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if err := s.reauth(ctx, r, u, in.Password); err != nil {
		return err
	}
	if err := password.Check(in.NewPassword, u.Email, u.Name); err != nil {
		return freight.FieldError("new_password", "%s", freight.ErrorMessage(err))
	}
	hash, err := password.Hash(ctx, in.NewPassword, s.cfg.PasswordParams)
	if err != nil {
		return err
	}
	err = s.change(r, "user.password_change", "user", func(tx freight.Store) (audited, error) {
		if _, err := tx.UpdateUser(ctx, u.ID, func(u *freight.User) error {
			u.PasswordHash = hash
			return nil
		}); err != nil {
			return audited{}, err
		}
		if _, err := tx.DeleteSessions(ctx, u.ID, p.SessionID); err != nil {
			return audited{}, err
		}
		return audited{id: u.ID}, s.queueMail(ctx, tx, freight.MailPasswordChanged, u.Email, s.notice(r, u.Name))
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type totpBegin struct {
	// Secret is the TOTP secret in base32, for typing into an app; URI is
	// the otpauth:// URI, for a QR code.
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// beginTOTP starts enrolling a TOTP authenticator: it makes a secret and
// keeps it pending until a code from it confirms the enrolment.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in passwordInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.Security.MFAEnabled() {
		return freight.Errorf(freight.ECONFLICT, "a second factor is enrolled already: turn it off first to enrol another")
	}
	if err := s.reauth(ctx, r, u, in.Password); err != nil {
		return err
	}
	secret := mfa.NewSecret()
	if _, err := s.store.UpdateUser(ctx, u.ID, func(u *freight.User) error {
		u.Security.TOTPPending = secret
		return nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpBegin{Secret: mfa.EncodeSecret(secret), URI: mfa.URI("Freight", u.Email, secret)})
	return nil
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// confirmTOTP turns the pending secret on with a code from it, and answers
// the recovery codes, shown this once. Every other session ends: a new
// factor is a new start.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in mfaInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	now := s.now()
	codes, hashes := mfa.NewRecoveryCodes(recoveryCodeCount)
	var u *freight.User
	err := s.change(r, "user.mfa_enable", "user", func(tx freight.Store) (audited, error) {
		var err error
		u, err = tx.UpdateUser(ctx, p.UserID, func(u *freight.User) error {
			if len(u.Security.TOTPPending) == 0 {
				return freight.Errorf(freight.ECONFLICT, "no enrolment in progress: start with POST /api/v1/account/mfa/totp")
			}
			step, ok := mfa.Verify(u.Security.TOTPPending, in.Code, now, 0)
			if !ok {
				return errBadCode
			}
			u.Security.TOTPSecret, u.Security.TOTPPending, u.Security.TOTPLastStep = u.Security.TOTPPending, nil, step
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		if err := tx.SetRecoveryCodes(ctx, u.ID, hashes); err != nil {
			return audited{}, err
		}
		if _, err := tx.DeleteSessions(ctx, u.ID, p.SessionID); err != nil {
			return audited{}, err
		}
		return audited{id: u.ID}, s.queueMail(ctx, tx, freight.MailMFAEnabled, u.Email, s.notice(r, u.Name))
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
	return nil
}

// renewRecoveryCodes replaces the recovery codes, after the password.
func (s *Server) renewRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in passwordInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !u.Security.MFAEnabled() {
		return freight.Errorf(freight.ECONFLICT, "the account has no second factor")
	}
	if err := s.reauth(ctx, r, u, in.Password); err != nil {
		return err
	}
	codes, hashes := mfa.NewRecoveryCodes(recoveryCodeCount)
	err = s.change(r, "user.recovery_codes_renew", "user", func(tx freight.Store) (audited, error) {
		return audited{id: u.ID}, tx.SetRecoveryCodes(ctx, u.ID, hashes)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recoveryCodes{codes})
	return nil
}

type disableMFAInput struct {
	Password string `json:"password"`
	Code     string `json:"code"`
}

// disableMFA turns the second factor off, after the password and a
// current code. Where policy requires one, the next sign-in asks to enrol
// again.
func (s *Server) disableMFA(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in disableMFAInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if err := s.reauth(ctx, r, u, in.Password); err != nil {
		return err
	}
	if err := s.checkSecondFactor(ctx, r, u, mfaInput{Code: in.Code}); err != nil {
		return err
	}
	err = s.change(r, "user.mfa_disable", "user", func(tx freight.Store) (audited, error) {
		if _, err := tx.UpdateUser(ctx, u.ID, func(u *freight.User) error {
			u.Security.TOTPSecret, u.Security.TOTPPending, u.Security.TOTPLastStep = nil, nil, 0
			return nil
		}); err != nil {
			return audited{}, err
		}
		if err := tx.SetRecoveryCodes(ctx, u.ID, nil); err != nil {
			return audited{}, err
		}
		return audited{id: u.ID}, s.queueMail(ctx, tx, freight.MailMFADisabled, u.Email, s.notice(r, u.Name))
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionAnswer marks the session the request came with.
type sessionAnswer struct {
	*freight.Session
	Current bool `json:"current"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	ss, err := s.store.Sessions(ctx, p.UserID)
	if err != nil {
		return err
	}
	out := make([]sessionAnswer, 0, len(ss))
	for _, sess := range ss {
		out = append(out, sessionAnswer{sess, sess.ID == p.SessionID})
	}
	writeList(w, out, "")
	return nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	id, err := pathID(r, "session", freight.PrefixSession, "session")
	if err != nil {
		return err
	}
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return err
	}
	if sess.UserID != p.UserID {
		// Another person's session does not exist, as far as you know.
		return freight.Errorf(freight.ENOTFOUND, "session not found")
	}
	if err := s.store.DeleteSession(ctx, id); err != nil {
		return err
	}
	if id == p.SessionID {
		s.clearSessionCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type personalTokenInput struct {
	Name      string       `json:"name"`
	Role      freight.Role `json:"role"`
	OrgID     string       `json:"org_id"`
	ExpiresAt *time.Time   `json:"expires_at"`
}

// tokenExpiry applies the token lifetime rules to a requested expiry.
func (s *Server) tokenExpiry(requested *time.Time) (time.Time, error) {
	now := s.now()
	expires := now.Add(defaultTokenLifetime)
	if requested != nil {
		expires = *requested
	}
	switch {
	case !expires.After(now):
		return time.Time{}, freight.FieldError("expires_at", "must be in the future")
	case expires.Sub(now) > maxTokenLifetime:
		return time.Time{}, freight.FieldError("expires_at", "must be at most two years away")
	}
	return expires, nil
}

// createPersonalToken mints a token for the signed-in person, with at most
// its own role (its vendor role, or its role in the organization it acts
// in by default).
func (s *Server) createPersonalToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in personalTokenInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	expires, err := s.tokenExpiry(in.ExpiresAt)
	if err != nil {
		return err
	}
	t := freight.Token{Name: in.Name, Role: in.Role, OrgID: in.OrgID, UserID: p.UserID, ExpiresAt: &expires, CreatedBy: p.Actor()}
	if t.Role == "" {
		t.Role = p.Role
	}
	if t.Role.IsOrg() && t.OrgID == "" {
		t.OrgID = p.OrgID
	}
	if err := t.Validate(); err != nil {
		return err
	}
	return s.issueToken(w, r, &t)
}

// issueToken stores a token after checking its user holds its role, and
// answers its secret, this once.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, t *freight.Token) error {
	ctx := r.Context()
	var secret string
	err := s.change(r, "token.create", "token", func(tx freight.Store) (audited, error) {
		if err := checkTokenGrant(r, tx, t); err != nil {
			return audited{}, err
		}
		var err error
		if secret, err = freight.IssueToken(ctx, tx, t, s.now()); err != nil {
			return audited{}, err
		}
		return audited{id: t.ID, orgID: t.OrgID, details: t}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: t, Secret: secret})
	return nil
}

func (s *Server) listPersonalTokens(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	ts, next, err := s.store.Tokens(r.Context(), freight.TokenFilter{Page: pg, UserID: p.UserID})
	if err != nil {
		return err
	}
	writeList(w, ts, next)
	return nil
}

func (s *Server) revokePersonalToken(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	return s.revokeTokenIf(w, r, func(t *freight.Token) bool { return t.UserID == p.UserID })
}

// revokeTokenIf revokes the token of the path if mine says the caller may
// see it; any other token answers not found.
func (s *Server) revokeTokenIf(w http.ResponseWriter, r *http.Request, mine func(*freight.Token) bool) error {
	ctx := r.Context()
	id, err := pathID(r, "token", freight.PrefixToken, "token")
	if err != nil {
		return err
	}
	var t *freight.Token
	err = s.change(r, "token.revoke", "token", func(tx freight.Store) (audited, error) {
		old, err := tx.Token(ctx, id)
		if err != nil {
			return audited{}, err
		}
		if !mine(old) {
			return audited{}, freight.Errorf(freight.ENOTFOUND, "token not found")
		}
		if t, err = tx.RevokeToken(ctx, id, s.now()); err != nil {
			return audited{}, err
		}
		return audited{id: id, orgID: t.OrgID, details: t}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

type orgTokenInput struct {
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createOrgToken makes a service-account token of an organization: it may
// download what the organization may, and nothing else.
func (s *Server) createOrgToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in orgTokenInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	o, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	expires, err := s.tokenExpiry(in.ExpiresAt)
	if err != nil {
		return err
	}
	t := freight.Token{Name: in.Name, Role: freight.RoleMember, OrgID: o.ID, ExpiresAt: &expires, CreatedBy: p.Actor()}
	if err := t.Validate(); err != nil {
		return err
	}
	return s.issueToken(w, r, &t)
}

// listOrgTokens lists an organization's service-account tokens.
func (s *Server) listOrgTokens(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	ts, next, err := s.store.Tokens(ctx, freight.TokenFilter{Page: pg, OrgID: o.ID})
	if err != nil {
		return err
	}
	ts = slices.DeleteFunc(ts, func(t *freight.Token) bool { return t.UserID != "" })
	writeList(w, ts, next)
	return nil
}

func (s *Server) revokeOrgToken(w http.ResponseWriter, r *http.Request) error {
	o, err := organizationRef(r.Context(), s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	return s.revokeTokenIf(w, r, func(t *freight.Token) bool { return t.OrgID == o.ID && t.UserID == "" })
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) error {
	st, err := s.store.Settings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

type settingsInput struct {
	RequireVendorMFA *bool `json:"require_vendor_mfa"`
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) error {
	var in settingsInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var out *freight.Settings
	err := s.change(r, "settings.update", "settings", func(tx freight.Store) (audited, error) {
		var err error
		out, err = tx.UpdateSettings(r.Context(), func(st *freight.Settings) error {
			if in.RequireVendorMFA != nil {
				st.RequireVendorMFA = *in.RequireVendorMFA
			}
			return nil
		})
		return audited{id: "settings", details: out}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// preferencesInput changes the signed-in person's preferences; a field
// left out keeps its value.
type preferencesInput struct {
	NotifyReleases *bool `json:"notify_releases"`
}

// setPreferences changes the signed-in person's preferences and answers
// the account.
func (s *Server) setPreferences(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in preferencesInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var u *freight.User
	err := s.change(r, "user.preferences", "user", func(tx freight.Store) (audited, error) {
		var err error
		u, err = tx.UpdateUser(ctx, p.UserID, func(u *freight.User) error {
			if in.NotifyReleases != nil {
				u.NoReleaseMail = !*in.NotifyReleases
			}
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: u.ID, details: in}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
