package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/password"
)

// errBadCredentials is the one answer to a wrong email, a wrong password,
// an account without a password: nothing tells them apart.
var errBadCredentials = freight.Errorf(freight.EUNAUTHORIZED, "wrong email or password")

type signInInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signInAnswer says how far a sign-in got.
type signInAnswer struct {
	// MFARequired: the password was right; send the second factor to
	// POST /api/v1/auth/mfa with the session cookie just set.
	MFARequired bool `json:"mfa_required"`
	// MFAEnrollment: signed in, but policy requires a second factor that
	// the account does not have yet: enrol one first.
	MFAEnrollment bool          `json:"mfa_enrollment,omitempty"`
	User          *freight.User `json:"user,omitempty"`
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in signInInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if email == "" || in.Password == "" {
		return freight.Errorf(freight.EINVALID, "email and password are required")
	}
	u, err := s.store.UserByEmail(ctx, email)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		u = nil
	} else if err != nil {
		return err
	}
	now := s.now()

	// Every path below checks one password hash, so that an unknown
	// email, an account without a password and a wrong password take the
	// same time.
	if u == nil {
		a := s.lockouts.get(email)
		if wait := a.wait(now); wait > 0 {
			s.metrics.signInFailures.WithLabelValues(failLocked).Inc()
			return errLocked(wait)
		}
		password.Verify(ctx, in.Password, s.dummyHash)
		s.lockouts.fail(email, now)
		after := s.lockouts.get(email)
		s.metrics.signInFailed(failPassword, after.wait(now) > 0)
		return errBadCredentials
	}
	if wait := passwordAttempts(&u.Security).wait(now); wait > 0 {
		s.metrics.signInFailures.WithLabelValues(failLocked).Inc()
		return errLocked(wait)
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = s.dummyHash
	}
	ok, err := password.Verify(ctx, in.Password, hash)
	if err != nil && err != password.ErrMalformed {
		return err
	}
	if !ok || u.PasswordHash == "" {
		var locked bool
		s.recordFailure(ctx, r, u.ID, "auth.signin_failed", func(sec *freight.UserSecurity) {
			a := passwordAttempts(sec)
			a.fail(now)
			a.storePassword(sec)
			locked = a.wait(now) > 0
		})
		s.metrics.signInFailed(failPassword, locked)
		return errBadCredentials
	}
	if u.Disabled {
		return freight.Errorf(freight.EUNAUTHORIZED, "account disabled")
	}
	// Upgrade an old hash while the password is at hand.
	var rehash string
	if password.NeedsRehash(u.PasswordHash, s.cfg.PasswordParams) {
		if rehash, err = password.Hash(ctx, in.Password, s.cfg.PasswordParams); err != nil {
			return err
		}
	}
	u, err = s.store.UpdateUser(ctx, u.ID, func(u *freight.User) error {
		a := passwordAttempts(&u.Security)
		a.reset()
		a.storePassword(&u.Security)
		if rehash != "" {
			u.PasswordHash = rehash
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.finishSignIn(w, r, u, "password")
}

// finishSignIn starts the session after a first factor: a partial one
// when the account has a second factor to check.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, u *freight.User, method string) error {
	ctx := r.Context()
	if u.Security.MFAEnabled() {
		if _, err := s.startSession(ctx, w, r, u, freight.SessionPartial, method, ""); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, signInAnswer{MFARequired: true})
		return nil
	}
	sess, err := s.startSession(ctx, w, r, u, freight.SessionFull, method, "")
	if err != nil {
		return err
	}
	s.audit(ctx, r, u.ID, "auth.signin", "user", u.ID, map[string]string{"method": method, "session_id": sess.ID})
	required, err := s.mfaRequired(ctx, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, signInAnswer{User: u, MFAEnrollment: required})
	return nil
}

type mfaInput struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// signInMFA completes a partial sign-in with a TOTP code or a recovery
// code, and replaces the partial session with a full one.
func (s *Server) signInMFA(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	sess, u, err := s.cookieSession(r)
	if err != nil {
		return err
	}
	if sess.Level != freight.SessionPartial {
		return freight.Errorf(freight.ECONFLICT, "this session is signed in already")
	}
	var in mfaInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if err := s.checkSecondFactor(ctx, r, u, in); err != nil {
		return err
	}
	if err := s.store.DeleteSession(ctx, sess.ID); err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
		return err
	}
	full, err := s.startSession(ctx, w, r, u, freight.SessionFull, sess.Method, "")
	if err != nil {
		return err
	}
	s.audit(ctx, r, u.ID, "auth.signin", "user", u.ID, map[string]string{"method": sess.Method + "+totp", "session_id": full.ID})
	writeJSON(w, http.StatusOK, signInAnswer{User: u})
	return nil
}

var errBadCode = freight.Errorf(freight.EUNAUTHORIZED, "wrong code")

