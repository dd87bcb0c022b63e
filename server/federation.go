package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

// providerInfo is what a sign-in page needs to offer a provider.
type providerInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	StartURL    string `json:"start_url"`
}

// listProviders lists the OpenID providers people may sign in with.
func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	out := make([]providerInfo, 0, len(s.cfg.Providers))
	for _, p := range s.cfg.Providers {
		out = append(out, providerInfo{Name: p.Name(), DisplayName: p.DisplayName(), StartURL: "/auth/oidc/" + p.Name() + "/start"})
	}
	writeList(w, out, "")
	return nil
}

func (s *Server) provider(r *http.Request) (*oidc.Provider, error) {
	name := r.PathValue("provider")
	for _, p := range s.cfg.Providers {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, freight.Errorf(freight.ENOTFOUND, "no sign-in provider %q", name)
}

// oidcStart sends the browser to the provider. return_to is where to land
// afterwards: a local path only.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	return p.Start(w, r, r.URL.Query().Get("return_to"))
}

// oidcCallback finishes a sign-in at a provider: it checks the answer (see
// package oidc), finds or provisions the user, starts a session with a new
// id, and sends the browser on: to return_to, or to the second-factor step
// when the account has one.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limiter.allow(clientIP(r)); err != nil {
		return err
	}
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	id, returnTo, err := p.Finish(w, r)
	if err != nil {
		s.logger.WarnContext(ctx, "federated sign-in refused", "provider", p.Name(), "err", err)
		return err
	}
	u, err := s.federatedUser(ctx, r, p, id)
	if err != nil {
		s.logger.WarnContext(ctx, "federated sign-in refused", "provider", p.Name(), "err", err)
		return err
	}
	method := "oidc:" + p.Name()
	if returnTo == "" {
		returnTo = "/"
	}
	if u.Security.MFAEnabled() {
		if _, err := s.startSession(ctx, w, r, u, freight.SessionPartial, method, ""); err != nil {
			return err
		}
		http.Redirect(w, r, "/sign-in/mfa?return_to="+url.QueryEscape(returnTo), http.StatusSeeOther)
		return nil
	}
	sess, err := s.startSession(ctx, w, r, u, freight.SessionFull, method, "")
	if err != nil {
		return err
	}
	s.audit(ctx, r, u.ID, "auth.signin", "user", u.ID, map[string]string{"method": method, "session_id": sess.ID})
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
	return nil
}

var errNoAccount = freight.Errorf(freight.EFORBIDDEN, "your account at this provider gives no access here: ask your administrator to invite you")

// federatedUser returns the user linked to an identity at a provider,
// linking or provisioning one by the provider's rules:
//   - an identity linked before signs in as its user;
//   - else an account with the same email is linked only when the
//     provider vouches for the address (email_verified) and a rule of the
//     provider admits it: the vendor configured this provider as speaking
//     for that domain or claim;
//   - else a new user is made when a rule admits the identity.
//
// Every sign-in adds the memberships the rules give and the user lacks; it
// never lowers a role or removes a membership.
func (s *Server) federatedUser(ctx context.Context, r *http.Request, p *oidc.Provider, id *oidc.Identity) (*freight.User, error) {
	assigned := p.Assignments(id)
	var u *freight.User
	err := s.store.Tx(ctx, func(tx freight.Store) error {
		link, err := tx.Identity(ctx, id.Issuer, id.Subject)
		switch {
		case err == nil:
			if u, err = tx.User(ctx, link.UserID); err != nil {
				return err
			}
		case freight.ErrorCode(err) != freight.ENOTFOUND:
			return err
		default:
			if len(assigned) == 0 || id.Email == "" {
				return errNoAccount
			}
			u, err = tx.UserByEmail(ctx, id.Email)
			switch {
			case err == nil:
				if !id.EmailVerified {
					return freight.Errorf(freight.EFORBIDDEN, "an account with this email exists, and the provider does not vouch for the address: sign in with your password")
				}
			case freight.ErrorCode(err) == freight.ENOTFOUND:
				u = &freight.User{Email: id.Email, Name: truncateName(id.Name), EmailVerified: id.EmailVerified}
				if err := tx.CreateUser(ctx, u); err != nil {
					return err
				}
			default:
				return err
			}
			if err := tx.CreateIdentity(ctx, &freight.Identity{Issuer: id.Issuer, Subject: id.Subject, UserID: u.ID, Provider: p.Name()}); err != nil {
				return err
			}
			if err := tx.CreateAuditEvent(ctx, &freight.AuditEvent{Time: s.now(), Actor: u.ID, Action: "user.identity_link",
				TargetType: "user", TargetID: u.ID, IP: clientIP(r), RequestID: RequestID(ctx)}); err != nil {
				return err
			}
		}
		if u.Disabled {
			return freight.Errorf(freight.EUNAUTHORIZED, "account disabled")
		}
		for _, a := range assigned {
			o, err := tx.OrganizationBySlug(ctx, a.Org)
			if freight.ErrorCode(err) == freight.ENOTFOUND {
				s.logger.WarnContext(ctx, "a sign-in rule names a missing organization", "provider", p.Name(), "org", a.Org)
				continue
			} else if err != nil {
				return err
			}
			ms, _, err := tx.Memberships(ctx, freight.MembershipFilter{UserID: u.ID, OrgID: o.ID, Page: freight.Page{Limit: 1}})
			if err != nil {
				return err
			}
			if len(ms) == 1 {
				continue
			}
			role := a.Role
			if role == "" {
				role = freight.RoleMember
			}
			if err := tx.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: role}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// truncateName keeps a provider's display name within the domain's rules,
// or drops it.
func truncateName(name string) string {
	u := freight.User{Email: "x@example.com", Name: name}
	if u.Validate() != nil {
		return ""
	}
	return name
}
