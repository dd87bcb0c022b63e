package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/mail"
)

// queueMail renders a mail of the kind to the address from data and
// enqueues the job that sends it on st, the transaction of the change it
// tells about: the mail goes if and only if the change commits. Data that
// cannot make a message (a notice when the portal cannot name its own
// address) is logged and skipped rather than undoing the change; only a
// store failure is returned.
func (s *Server) queueMail(ctx context.Context, st freight.Store, kind freight.MailKind, to string, data any) error {
	p, err := mail.NewJob(kind, to, data)
	if err != nil {
		s.logger.WarnContext(ctx, "mail not sent", "kind", string(kind), "err", freight.ErrorMessage(err), "field", freight.ErrorField(err))
		return nil
	}
	_, err = s.jobs.Enqueue(ctx, st, mail.JobKind, p, jobs.Options{})
	return err
}

// notice returns the data of an account-security notice.
func (s *Server) notice(r *http.Request, name string) mail.Notice {
	return mail.Notice{Name: name, When: s.now(), Portal: s.portalURL(r)}
}

// sendMailJob runs a mail job: it renders the message and hands it to the
// Mailer. A payload that cannot make a message, and a message the Mailer
// refuses as invalid, fail for good; anything else is retried.
func (s *Server) sendMailJob(ctx context.Context, j *freight.Job) error {
	var p mail.Job
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return jobs.Permanent(errors.New("the payload is not a mail job"))
	}
	m, err := p.Message()
	if err != nil {
		return jobs.Permanent(err)
	}
	if s.cfg.Mailer == nil {
		s.logger.WarnContext(ctx, "no mailer configured: mail dropped", "kind", string(m.Kind), "job", j.ID)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	if err := s.cfg.Mailer.Send(ctx, m); err != nil {
		if freight.ErrorCode(err) == freight.EINVALID {
			return jobs.Permanent(err)
		}
		return err
	}
	return nil
}

// resetRequest is the payload of a password-reset request: the address
// asked for and the base of the link to send.
type resetRequest struct {
	Email string `json:"email"`
	Base  string `json:"base"`
}

// resetRequestKind is the job that answers a password-reset request.
const resetRequestKind = "password-reset"

// resetRequestJob mails a reset link when the address belongs to an
// enabled account, and does nothing otherwise. It runs as a job so that
// the request's answer, and its timing, are the same either way. The job
// completes in the transaction that stores the link and enqueues its
// mail: a worker that dies after that commit leaves nothing to run again,
// where a second run would send a second link that voids the first.
func (s *Server) resetRequestJob(ctx context.Context, j *freight.Job) error {
	var p resetRequest
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.Email == "" {
		return jobs.Permanent(errors.New("the payload is not a password-reset request"))
	}
	u, err := s.store.UserByEmail(ctx, p.Email)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if u.Disabled {
		return nil
	}
	now := s.now()
	id, secret, hash := freight.NewTicketSecret(now)
	t := &freight.Ticket{ID: id, Kind: freight.TicketReset, Email: u.Email, UserID: u.ID, SecretHash: hash,
		CreatedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(resetLifetime)}
	link := p.Base + "/reset-password?token=" + url.QueryEscape(secret)
	err = s.store.Tx(ctx, func(tx freight.Store) error {
		if err := s.jobs.CompleteIn(ctx, tx, j); err != nil {
			return err
		}
		// A new link voids the older ones.
		if err := tx.ExpireTickets(ctx, u.ID, freight.TicketReset, now); err != nil {
			return err
		}
		if err := tx.CreateTicket(ctx, t); err != nil {
			return err
		}
		return s.queueMail(ctx, tx, freight.MailResetPassword, u.Email, mail.Link{Link: link, Expires: t.ExpiresAt, Name: u.Name})
	})
	if err == nil {
		s.jobs.Notify()
	}
	return err
}

// portalURL is the portal's address for notices, or "" when it cannot be
// told safely (see linkBase).
func (s *Server) portalURL(r *http.Request) string {
	base, err := s.linkBase(r)
	if err != nil {
		return ""
	}
	return base + "/"
}

// linkBase is the base URL of links sent by mail. Without a configured
// public URL it trusts the request's Host only when it is a loopback
// address: anywhere else a forged Host would send a victim a reset link
// to the attacker's site.
func (s *Server) linkBase(r *http.Request) (string, error) {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL, nil
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return s.baseURL(r), nil
	}
	return "", freight.Errorf(freight.EUNAVAILABLE, "the portal has no public URL configured, so it cannot send links by mail: set --public-url")
}

// mailTimeout bounds one attempt at sending a mail.
const mailTimeout = time.Minute
