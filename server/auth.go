package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/freight-portal/freight"
)

var (
	errNoToken      = freight.Errorf(freight.EUNAUTHORIZED, "authentication required: send the header \"Authorization: Bearer <token>\", or sign in")
	errInvalidToken = freight.Errorf(freight.EUNAUTHORIZED, "invalid token")
)

// authenticate resolves the bearer token of r, or else its session
// cookie. Every failure before the
// secret is proven answers the same "invalid token", so that a caller cannot
// learn which token ids exist; only the holder of a real secret learns that
// it expired or was revoked.
func (s *Server) authenticate(r *http.Request) (freight.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if _, err := r.Cookie(s.sessionCookieName()); err == nil {
			return s.sessionPrincipal(r)
		}
		return freight.Principal{}, errNoToken
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return freight.Principal{}, freight.Errorf(freight.EUNAUTHORIZED, "unsupported authorization scheme: use \"Bearer <token>\"")
	}
	id, hash, ok := freight.ParseTokenSecret(strings.TrimSpace(secret))
	if !ok {
		return freight.Principal{}, errInvalidToken
	}
	ctx := r.Context()
	tok, err := s.store.Token(ctx, id)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		// Compare anyway so that unknown ids cost the same as wrong secrets.
		freight.MatchSecretHash(hash, make([]byte, len(hash)))
		return freight.Principal{}, errInvalidToken
	} else if err != nil {
		return freight.Principal{}, err
	}
	if !freight.MatchSecretHash(hash, tok.SecretHash) {
		return freight.Principal{}, errInvalidToken
	}
	now := s.now()
	if tok.RevokedAt != nil {
		return freight.Principal{}, freight.Errorf(freight.EUNAUTHORIZED, "token revoked")
	}
	if !tok.Active(now) {
		return freight.Principal{}, freight.Errorf(freight.EUNAUTHORIZED, "token expired")
	}
	p := freight.Principal{UserID: tok.UserID, TokenID: tok.ID, Role: tok.Role, OrgID: tok.OrgID, Products: tok.Products}
	if tok.UserID != "" {
		// A user's token never acts with more than the user may do now: a
		// demoted or removed user's tokens shrink with the user.
		role, err := s.currentRole(ctx, tok)
		if err != nil {
			return freight.Principal{}, err
		}
		p.Role = role
	}
	// The token in hand says when its use was last recorded: skip the
	// store's write (on SQLite, a turn at the write lock) when it is recent.
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= freight.TokenTouchInterval {
		if err := s.store.TouchToken(ctx, tok.ID, now); err != nil {
			s.logger.WarnContext(ctx, "recording token use", "token_id", tok.ID, "err", err)
		}
	}
	return p, nil
}

// currentRole caps the role of a user's token by the user's current role.
func (s *Server) currentRole(ctx context.Context, tok *freight.Token) (freight.Role, error) {
	u, err := s.store.User(ctx, tok.UserID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return "", errInvalidToken
	} else if err != nil {
		return "", err
	}
	if u.Disabled {
		return "", freight.Errorf(freight.EUNAUTHORIZED, "account disabled")
	}
	var held freight.Role
	if tok.Role.IsVendor() {
		held = u.VendorRole
	} else {
		ms, _, err := s.store.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, OrgID: tok.OrgID, Page: freight.Page{Limit: 1}})
		if err != nil {
			return "", err
		}
		if len(ms) == 1 {
			held = ms[0].Role
		}
	}
	if held == "" {
		return "", freight.Errorf(freight.EUNAUTHORIZED, "the token's user no longer holds a role for it")
	}
	return weaker(tok.Role, held), nil
}

// rank orders roles within their kind: admin > publisher > support, and
// org-admin > member. Every vendor role may read everything, so the order is
// total and "at most this role" is a comparison.
func rank(r freight.Role) int {
	switch r {
	case freight.RoleAdmin, freight.RoleOrgAdmin:
		return 3
	case freight.RolePublisher:
		return 2
	case freight.RoleSupport, freight.RoleMember:
		return 1
	}
	return 0
}

// weaker returns the lesser of a token's role and the role its user holds
// now; both are of the same kind.
func weaker(token, held freight.Role) freight.Role {
	if rank(held) < rank(token) {
		return held
	}
	return token
}

// canGrant reports whether a user holding role held may receive a token with
// role want: same kind, not stronger.
func canGrant(held, want freight.Role) bool {
	return held.IsVendor() == want.IsVendor() && rank(want) <= rank(held) && rank(want) > 0
}

// Authorization checks. Organization roles have no access to the vendor
// API: they get 403, which reveals nothing since the routes are public.
func need(p freight.Principal, ok bool, what string) error {
	if ok {
		return nil
	}
	return freight.Errorf(freight.EFORBIDDEN, "your role (%s) may not %s", p.Role, what)
}
