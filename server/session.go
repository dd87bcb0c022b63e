package server

import (
	"context"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// Session lifetimes. A session ends after SessionIdle without a request or
// SessionLifetime after sign-in, whichever comes first; a sign-in waiting
// for its second factor lasts partialLifetime.
const (
	DefaultSessionIdle     = time.Hour
	DefaultSessionLifetime = 12 * time.Hour
	partialLifetime        = 5 * time.Minute
)

// Session cookie names. The __Host- prefix makes browsers accept the cookie
// only over HTTPS, for this exact host and path /, so that no subdomain or
// plain-http page can plant or read it. Plain-http local use (freight demo
// on localhost) cannot have it, and uses the bare name.
const (
	sessionCookie         = "__Host-freight-session"
	insecureSessionCookie = "freight-session"
)

func (s *Server) sessionCookieName() string {
	if s.cfg.InsecureCookies {
		return insecureSessionCookie
	}
	return sessionCookie
}

// setSessionCookie hands the browser its session secret. The cookie has no
// Max-Age: it ends with the browser, and the server ends it sooner.
func (s *Server) setSessionCookie(w http.ResponseWriter, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: secret, Path: "/",
		Secure: !s.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: !s.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// startSession signs u in at the given level: it ends the session the
// browser presented, if any, and always makes a new one with a new secret,
// so that an id planted before sign-in (session fixation) is worth nothing.
// A customer acts in orgID, which the caller checked is one of its
// organizations, or else in its first organization.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *freight.User, level freight.SessionLevel, method, orgID string) (*freight.Session, error) {
	if old, ok := s.cookieSessionID(r); ok {
		if err := s.store.DeleteSession(ctx, old); err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
			return nil, err
		}
	}
	now := s.now()
	id, secret, hash := freight.NewSessionSecret(now)
	sess := &freight.Session{
		ID: id, UserID: u.ID, Level: level, Method: method, SecretHash: hash,
		IP: clientIP(r), UserAgent: r.UserAgent(), LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime),
	}
	if level == freight.SessionPartial {
		sess.ExpiresAt = now.Add(partialLifetime)
	}
	sess.OrgID = orgID
	if u.VendorRole == "" && orgID == "" {
		ms, _, err := s.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, Page: freight.Page{Limit: 1}})
		if err != nil {
			return nil, err
		}
		if len(ms) == 1 {
			sess.OrgID = ms[0].OrgID
		}
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	s.setSessionCookie(w, secret)
	return sess, nil
}

// cookieSessionID returns the id named by the request's session cookie,
// without checking its secret.
func (s *Server) cookieSessionID(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil {
		return "", false
	}
	id, _, ok := freight.ParseSessionSecret(c.Value)
	return id, ok
}

var errNoSession = freight.Errorf(freight.EUNAUTHORIZED, "not signed in, or the session ended: sign in again")

// cookieSession finds and checks the session of the request's cookie:
// secret, absolute and idle expiry, and the user's state. A partial
// session is returned as such; callers decide what it may do.
func (s *Server) cookieSession(r *http.Request) (*freight.Session, *freight.User, error) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil {
		return nil, nil, errNoSession
	}
	id, hash, ok := freight.ParseSessionSecret(c.Value)
	if !ok {
		return nil, nil, errNoSession
	}
	ctx := r.Context()
	sess, err := s.store.Session(ctx, id)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		freight.MatchSecretHash(hash, make([]byte, len(hash)))
		return nil, nil, errNoSession
	} else if err != nil {
		return nil, nil, err
	}
	if !freight.MatchSecretHash(hash, sess.SecretHash) {
		return nil, nil, errNoSession
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || (sess.Level == freight.SessionFull && now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdle) {
		if err := s.store.DeleteSession(ctx, sess.ID); err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
			s.logger.WarnContext(ctx, "ending an expired session", "session_id", sess.ID, "err", err)
		}
		return nil, nil, errNoSession
	}
	u, err := s.store.User(ctx, sess.UserID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, nil, errNoSession
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, freight.Errorf(freight.EUNAUTHORIZED, "account disabled")
	}
	return sess, u, nil
}

// sessionPrincipal authenticates a browser by its session cookie.
func (s *Server) sessionPrincipal(r *http.Request) (freight.Principal, error) {
	sess, u, err := s.cookieSession(r)
	if err != nil {
		return freight.Principal{}, err
	}
	if sess.Level != freight.SessionFull {
		return freight.Principal{}, freight.Errorf(freight.EUNAUTHORIZED, "sign-in not complete: send your second factor to POST /api/v1/auth/mfa")
	}
	ctx := r.Context()
	p := freight.Principal{UserID: u.ID, SessionID: sess.ID, Role: u.VendorRole}
	if u.VendorRole == "" && sess.OrgID != "" {
		ms, _, err := s.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, OrgID: sess.OrgID, Page: freight.Page{Limit: 1}})
		if err != nil {
			return freight.Principal{}, err
		}
		if len(ms) == 1 {
			p.Role, p.OrgID = ms[0].Role, ms[0].OrgID
		}
	}
	if !u.Security.MFAEnabled() {
		required, err := s.mfaRequired(ctx, u)
		if err != nil {
			return freight.Principal{}, err
		}
		p.MFAEnrollment = required
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) >= freight.TokenTouchInterval {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			s.logger.WarnContext(ctx, "recording session use", "session_id", sess.ID, "err", err)
		}
	}
	return p, nil
}

// mfaRequired reports whether policy requires a second factor of u: the
// vendor's setting for staff, or any of its organizations' settings.
func (s *Server) mfaRequired(ctx context.Context, u *freight.User) (bool, error) {
	if u.VendorRole != "" {
		st, err := s.store.Settings(ctx)
		if err != nil {
			return false, err
		}
		if st.RequireVendorMFA {
			return true, nil
		}
	}
	f := freight.MembershipFilter{UserID: u.ID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ms, next, err := s.store.Memberships(ctx, f)
		if err != nil {
			return false, err
		}
		for _, m := range ms {
			o, err := s.store.Organization(ctx, m.OrgID)
			if err != nil {
				return false, err
			}
			if o.RequireMFA {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		f.After = next
	}
}
