package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mail/outbox"
	"github.com/freight-portal/freight/mail/smtp"
	"github.com/freight-portal/freight/oidc"
)

// mailer returns the SMTP mailer when --smtp-url is set, otherwise the
// outbox that mail is written to.
func (c *serveConfig) mailer(logger *slog.Logger) (freight.Mailer, error) {
	if c.smtpURL != "" {
		if c.mailOutbox != "" {
			return nil, fmt.Errorf("mail-outbox and smtp-url: choose one")
		}
		sc, err := smtp.ParseURL(c.smtpURL)
		if sc.From == "" {
			// The URL may leave the sender to --mail-from.
			sc, err = smtp.ParseURL(withFrom(c.smtpURL, c.mailFrom))
		}
		if err != nil {
			return nil, fmt.Errorf("smtp-url: %w", err)
		}
		m, err := smtp.New(sc, logger)
		if err != nil {
			return nil, fmt.Errorf("smtp-url: %w", err)
		}
		logger.Info("mail goes through SMTP", "host", sc.Host, "port", sc.Port, "tls", sc.TLS, "from", sc.From)
		return m, nil
	}
	dir := c.mailOutbox
	if dir == "" {
		dir = filepath.Join(c.db.dataDir, "outbox")
	}
	o, err := outbox.New(dir, c.mailFrom, logger)
	if err != nil {
		return nil, fmt.Errorf("mail-outbox: %w", err)
	}
	return o, nil
}

// withFrom adds a from parameter to an SMTP URL that has none.
func withFrom(raw, from string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Get("from") == "" {
		q.Set("from", from)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// providersFile is the file named by --oidc-providers:
//
//	cookie_key = "<64 hex digits>"   # seals the sign-in state; the same on every replica
//
//	[[provider]]
//	name = "corp"
//	display_name = "Corp SSO"
//	issuer = "https://login.example.com/realms/corp"
//	client_id = "freight"
//	client_secret = "…"
//	redirect_url = "https://downloads.example.com/auth/oidc/corp/callback"
//	rules = [{ email_domain = "customer.example", org = "customer" }]
type providersFile struct {
	CookieKey string                `toml:"cookie_key"`
	Provider  []oidc.ProviderConfig `toml:"provider"`
}

// providers reads the OpenID providers of --oidc-providers and runs their
// discovery.
func (c *serveConfig) providers(ctx context.Context, logger *slog.Logger) ([]*oidc.Provider, error) {
	if c.oidcProviders == "" {
		return nil, nil
	}
	var f providersFile
	md, err := toml.DecodeFile(c.oidcProviders, &f)
	if err != nil {
		return nil, fmt.Errorf("oidc-providers: %w", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("oidc-providers: unknown key %q", un[0].String())
	}
	key := make([]byte, oidc.KeySize)
	if f.CookieKey == "" {
		// Fine for one process; replicas need the same key to finish each
		// other's sign-ins.
		rand.Read(key)
		logger.Warn("oidc-providers has no cookie_key: using a random one, so a sign-in must finish on the replica that started it")
	} else if key, err = hex.DecodeString(f.CookieKey); err != nil || len(key) != oidc.KeySize {
		return nil, fmt.Errorf("oidc-providers: cookie_key must be %d bytes in hex (%d digits)", oidc.KeySize, 2*oidc.KeySize)
	}
	var out []*oidc.Provider
	for _, pc := range f.Provider {
		p, err := oidc.New(ctx, pc, oidc.Options{Key: key, InsecureCookie: strings.HasPrefix(pc.RedirectURL, "http://")})
		if err != nil {
			return nil, fmt.Errorf("oidc-providers: provider %q: %w", pc.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}