// checkSecondFactor checks a TOTP code (never one accepted before) or a
// recovery code (each works once) under the second-factor lockout.
func (s *Server) checkSecondFactor(ctx context.Context, r *http.Request, u *freight.User, in mfaInput) error {
	if !u.Security.MFAEnabled() {
		return freight.Errorf(freight.ECONFLICT, "the account has no second factor")
	}
	if (in.Code == "") == (in.RecoveryCode == "") {
		return freight.Errorf(freight.EINVALID, "send either code or recovery_code")
	}
	now := s.now()
	if wait := mfaAttempts(&u.Security).wait(now); wait > 0 {
		s.metrics.signInFailures.WithLabelValues(failLocked).Inc()
		return errLocked(wait)
	}
	fail := func() error {
		var locked bool
		s.recordFailure(ctx, r, u.ID, "auth.mfa_failed", func(sec *freight.UserSecurity) {
			a := mfaAttempts(sec)
			a.fail(now)
			a.storeMFA(sec)
			locked = a.wait(now) > 0
		})
		s.metrics.signInFailed(failMFA, locked)
		return errBadCode
	}
	if in.RecoveryCode != "" {
		err := s.store.UseRecoveryCode(ctx, u.ID, mfa.HashRecoveryCode(in.RecoveryCode), now)
		if freight.ErrorCode(err) == freight.ENOTFOUND {
			return fail()
		} else if err != nil {
			return err
		}
		_, err = s.store.UpdateUser(ctx, u.ID, func(u *freight.User) error {
			a := mfaAttempts(&u.Security)
			a.reset()
			a.storeMFA(&u.Security)
			return nil
		})
		return err
	}
	// Check and record the time step under the user's row lock, so that
	// two requests racing with the same code cannot both pass.
	var accepted bool
	_, err := s.store.UpdateUser(ctx, u.ID, func(u *freight.User) error {
		step, ok := mfa.Verify(u.Security.TOTPSecret, in.Code, now, u.Security.TOTPLastStep)
		if !ok {
			return nil
		}
		accepted = true
		u.Security.TOTPLastStep = step
		a := mfaAttempts(&u.Security)
		a.reset()
		a.storeMFA(&u.Security)
		return nil
	})
	if err != nil {
		return err
	}
	if !accepted {
		return fail()
	}
	return nil
}

// recordFailure updates a user's failure counters and records the failure
// in the audit log. A failure to record is logged, not answered: the
// caller answers the wrong password.
func (s *Server) recordFailure(ctx context.Context, r *http.Request, userID, action string, fn func(*freight.UserSecurity)) {
	_, err := s.store.UpdateUser(ctx, userID, func(u *freight.User) error {
		fn(&u.Security)
		return nil
	})
	if err != nil {
		s.logger.ErrorContext(ctx, "recording a failed sign-in", "user_id", userID, "err", err)
	}
	s.audit(ctx, r, userID, action, "user", userID, nil)
}

// audit records an event outside any other change: sign-ins and their
// failures. It logs rather than fails.
func (s *Server) audit(ctx context.Context, r *http.Request, actor, action, targetType, targetID string, details any) {
	ev := freight.AuditEvent{Time: s.now(), Actor: actor, Action: action, TargetType: targetType, TargetID: targetID,
		IP: clientIP(r), RequestID: RequestID(ctx)}
	if details != nil {
		b, err := json.Marshal(details)
		if err == nil {
			ev.Details = b
		}
	}
	if err := s.store.CreateAuditEvent(ctx, &ev); err != nil {
		s.logger.ErrorContext(ctx, "recording an audit event", "action", action, "err", err)
	}
}

// signOut ends the session of the request's cookie, if any. It answers
// 204 either way.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if sess, u, err := s.cookieSession(r); err == nil {
		if err := s.store.DeleteSession(ctx, sess.ID); err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
			return err
		}
		s.audit(ctx, r, u.ID, "auth.signout", "user", u.ID, map[string]string{"session_id": sess.ID})
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// signOutEverywhere ends every session of the caller, this one included.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	n, err := s.store.DeleteSessions(ctx, p.UserID, "")
	if err != nil {
		return err
	}
	s.audit(ctx, r, p.UserID, "auth.signout_everywhere", "user", p.UserID, map[string]int{"sessions": n})
	s.clearSessionCookie(w)
	writeJSON(w, http.StatusOK, map[string]int{"sessions_ended": n})
	return nil
}

type switchInput struct {
	OrgID string `json:"org_id"`
}

// switchOrganization makes the session act in another of the user's
// organizations.
func (s *Server) switchOrganization(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in switchInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	ms, _, err := s.store.Memberships(ctx, freight.MembershipFilter{UserID: p.UserID, OrgID: in.OrgID, Page: freight.Page{Limit: 1}})
	if err != nil {
		return err
	}
	if in.OrgID == "" || len(ms) != 1 {
		return freight.FieldError("org_id", "must be an organization you belong to")
	}
	// A new session, as at sign-in: the organization is part of what the
	// session may do.
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	old, err := s.store.Session(ctx, p.SessionID)
	if err != nil {
		return err
	}
	sess, err := s.startSession(ctx, w, r, u, freight.SessionFull, old.Method, in.OrgID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}
