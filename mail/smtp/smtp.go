// Package smtp is a freight.Mailer that hands messages to an SMTP server
// (a relay such as Postfix, Amazon SES, Mailgun or Microsoft 365), through
// github.com/wneessen/go-mail.
//
// The connection is encrypted with STARTTLS (the default, port 587) or
// implicit TLS (port 465); plain connections are for a relay on the same
// machine or network and never carry a password, except to a loopback
// address. The password never appears in logs or errors, and neither does
// a message's body, which may hold single-use links.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/freight-portal/freight"
)

// TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS)
	TLSNone     = "none"     // no encryption
)

// Config says how to reach the SMTP server.
type Config struct {
	Host string
	// Port defaults to 587 for starttls and none, 465 for tls.
	Port int
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// Username and Password authenticate, when Username is set, with the
	// strongest mechanism the server offers (SCRAM, CRAM-MD5, PLAIN or
	// LOGIN).
	Username string
	Password string
	// From is the sender's address, optionally with a name:
	// "Downloads <downloads@example.com>".
	From string
	// Timeout bounds connecting and each command; default 30s.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings, for a private CA; nil checks
	// the server's certificate against the system roots for Host.
	TLSConfig *tls.Config
}

// DefaultTimeout is Config.Timeout when none is set.
const DefaultTimeout = 30 * time.Second

// ParseURL reads a server's settings from a URL:
//
//	smtp://user:password@host:587?tls=starttls&from=downloads@example.com
//	smtps://user:password@host:465?from=…   (the same as tls=tls)
//
// User and password are URL-escaped. Errors never quote the URL, which
// may hold a password.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, errors.New("smtp: malformed URL: use smtp://user:password@host:587?tls=starttls&from=name@example.com")
	}
	var c Config
	switch u.Scheme {
	case "smtp":
		c.TLS = TLSStartTLS
	case "smtps":
		c.TLS = TLSImplicit
	default:
		return Config{}, fmt.Errorf("smtp: URL scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return Config{}, errors.New("smtp: URL has no host: use smtp://user:password@host:587")
	}
	if u.Path != "" && u.Path != "/" {
		return Config{}, errors.New("smtp: URL must not have a path")
	}
	c.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, errors.New("smtp: URL port must be a number from 1 to 65535")
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "tls", "from", "timeout":
		default:
			return Config{}, fmt.Errorf("smtp: unknown URL parameter %q (known: tls, from, timeout)", k)
		}
	}
	if v := q.Get("tls"); v != "" {
		if u.Scheme == "smtps" && v != TLSImplicit {
			return Config{}, errors.New("smtp: an smtps URL is always tls=tls")
		}
		c.TLS = v
	}
	c.From = q.Get("from")
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, errors.New("smtp: URL timeout must be a positive duration such as 30s")
		}
		c.Timeout = d
	}
	return c, c.check()
}

// check validates c after defaults.
func (c *Config) check() error {
	switch c.TLS {
	case "":
		c.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("smtp: TLS mode must be starttls, tls or none, not %q", c.TLS)
	}
	if c.Host == "" {
		return errors.New("smtp: no server host")
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		return errors.New("smtp: port must be from 1 to 65535")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.From == "" {
		return errors.New("smtp: no from address: set the sender, such as downloads@example.com")
	}
	if strings.ContainsAny(c.From, "\r\n") {
		return errors.New("smtp: the from address must be one line")
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("smtp: a password without a user name")
	}
	if c.TLS == TLSNone && c.Username != "" && !loopback(c.Host) {
		return errors.New("smtp: refusing to send a password without TLS to a server that is not on this machine: use tls=starttls or tls=tls")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Mailer sends messages over SMTP, one connection per message: the portal
// sends little mail, and a fresh connection survives relays that drop
// idle ones.
type Mailer struct {
	cfg    Config
	from   string
	logger *slog.Logger
}

var _ freight.Mailer = (*Mailer)(nil)

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config, logger *slog.Logger) (*Mailer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	// The same parser as the messages' headers, so that a bad address
	// stops the program at start-up.
	probe := gomail.NewMsg()
	if err := probe.From(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: invalid from address %q", cfg.From)
	}
	return &Mailer{cfg: cfg, from: cfg.From, logger: logger}, nil
}

// client makes a go-mail client for one delivery.
func (m *Mailer) client() (*gomail.Client, error) {
	c := m.cfg
	tlsConfig := c.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(c.Timeout), gomail.WithTLSConfig(tlsConfig)}
	switch c.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.Username != "" {
		mech := gomail.SMTPAuthAutoDiscover
		if c.TLS == TLSNone {
			mech = gomail.SMTPAuthPlainNoEnc // a loopback relay, checked by check
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	return gomail.NewClient(c.Host, opts...)
}

// Send validates msg and delivers it to the server. An address the message
// cannot carry is EINVALID; a server that cannot be reached, refuses the
// credentials or the message is EUNAVAILABLE, which a job retries.
func (m *Mailer) Send(ctx context.Context, msg *freight.Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	g := gomail.NewMsg()
	if err := g.From(m.from); err != nil {
		return freight.Internal(fmt.Errorf("smtp: from address: %w", err))
	}
	if err := g.To(msg.To); err != nil {
		return freight.FieldError("to", "is not an address the mail server can take")
	}
	g.Subject(msg.Subject)
	g.SetMessageID()
	g.SetDate()
	g.SetGenHeader("X-Freight-Mail", string(msg.Kind))
	g.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		g.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	c, err := m.client()
	if err != nil {
		return freight.Internal(fmt.Errorf("smtp: client: %w", err))
	}
	start := time.Now()
	if err := c.DialAndSendWithContext(ctx, g); err != nil {
		m.logger.WarnContext(ctx, "mail not sent", "kind", string(msg.Kind), "to", msg.To, "server", m.server(), "err", m.scrub(err))
		return &freight.Error{Code: freight.EUNAVAILABLE, Message: "the mail server did not take the message", Err: errors.New(m.scrub(err))}
	}
	m.logger.InfoContext(ctx, "mail sent", "kind", string(msg.Kind), "to", msg.To, "subject", msg.Subject, "server", m.server(),
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func (m *Mailer) server() string { return net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port)) }

// scrub returns the text of err with the password masked, should a server
// or a library ever echo it.
func (m *Mailer) scrub(err error) string {
	s := err.Error()
	if m.cfg.Password != "" {
		s = strings.ReplaceAll(s, m.cfg.Password, "xxxxx")
	}
	return s
}
