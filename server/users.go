package server

import (
	"context"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// userInput holds the fields a caller may set on a user. Passwords are not
// set through this API: users choose their own when they accept an
// invitation.
type userInput struct {
	Email      *string       `json:"email"`
	Name       *string       `json:"name"`
	VendorRole *freight.Role `json:"vendor_role"`
	Disabled   *bool         `json:"disabled"`
}

func (in userInput) apply(u *freight.User) {
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Name != nil {
		u.Name = *in.Name
	}
	if in.VendorRole != nil {
		u.VendorRole = *in.VendorRole
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
	}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.UserFilter{Page: pg, VendorOnly: q.Get("vendor") == "true"}
	if ref := q.Get("org"); ref != "" {
		o, err := organizationRef(r.Context(), s.store, ref)
		if err != nil {
			return err
		}
		f.OrgID = o.ID
	}
	users, next, err := s.store.Users(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, users, next)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var in userInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var u freight.User
	in.apply(&u)
	if err := u.Validate(); err != nil {
		return err
	}
	err := s.change(r, "user.create", "user", func(tx freight.Store) (audited, error) {
		if err := tx.CreateUser(r.Context(), &u); err != nil {
			return audited{}, err
		}
		return audited{id: u.ID, details: &u}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &u)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	id, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	body, err := s.patchBody(w, r, &userInput{})
	if err != nil {
		return err
	}
	var before, after *freight.User
	err = s.change(r, "user.update", "user", func(tx freight.Store) (audited, error) {
		var err error
		after, err = tx.UpdateUser(r.Context(), id, func(u *freight.User) error {
			b := *u
			before = &b
			var in userInput
			if err := decodeBytes(body, &in); err != nil {
				return err
			}
			in.apply(u)
			if u.ID == p.UserID && (u.Disabled || u.VendorRole != freight.RoleAdmin) {
				return freight.Errorf(freight.ECONFLICT, "you cannot disable your own account or drop your own admin role")
			}
			return u.Validate()
		})
		if err != nil {
			return audited{}, err
		}
		if after.Disabled && !before.Disabled {
			// A disabled account's sessions and tokens end now.
			if _, err := tx.DeleteSessions(r.Context(), id, ""); err != nil {
				return audited{}, err
			}
			if err := revokeUserTokens(r.Context(), tx, id, s.now()); err != nil {
				return audited{}, err
			}
		}
		return audited{id: id, details: diff{Before: before, After: after}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	id, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	if id == p.UserID {
		return freight.Errorf(freight.ECONFLICT, "you cannot delete your own account")
	}
	err = s.change(r, "user.delete", "user", func(tx freight.Store) (audited, error) {
		u, err := tx.User(r.Context(), id)
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteUser(r.Context(), id); err != nil {
			return audited{}, err
		}
		return audited{id: id, details: u}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listUserMemberships(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	if _, err := s.store.User(r.Context(), id); err != nil {
		return err
	}
	ms, next, err := s.store.Memberships(r.Context(), freight.MembershipFilter{Page: pg, UserID: id})
	if err != nil {
		return err
	}
	writeList(w, ms, next)
	return nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	o, err := organizationRef(r.Context(), s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	ms, next, err := s.store.Memberships(r.Context(), freight.MembershipFilter{Page: pg, OrgID: o.ID})
	if err != nil {
		return err
	}
	writeList(w, ms, next)
	return nil
}

type membershipInput struct {
	Role freight.Role `json:"role"`
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	var in membershipInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var m freight.Membership
	p := principal(r.Context())
	err = s.change(r, "membership.put", "user", func(tx freight.Store) (audited, error) {
		o, err := organizationRef(r.Context(), tx, r.PathValue("org"))
		if err != nil {
			return audited{}, err
		}
		if p.Role.IsOrg() {
			// An org-admin changes the roles of its members; new people
			// join by invitation, which their own mailbox accepts.
			ms, _, err := tx.Memberships(r.Context(), freight.MembershipFilter{UserID: userID, OrgID: o.ID, Page: freight.Page{Limit: 1}})
			if err != nil {
				return audited{}, err
			}
			if len(ms) == 0 {
				return audited{}, freight.Errorf(freight.ENOTFOUND, "no such member: invite new people instead")
			}
		}
		m = freight.Membership{UserID: userID, OrgID: o.ID, Role: in.Role}
		if err := m.Validate(); err != nil {
			return audited{}, err
		}
		if err := tx.PutMembership(r.Context(), &m); err != nil {
			return audited{}, err
		}
		return audited{id: userID, orgID: o.ID, details: &m}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &m)
	return nil
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "user", freight.PrefixUser, "user")
	if err != nil {
		return err
	}
	err = s.change(r, "membership.delete", "user", func(tx freight.Store) (audited, error) {
		o, err := organizationRef(r.Context(), tx, r.PathValue("org"))
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteMembership(r.Context(), userID, o.ID); err != nil {
			return audited{}, err
		}
		return audited{id: userID, orgID: o.ID}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeUserTokens revokes every token of a user.
func revokeUserTokens(ctx context.Context, tx freight.Store, userID string, now time.Time) error {
	f := freight.TokenFilter{UserID: userID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ts, next, err := tx.Tokens(ctx, f)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.RevokedAt == nil {
				if _, err := tx.RevokeToken(ctx, t.ID, now); err != nil {
					return err
				}
			}
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}
