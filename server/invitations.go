package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/freight-portal/freight"
)

// An organization's pending invitations: who was invited and by whom, and
// the withdrawal of one before it is accepted. Routes name the
// organization; an invitation of another organization, or of the vendor's
// staff, answers not found, the same as one that does not exist.

// listInvitations lists an organization's pending invitations: unused,
// not withdrawn, not expired.
func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	ts, next, err := s.store.Invitations(ctx, freight.InvitationFilter{Page: pg, OrgID: o.ID, Now: s.now()})
	if err != nil {
		return err
	}
	out, err := s.invitationAnswers(ctx, ts)
	if err != nil {
		return err
	}
	writeList(w, out, next)
	return nil
}

// revokeInvitation withdraws an organization's invitation: its link then
// answers that it was withdrawn. Withdrawing twice answers the same
// invitation; an accepted one cannot be withdrawn (409): remove the member
// instead.
func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	id, err := pathID(r, "invitation", freight.PrefixTicket, "invitation")
	if err != nil {
		return err
	}
	var t *freight.Ticket
	err = s.change(r, "invitation.revoke", "ticket", func(tx freight.Store) (audited, error) {
		old, err := tx.Ticket(ctx, id)
		if freight.ErrorCode(err) == freight.ENOTFOUND || (err == nil && (old.Kind != freight.TicketInvite || old.OrgID != o.ID)) {
			return audited{}, freight.Errorf(freight.ENOTFOUND, "invitation not found")
		} else if err != nil {
			return audited{}, err
		}
		t, err = tx.RevokeTicket(ctx, id, s.now())
		if freight.ErrorCode(err) == freight.ECONFLICT {
			return audited{}, freight.Errorf(freight.ECONFLICT, "this invitation was accepted already: remove the member instead")
		} else if err != nil {
			return audited{}, err
		}
		return audited{id: t.ID, orgID: t.OrgID, details: t}, nil
	})
	if err != nil {
		return err
	}
	out, err := s.invitationAnswers(ctx, []*freight.Ticket{t})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// invitationAnswers names the inviter of each invitation, looking each
// creator up once.
func (s *Server) invitationAnswers(ctx context.Context, ts []*freight.Ticket) ([]invitationAnswer, error) {
	names := map[string]string{}
	out := make([]invitationAnswer, 0, len(ts))
	for _, t := range ts {
		name, ok := names[t.CreatedBy]
		if !ok {
			var err error
			if name, err = s.actorName(ctx, t.CreatedBy); err != nil {
				return nil, err
			}
			names[t.CreatedBy] = name
		}
		out = append(out, invitationAnswer{Ticket: t, Inviter: name})
	}
	return out, nil
}

// actorName names the creator of an object for people: a user's name or
// email, a token's name. A creator deleted since, or the system, keeps
// its id.
func (s *Server) actorName(ctx context.Context, actor string) (string, error) {
	var err error
	switch {
	case strings.HasPrefix(actor, freight.PrefixUser+"_"):
		var u *freight.User
		if u, err = s.store.User(ctx, actor); err == nil {
			if u.Name != "" {
				return u.Name, nil
			}
			return u.Email, nil
		}
	case strings.HasPrefix(actor, freight.PrefixToken+"_"):
		var t *freight.Token
		if t, err = s.store.Token(ctx, actor); err == nil {
			return "token " + t.Name, nil
		}
	}
	if err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
		return "", err
	}
	return actor, nil
}

// pendingInvitations lists every pending invitation of an organization,
// for its pages, oldest first.
func (s *Server) pendingInvitations(ctx context.Context, orgID string) ([]invitationAnswer, error) {
	now := s.now()
	ts, err := collect(func(pg freight.Page) ([]*freight.Ticket, string, error) {
		return s.store.Invitations(ctx, freight.InvitationFilter{Page: pg, OrgID: orgID, Now: now})
	})
	if err != nil {
		return nil, err
	}
	return s.invitationAnswers(ctx, ts)
}
