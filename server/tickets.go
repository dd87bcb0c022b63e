package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/mail"
	"github.com/freight-portal/freight/password"
)

// Lifetimes of the links sent by mail.
const (
	inviteLifetime = 7 * 24 * time.Hour
	verifyLifetime = 24 * time.Hour
	resetLifetime  = time.Hour
)

// issueTicket stores a ticket and returns the URL of its link: the web
// page at path with the secret in the fragment-free query.
func (s *Server) issueTicket(ctx context.Context, st freight.Store, r *http.Request, t *freight.Ticket, lifetime time.Duration, path string) (string, error) {
	now := s.now()
	id, secret, hash := freight.NewTicketSecret(now)
	t.ID, t.SecretHash, t.CreatedAt, t.ExpiresAt = id, hash, now, now.Add(lifetime)
	if err := t.Validate(); err != nil {
		return "", err
	}
	base, err := s.linkBase(r)
	if err != nil {
		return "", err
	}
	if err := st.CreateTicket(ctx, t); err != nil {
		return "", err
	}
	return base + path + "?token=" + url.QueryEscape(secret), nil
}

var errBadLink = freight.Errorf(freight.EUNAUTHORIZED, "this link is invalid, used or expired: ask for a new one")

// errWithdrawn answers the link of an invitation that was withdrawn. It
// is given only to the holder of the link's secret, so it tells nobody
// else that the invitation existed.
var errWithdrawn = freight.Errorf(freight.EUNAUTHORIZED, "this invitation was withdrawn: ask whoever invited you for a new one")

// ticketFor checks a link secret: the shape, the secret's hash, the kind,
// unused and unexpired. The same answer covers every failure.
func (s *Server) ticketFor(ctx context.Context, secret string, kind freight.TicketKind) (*freight.Ticket, error) {
	id, hash, ok := freight.ParseTicketSecret(secret)
	if !ok {
		return nil, errBadLink
	}
	t, err := s.store.Ticket(ctx, id)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		freight.MatchSecretHash(hash, make([]byte, len(hash)))
		return nil, errBadLink
	} else if err != nil {
		return nil, err
	}
	if !freight.MatchSecretHash(hash, t.SecretHash) || t.Kind != kind || t.UsedAt != nil {
		return nil, errBadLink
	}
	if t.RevokedAt != nil {
		if t.Kind == freight.TicketInvite {
			return nil, errWithdrawn
		}
		return nil, errBadLink
	}
	if !s.now().Before(t.ExpiresAt) {
		return nil, errBadLink
	}
	return t, nil
}

// useTicket marks a ticket used inside tx; of two concurrent uses, one
// wins and the other gets the invalid-link answer.
func useTicket(ctx context.Context, tx freight.Store, t *freight.Ticket, now time.Time) error {
	_, err := tx.UseTicket(ctx, t.ID, now)
	if freight.ErrorCode(err) == freight.ECONFLICT {
		return errBadLink
	}
	return err
}

type forgotInput struct {
	Email string `json:"email"`
}

// forgotPassword mails a reset link to an account with that email. The
// answer is 202 whether or not the account exists, and the work is done by
// a job after answering, so that neither the answer nor its timing tells.
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in forgotInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if email == "" {
		return freight.FieldError("email", "is required")
	}
	base, err := s.linkBase(r)
	if err != nil {
		return err
	}
	// The same one insert for every address: the job finds out whether
	// there is an account to mail.
	if _, err := s.jobs.Enqueue(r.Context(), s.store, resetRequestKind, resetRequest{Email: email, Base: base}, jobs.Options{MaxAttempts: 5}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

type resetInput struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// resetPassword sets a new password from a reset link. It signs nobody in,
// so a second factor is still asked at the next sign-in; it ends every
// session of the account and clears its password lockout.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in resetInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.ticketFor(ctx, in.Token, freight.TicketReset)
	if err != nil {
		return err
	}
	u, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return err
	}
	if err := password.Check(in.Password, u.Email, u.Name); err != nil {
		return err
	}
	hash, err := password.Hash(ctx, in.Password, s.cfg.PasswordParams)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := useTicket(ctx, tx, t, now); err != nil {
			return err
		}
		if _, err := tx.UpdateUser(ctx, u.ID, func(u *freight.User) error {
			u.PasswordHash = hash
			a := passwordAttempts(&u.Security)
			a.reset()
			a.storePassword(&u.Security)
			// The link reached the address: it is verified.
			u.EmailVerified = true
			return nil
		}); err != nil {
			return err
		}
		if _, err := tx.DeleteSessions(ctx, u.ID, ""); err != nil {
			return err
		}
		if err := s.queueMail(ctx, tx, freight.MailPasswordChanged, u.Email, s.notice(r, u.Name)); err != nil {
			return err
		}
		return tx.CreateAuditEvent(ctx, &freight.AuditEvent{Time: now, Actor: u.ID, Action: "auth.password_reset",
			TargetType: "user", TargetID: u.ID, IP: clientIP(r), RequestID: RequestID(ctx)})
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type verifyInput struct {
	Token string `json:"token"`
}

