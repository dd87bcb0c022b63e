package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/mail"
)

// releaseNotifyKind is the job that mails the people entitled to a
// release that was just published.
const releaseNotifyKind = "release-notify"

// releaseNotify is the payload of a release-notify job: the release and
// the portal's address, for the link in the mail.
type releaseNotify struct {
	Release string `json:"release"`
	Base    string `json:"base"`
}

// queueReleaseNotify enqueues, on tx, the publish transaction, the job
// that announces rel. When the portal cannot name its own address the
// release is published without notifications, and that is logged.
func (s *Server) queueReleaseNotify(r *http.Request, tx freight.Store, rel *freight.Release) error {
	ctx := r.Context()
	base, err := s.linkBase(r)
	if err != nil {
		s.logger.WarnContext(ctx, "release notifications not sent", "release", rel.ID, "err", freight.ErrorMessage(err))
		return nil
	}
	_, err = s.jobs.Enqueue(ctx, tx, releaseNotifyKind, releaseNotify{Release: rel.ID, Base: base}, jobs.Options{})
	return err
}

// releaseNotifyJob enqueues one mail per person entitled to the release:
// every enabled member, who has not turned the notifications off, of
// every organization whose entitlement to the product covers this
// release by the same rule as the catalog (freight.Decide). A person in
// several such organizations gets one mail. The mails are enqueued in one
// transaction, so a failed run sends none and its retry sends them all; a
// release yanked before the job runs is announced to nobody. The job
// completes in that transaction too: a worker that dies after it
// committed leaves nothing to run again, so nobody gets a mail twice.
func (s *Server) releaseNotifyJob(ctx context.Context, j *freight.Job) error {
	var p releaseNotify
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Release == "" || p.Base == "" {
		return jobs.Permanent(errors.New("the payload is not a release notification"))
	}
	rel, err := s.store.Release(ctx, p.Release)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if rel.State != freight.ReleasePublished {
		return nil
	}
	prod, err := s.store.Product(ctx, rel.ProductID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	ents, err := allEntitlements(ctx, s.store, prod.ID)
	if err != nil {
		return err
	}
	now := s.now()
	var recipients []*freight.User
	seen := map[string]bool{}
	for _, e := range ents {
		q := freight.AccessQuery{
			Principal:    freight.Principal{Role: freight.RoleMember, OrgID: e.OrgID},
			Entitlements: []*freight.Entitlement{e},
			Product:      prod, Release: rel, Now: now,
		}
		if !freight.Decide(q).Allowed {
			continue
		}
		f := freight.UserFilter{OrgID: e.OrgID, Page: freight.Page{Limit: freight.MaxPageSize}}
		for {
			users, next, err := s.store.Users(ctx, f)
			if err != nil {
				return err
			}
			for _, u := range users {
				if seen[u.ID] || u.Disabled || u.NoReleaseMail {
					continue
				}
				seen[u.ID] = true
				recipients = append(recipients, u)
			}
			if next == "" {
				break
			}
			f.After = next
		}
	}
	if len(recipients) == 0 {
		return nil
	}
	link := p.Base + "/products/" + url.PathEscape(prod.Slug)
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		// First, so that a worker whose lease was lost stops before the
		// work: the job is another worker's, who sends the mails.
		if err := s.jobs.CompleteIn(ctx, tx, j); err != nil {
			return err
		}
		for _, u := range recipients {
			data := mail.Release{Name: u.Name, Product: prod.Name, Version: rel.Version, Channel: string(rel.Channel), Link: link}
			if err := s.queueMail(ctx, tx, freight.MailReleaseAvailable, u.Email, data); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.jobs.Notify()
	}
	return err
}

// allEntitlements returns every entitlement to the product, of every
// organization.
func allEntitlements(ctx context.Context, st freight.Store, productID string) ([]*freight.Entitlement, error) {
	var out []*freight.Entitlement
	f := freight.EntitlementFilter{ProductID: productID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ents, next, err := st.Entitlements(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, ents...)
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}
