package oidc

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

// DefaultScopes are requested when a ProviderConfig names none. Google
// refuses offline_access, and Freight keeps no refresh tokens, so it is
// not among them.
var DefaultScopes = []string{"openid", "email", "profile"}

// ProviderConfig describes one external OpenID provider.
type ProviderConfig struct {
	// Name is a slug that identifies the provider in URLs and in stored
	// identities: 1 to 63 lower-case letters, digits or dashes.
	Name string `toml:"name"`
	// DisplayName is shown on the sign-in button; Name when empty.
	DisplayName string `toml:"display_name"`
	// Issuer is the provider's issuer URL, compared byte for byte with the
	// discovery document and with the iss claim of every ID token. It must
	// be https (plain http only on a loopback address, for local tests).
	// Entra ID needs the tenant-specific issuer, not /common.
	Issuer string `toml:"issuer"`
	// ClientID is this portal's client id at the provider; an ID token must
	// name it as its audience.
	ClientID string `toml:"client_id"`
	// ClientSecret is empty for a public client, which then relies on PKCE
	// alone.
	ClientSecret string `toml:"client_secret"`
	// RedirectURL is the absolute callback URL registered at the provider.
	// Its path must be CallbackPath(Name). It is sent unchanged in the
	// authorization and token requests, so that the provider's exact match
	// applies.
	RedirectURL string `toml:"redirect_url"`
	// Scopes to request; DefaultScopes when empty. Must include "openid".
	Scopes []string `toml:"scopes"`
	// Rules place signed-in users into organizations; see Assign.
	Rules []Rule `toml:"rules"`
}

// CallbackPath returns the path of the callback route of the provider
// named name.
func CallbackPath(name string) string { return "/auth/oidc/" + name + "/callback" }

var (
	slugRE   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	domainRE = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))+$`)
)

// Validate checks the configuration without contacting the provider.
func (c *ProviderConfig) Validate() error {
	if !slugRE.MatchString(c.Name) {
		return freight.FieldError("name", "must be 1 to 63 lower-case letters, digits or dashes, starting and ending with a letter or digit")
	}
	if c.DisplayName != "" {
		if err := checkText("display_name", c.DisplayName, 100); err != nil {
			return err
		}
	}
	if err := checkIssuer(c.Issuer); err != nil {
		return err
	}
	if c.ClientID == "" {
		return freight.FieldError("client_id", "is required")
	}
	if err := checkText("client_id", c.ClientID, 255); err != nil {
		return err
	}
	if strings.ContainsAny(c.ClientSecret, "\x00\r\n") {
		return freight.FieldError("client_secret", "must be a single line")
	}
	if err := checkRedirectURL(c.Name, c.RedirectURL); err != nil {
		return err
	}
	if len(c.Scopes) > 0 {
		seen := map[string]bool{}
		for _, s := range c.Scopes {
			if !validScope(s) {
				return freight.FieldError("scopes", "%q is not a valid scope", s)
			}
			if seen[s] {
				return freight.FieldError("scopes", "%q is listed twice", s)
			}
			seen[s] = true
		}
		if !seen["openid"] {
			return freight.FieldError("scopes", "must include openid")
		}
	}
	for i, r := range c.Rules {
		if err := r.Validate(); err != nil {
			if e, ok := err.(*freight.Error); ok && e.Field != "" {
				e.Field = fmt.Sprintf("rules[%d].%s", i, e.Field)
			}
			return err
		}
	}
	return nil
}

func checkIssuer(s string) error {
	if s == "" {
		return freight.FieldError("issuer", "is required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "#") {
		return freight.FieldError("issuer", "must be an absolute URL without query or fragment, like https://login.example.com/realms/customers")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return freight.FieldError("issuer", "must be an https URL (plain http only on a loopback address)")
	}
	return nil
}

func checkRedirectURL(name, s string) error {
	if s == "" {
		return freight.FieldError("redirect_url", "is required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "#") ||
		(u.Scheme != "https" && u.Scheme != "http") {
		return freight.FieldError("redirect_url", "must be an absolute http or https URL without query or fragment")
	}
	if u.EscapedPath() != CallbackPath(name) {
		return freight.FieldError("redirect_url", "path must be %s", CallbackPath(name))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope reports whether s is a scope-token of RFC 6749 §3.3.
func validScope(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}

// checkText refuses invalid UTF-8, control characters and overlong values.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return freight.FieldError(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return freight.FieldError(field, "must be at most %d characters", max)
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return freight.FieldError(field, "must not contain control characters")
		}
	}
	return nil
}