// sendVerification mails the signed-in person a link proving its address.
func (s *Server) sendVerification(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return freight.Errorf(freight.ECONFLICT, "your email address is verified already")
	}
	t := &freight.Ticket{Kind: freight.TicketVerify, Email: u.Email, UserID: u.ID, CreatedBy: u.ID}
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		link, err := s.issueTicket(ctx, tx, r, t, verifyLifetime, "/verify-email")
		if err != nil {
			return err
		}
		return s.queueMail(ctx, tx, freight.MailVerifyEmail, u.Email, mail.Link{Link: link, Expires: t.ExpiresAt, Name: u.Name})
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// verifyEmail marks an address verified from its link. The link must still
// name the account's current address.
func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in verifyInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.ticketFor(ctx, in.Token, freight.TicketVerify)
	if err != nil {
		return err
	}
	var u *freight.User
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := useTicket(ctx, tx, t, s.now()); err != nil {
			return err
		}
		var err error
		u, err = tx.UpdateUser(ctx, t.UserID, func(u *freight.User) error {
			if u.Email != t.Email {
				return errBadLink
			}
			u.EmailVerified = true
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

type inviteInput struct {
	Email      string       `json:"email"`
	Role       freight.Role `json:"role"`
	VendorRole freight.Role `json:"vendor_role"`
}

// inviteMember invites a person into an organization by mail.
func (s *Server) inviteMember(w http.ResponseWriter, r *http.Request) error {
	var in inviteInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.VendorRole != "" {
		return freight.FieldError("vendor_role", "is not given by an organization's invitation")
	}
	o, err := organizationRef(r.Context(), s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	return s.invite(w, r, &freight.Ticket{Kind: freight.TicketInvite, Email: in.Email, OrgID: o.ID, Role: in.Role}, o.Name)
}

// inviteStaff invites a person to the vendor's staff.
func (s *Server) inviteStaff(w http.ResponseWriter, r *http.Request) error {
	var in inviteInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Role != "" {
		return freight.FieldError("role", "is for organization invitations: use vendor_role")
	}
	if in.VendorRole == "" {
		return freight.FieldError("vendor_role", "is required")
	}
	return s.invite(w, r, &freight.Ticket{Kind: freight.TicketInvite, Email: in.Email, VendorRole: in.VendorRole}, "the vendor's team")
}

// invitationAnswer is the ticket of an invitation, with the name of who
// sent it; its secret went by mail only, and the ticket keeps its hash out
// of JSON.
type invitationAnswer struct {
	*freight.Ticket
	// Inviter names the creator for people: a user's name or email, or
	// a token's name.
	Inviter string `json:"inviter,omitempty"`
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request, t *freight.Ticket, orgName string) error {
	ctx := r.Context()
	p := principal(ctx)
	t.CreatedBy = p.Actor()
	inviter := p.Actor()
	if p.UserID != "" {
		if u, err := s.store.User(ctx, p.UserID); err == nil {
			inviter = u.Email
			if u.Name != "" {
				inviter = u.Name
			}
		}
	}
	err := s.change(r, "invitation.create", "ticket", func(tx freight.Store) (audited, error) {
		link, err := s.issueTicket(ctx, tx, r, t, inviteLifetime, "/accept-invitation")
		if err != nil {
			return audited{}, err
		}
		data := mail.Invitation{Link: link, Expires: t.ExpiresAt, Org: orgName, Inviter: inviter}
		if err := s.queueMail(ctx, tx, freight.MailInvitation, t.Email, data); err != nil {
			return audited{}, err
		}
		return audited{id: t.ID, orgID: t.OrgID, details: t}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusCreated, invitationAnswer{Ticket: t, Inviter: inviter})
	return nil
}

type acceptInput struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// acceptInvitation joins the invited person: a new account with the
// password it chooses, or, for an address that has an account already,
// the membership or role only (the password of an existing account is
// never set from an invitation). The address counts as verified: the
// link reached it.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	var in acceptInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.ticketFor(ctx, in.Token, freight.TicketInvite)
	if err != nil {
		return err
	}
	existing, err := s.store.UserByEmail(ctx, t.Email)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		existing = nil
	} else if err != nil {
		return err
	}
	var hash string
	if existing == nil {
		if err := password.Check(in.Password, t.Email, in.Name); err != nil {
			return err
		}
		if hash, err = password.Hash(ctx, in.Password, s.cfg.PasswordParams); err != nil {
			return err
		}
	} else if in.Password != "" {
		return freight.FieldError("password", "must be empty: this address has an account already; sign in with its password")
	}
	now := s.now()
	var u *freight.User
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := useTicket(ctx, tx, t, now); err != nil {
			return err
		}
		if existing == nil {
			u = &freight.User{Email: t.Email, Name: in.Name, VendorRole: t.VendorRole, EmailVerified: true, PasswordHash: hash}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
		} else {
			var err error
			u, err = tx.UpdateUser(ctx, existing.ID, func(u *freight.User) error {
				u.EmailVerified = true
				if t.VendorRole != "" && rank(t.VendorRole) > rank(u.VendorRole) {
					u.VendorRole = t.VendorRole
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if t.OrgID != "" {
			if err := tx.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: t.OrgID, Role: t.Role}); err != nil {
				return err
			}
		}
		return tx.CreateAuditEvent(ctx, &freight.AuditEvent{Time: now, Actor: u.ID, Action: "invitation.accept",
			TargetType: "ticket", TargetID: t.ID, OrgID: t.OrgID, IP: clientIP(r), RequestID: RequestID(ctx)})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// Wait runs the jobs that are due now, mail included, in the calling
// goroutine, for tests and tools that want the effects of their requests
// before they go on; a running worker (RunJobs) does the same on its own.
func (s *Server) Wait() {
	if _, err := s.jobs.RunDue(context.Background()); err != nil {
		s.logger.Error("running due jobs", "err", err)
	}
}
