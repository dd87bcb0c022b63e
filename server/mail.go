package server

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mail"
)

// mailData fills a mail's template.
type mailData struct {
	Name, Link, Org, Inviter string
	Expires                  time.Time
	// Portal is the portal's address, for notices.
	Portal string
}

// sendMail renders and sends one mail. Mail is best effort from the
// request's point of view: a failure is logged (without the link), and the
// person can ask again.
func (s *Server) sendMail(ctx context.Context, kind freight.MailKind, to string, d mailData) {
	if s.cfg.Mailer == nil {
		s.logger.WarnContext(ctx, "no mailer configured: mail dropped", "kind", string(kind))
		return
	}
	var data any
	switch kind {
	case freight.MailInvitation:
		data = mail.Invitation{Org: d.Org, Inviter: d.Inviter, Link: d.Link, Expires: d.Expires}
	case freight.MailVerifyEmail, freight.MailResetPassword:
		data = mail.Link{Name: d.Name, Link: d.Link, Expires: d.Expires}
	default:
		data = mail.Notice{Name: d.Name, When: s.now(), Portal: d.Portal}
	}
	m, err := mail.Render(kind, data)
	if err == nil {
		m.To = to
		err = s.cfg.Mailer.Send(ctx, m)
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "sending mail", "kind", string(kind), "err", err)
	}
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
