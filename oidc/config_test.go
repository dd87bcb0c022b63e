package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

func validConfig() oidc.ProviderConfig {
	return oidc.ProviderConfig{
		Name:         "keycloak",
		DisplayName:  "Customer SSO",
		Issuer:       "https://sso.example.com/realms/customers",
		ClientID:     "freight",
		ClientSecret: "s3cret",
		RedirectURL:  "https://downloads.example.com/auth/oidc/keycloak/callback",
		Rules:        []oidc.Rule{{EmailDomain: "customer.example", Org: "customer"}},
	}
}

func TestValidate(t *testing.T) {
	if c := validConfig(); c.Validate() != nil {
		t.Fatalf("valid config refused: %v", c.Validate())
	}
	for _, tc := range []struct {
		name  string
		edit  func(*oidc.ProviderConfig)
		field string // "" means valid
	}{
		{"loopback http issuer", func(c *oidc.ProviderConfig) { c.Issuer = "http://127.0.0.1:8080/realms/x" }, ""},
		{"localhost http issuer", func(c *oidc.ProviderConfig) { c.Issuer = "http://localhost:8080" }, ""},
		{"public client", func(c *oidc.ProviderConfig) { c.ClientSecret = "" }, ""},
		{"explicit scopes", func(c *oidc.ProviderConfig) { c.Scopes = []string{"openid", "email", "groups"} }, ""},
		{"http redirect", func(c *oidc.ProviderConfig) { c.RedirectURL = "http://localhost:8080/auth/oidc/keycloak/callback" }, ""},
		{"no display name", func(c *oidc.ProviderConfig) { c.DisplayName = "" }, ""},

		{"no name", func(c *oidc.ProviderConfig) { c.Name = "" }, "name"},
		{"upper-case name", func(c *oidc.ProviderConfig) { c.Name = "Keycloak" }, "name"},
		{"name with slash", func(c *oidc.ProviderConfig) { c.Name = "a/b" }, "name"},
		{"display name with newline", func(c *oidc.ProviderConfig) { c.DisplayName = "a\nb" }, "display_name"},
		{"no issuer", func(c *oidc.ProviderConfig) { c.Issuer = "" }, "issuer"},
		{"http issuer", func(c *oidc.ProviderConfig) { c.Issuer = "http://sso.example.com" }, "issuer"},
		{"relative issuer", func(c *oidc.ProviderConfig) { c.Issuer = "sso.example.com" }, "issuer"},
		{"issuer with query", func(c *oidc.ProviderConfig) { c.Issuer = "https://sso.example.com/?tenant=x" }, "issuer"},
		{"issuer with fragment", func(c *oidc.ProviderConfig) { c.Issuer = "https://sso.example.com/#x" }, "issuer"},
		{"issuer with user", func(c *oidc.ProviderConfig) { c.Issuer = "https://u:p@sso.example.com" }, "issuer"},
		{"no client id", func(c *oidc.ProviderConfig) { c.ClientID = "" }, "client_id"},
		{"secret with newline", func(c *oidc.ProviderConfig) { c.ClientSecret = "a\nb" }, "client_secret"},
		{"no redirect", func(c *oidc.ProviderConfig) { c.RedirectURL = "" }, "redirect_url"},
		{"redirect for another name", func(c *oidc.ProviderConfig) {
			c.RedirectURL = "https://downloads.example.com/auth/oidc/google/callback"
		}, "redirect_url"},
		{"redirect with trailing slash", func(c *oidc.ProviderConfig) { c.RedirectURL += "/" }, "redirect_url"},
		{"redirect with query", func(c *oidc.ProviderConfig) { c.RedirectURL += "?x=1" }, "redirect_url"},
		{"redirect with other scheme", func(c *oidc.ProviderConfig) {
			c.RedirectURL = "app://downloads.example.com/auth/oidc/keycloak/callback"
		}, "redirect_url"},
		{"scopes without openid", func(c *oidc.ProviderConfig) { c.Scopes = []string{"email"} }, "scopes"},
		{"scope with space", func(c *oidc.ProviderConfig) { c.Scopes = []string{"openid", "a b"} }, "scopes"},
		{"scope twice", func(c *oidc.ProviderConfig) { c.Scopes = []string{"openid", "openid"} }, "scopes"},
		{"bad rule", func(c *oidc.ProviderConfig) {
			c.Rules = append(c.Rules, oidc.Rule{EmailDomain: "x.example", Org: "Bad Org"})
		}, "rules[1].org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if freight.ErrorCode(err) != freight.EINVALID || freight.ErrorField(err) != tc.field {
				t.Fatalf("got %v, want EINVALID on %s", err, tc.field)
			}
		})
	}
}

func TestNew(t *testing.T) {
	fx := newFixture(t, true)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		edit  func(*oidc.ProviderConfig, *oidc.Options)
		code  string
		field string
	}{
		{"issuer with a trailing slash", func(c *oidc.ProviderConfig, _ *oidc.Options) { c.Issuer += "/" }, freight.EINVALID, "issuer"},
		{"short key", func(_ *oidc.ProviderConfig, o *oidc.Options) { o.Key = o.Key[:16] }, freight.EINVALID, "key"},
		{"no key", func(_ *oidc.ProviderConfig, o *oidc.Options) { o.Key = nil }, freight.EINVALID, "key"},
		{"insecure cookie with https", func(_ *oidc.ProviderConfig, o *oidc.Options) { o.InsecureCookie = true }, freight.EINVALID, "redirect_url"},
		{"http redirect with secure cookie", func(c *oidc.ProviderConfig, _ *oidc.Options) {
			c.RedirectURL = strings.Replace(c.RedirectURL, "https:", "http:", 1)
		}, freight.EINVALID, "redirect_url"},
		{"invalid config", func(c *oidc.ProviderConfig, _ *oidc.Options) { c.ClientID = "" }, freight.EINVALID, "client_id"},
		{"no discovery document", func(c *oidc.ProviderConfig, _ *oidc.Options) { c.Issuer += "/realms/missing" }, freight.EUNAVAILABLE, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, opts := fx.config("test", clientID, clientSecret), fx.options()
			tc.edit(&cfg, &opts)
			p, err := oidc.New(ctx, cfg, opts)
			if p != nil || freight.ErrorCode(err) != tc.code || freight.ErrorField(err) != tc.field {
				t.Fatalf("got %v, %v; want nil and %s on %q", p, err, tc.code, tc.field)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		cfg := fx.config("test", clientID, clientSecret)
		cfg.Issuer = dead.URL
		_, err := oidc.New(ctx, cfg, fx.options())
		if freight.ErrorCode(err) != freight.EUNAVAILABLE {
			t.Fatalf("got %v, want %s", err, freight.EUNAVAILABLE)
		}
	})
	t.Run("accessors", func(t *testing.T) {
		cfg := fx.config("test", clientID, clientSecret)
		p, err := oidc.New(ctx, cfg, fx.options())
		if err != nil {
			t.Fatal(err)
		}
		if p.Name() != "test" || p.DisplayName() != "test" || p.Issuer() != fx.issuer || p.CookieName() != "__Host-freight-oidc-test" {
			t.Errorf("Name %q DisplayName %q Issuer %q CookieName %q", p.Name(), p.DisplayName(), p.Issuer(), p.CookieName())
		}
	})
}
