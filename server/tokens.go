package server

import (
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// Token lifetimes: a token without an explicit expiry lives
// defaultTokenLifetime; none lives longer than maxTokenLifetime, so that a
// forgotten token dies on its own.
const (
	defaultTokenLifetime = 90 * 24 * time.Hour
	maxTokenLifetime     = 2 * 366 * 24 * time.Hour
)

type tokenInput struct {
	Name      string       `json:"name"`
	Role      freight.Role `json:"role"`
	OrgID     string       `json:"org_id"`
	UserID    string       `json:"user_id"`
	Products  []string     `json:"products"`
	ExpiresAt *time.Time   `json:"expires_at"`
}

// createdToken is the answer to a token creation: the only time the secret
// is shown.
type createdToken struct {
	*freight.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	var in tokenInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	expires, err := s.tokenExpiry(in.ExpiresAt)
	if err != nil {
		return err
	}
	if in.OrgID != "" && !freight.ValidID(freight.PrefixOrganization, in.OrgID) {
		return freight.FieldError("org_id", "must be an organization id")
	}
	if in.UserID != "" && !freight.ValidID(freight.PrefixUser, in.UserID) {
		return freight.FieldError("user_id", "must be a user id")
	}
	t := freight.Token{Name: in.Name, Role: in.Role, OrgID: in.OrgID, UserID: in.UserID, Products: in.Products, ExpiresAt: &expires, CreatedBy: p.Actor()}
	if err := t.Validate(); err != nil {
		return err
	}
	return s.issueToken(w, r, &t)
}

// checkTokenGrant refuses a token stronger than its user, and a token for
// an organization that does not exist.
func checkTokenGrant(r *http.Request, tx freight.Store, t *freight.Token) error {
	ctx := r.Context()
	if t.OrgID != "" {
		if _, err := tx.Organization(ctx, t.OrgID); err != nil {
			if freight.ErrorCode(err) == freight.ENOTFOUND {
				return freight.FieldError("org_id", "no such organization")
			}
			return err
		}
	}
	if t.UserID == "" {
		return nil
	}
	u, err := tx.User(ctx, t.UserID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return freight.FieldError("user_id", "no such user")
	} else if err != nil {
		return err
	}
	if u.Disabled {
		return freight.FieldError("user_id", "the user is disabled")
	}
	held := u.VendorRole
	if t.Role.IsOrg() {
		ms, _, err := tx.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, OrgID: t.OrgID, Page: freight.Page{Limit: 1}})
		if err != nil {
			return err
		}
		held = ""
		if len(ms) == 1 {
			held = ms[0].Role
		}
	}
	if held == "" || !canGrant(held, t.Role) {
		return freight.FieldError("role", "the user does not hold the role %s here, so its token cannot either", t.Role)
	}
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.TokenFilter{Page: pg}
	if f.UserID, err = queryID(q, "user_id", freight.PrefixUser); err != nil {
		return err
	}
	if f.OrgID, err = queryID(q, "org_id", freight.PrefixOrganization); err != nil {
		return err
	}
	ts, next, err := s.store.Tokens(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, ts, next)
	return nil
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "token", freight.PrefixToken, "token")
	if err != nil {
		return err
	}
	t, err := s.store.Token(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "token", freight.PrefixToken, "token")
	if err != nil {
		return err
	}
	var t *freight.Token
	err = s.change(r, "token.revoke", "token", func(tx freight.Store) (audited, error) {
		var err error
		if t, err = tx.RevokeToken(r.Context(), id, s.now()); err != nil {
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

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.AuditFilter{
		Page:       pg,
		Actor:      q.Get("actor"),
		Action:     q.Get("action"),
		TargetType: q.Get("target_type"),
		TargetID:   q.Get("target_id"),
		OrgID:      q.Get("org_id"),
	}
	if f.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(q, "until"); err != nil {
		return err
	}
	events, next, err := s.store.AuditEvents(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, events, next)
	return nil
}
