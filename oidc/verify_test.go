package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

// secondOP serves another OP on its own URL, so with its own issuer, over
// the same storage: same clients, same users and the same signing key.
func (fx *fixture) secondOP() string {
	fx.t.Helper()
	var h handlerVar
	srv := httptest.NewUnstartedServer(&h)
	srv.StartTLS()
	fx.t.Cleanup(srv.Close)
	h.set(exampleop.SetupServer(srv.URL, fx.storage, nil, false))
	return srv.URL
}

// rawIDToken runs a code flow as a plain OAuth client of the OP at issuer
// and returns the ID token it gets.
func (fx *fixture) rawIDToken(issuer, client, secret, name, nonce string) string {
	t := fx.t
	t.Helper()
	cfg := oauth2.Config{
		ClientID:     client,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{AuthURL: issuer + "/auth", TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  fx.redirectURL(name),
		Scopes:       []string{"openid"},
	}
	authURL, err := url.Parse(cfg.AuthCodeURL("state-of-a-plain-client-0123", oauth2.SetAuthURLParam("nonce", nonce)))
	if err != nil {
		t.Fatal(err)
	}
	cb := fx.browser().login(authURL, "alice", "ecila")
	code, err := codeOf(cb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, fx.httpClient())
	tok, err := cfg.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token")
	}
	return raw
}

func TestVerifyIDToken(t *testing.T) {
	fx := newFixture(t, true)
	p := fx.provider()
	ctx := context.Background()
	const nonce = "nonce-0123456789abcdefghijkl"
	raw := fx.rawIDToken(fx.issuer, clientID, clientSecret, "test", nonce)

	refused := func(t *testing.T, err error, msg, cause string) {
		t.Helper()
		if freight.ErrorCode(err) != freight.EUNAUTHORIZED {
			t.Fatalf("got %v, want an %s error", err, freight.EUNAUTHORIZED)
		}
		if !strings.Contains(freight.ErrorMessage(err), msg) {
			t.Errorf("message %q does not contain %q", freight.ErrorMessage(err), msg)
		}
		if !strings.Contains(err.Error(), cause) {
			t.Errorf("error %q does not name the cause %q", err, cause)
		}
		if strings.Contains(err.Error(), raw[:40]) {
			t.Error("the error contains the token")
		}
	}

	t.Run("valid", func(t *testing.T) {
		if err := p.VerifyIDToken(ctx, raw, nonce); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		refused(t, p.VerifyIDToken(ctx, raw, "nonce-of-another-flow-0123456"), "does not belong to this sign-in", "nonce")
	})
	t.Run("other audience", func(t *testing.T) {
		other := fx.rawIDToken(fx.issuer, otherClient, "other-secret", "other", nonce)
		refused(t, p.VerifyIDToken(ctx, other, nonce), "not valid", "audience")
	})
	t.Run("other issuer with the same keys", func(t *testing.T) {
		issuer2 := fx.secondOP()
		tok2 := fx.rawIDToken(issuer2, clientID, clientSecret, "test", nonce)
		refused(t, p.VerifyIDToken(ctx, tok2, nonce), "not valid", "different provider")
		// Control: the token is sound for a Provider of that issuer, so
		// only the issuer check refused it above.
		cfg := fx.config("test", clientID, clientSecret)
		cfg.Issuer = issuer2
		p2, err := oidc.New(ctx, cfg, fx.options())
		if err != nil {
			t.Fatal(err)
		}
		if err := p2.VerifyIDToken(ctx, tok2, nonce); err != nil {
			t.Fatalf("control: %v", err)
		}
	})
	t.Run("changed claims", func(t *testing.T) {
		parts := strings.Split(raw, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "u-alice", "u-admin", 1)))
		refused(t, p.VerifyIDToken(ctx, strings.Join(parts, "."), nonce), "not valid", "signature")
	})
	t.Run("unsigned", func(t *testing.T) {
		parts := strings.Split(raw, ".")
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
		refused(t, p.VerifyIDToken(ctx, header+"."+parts[1]+".", nonce), "not valid", "")
	})
	t.Run("expired", func(t *testing.T) {
		var clk clock
		clk.Advance(2 * time.Hour) // the example OP's ID tokens live one hour
		opts := fx.options()
		opts.Now = clk.Now
		late, err := oidc.New(ctx, fx.config("test", clientID, clientSecret), opts)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, late.VerifyIDToken(ctx, raw, nonce), "expired", "expired")
	})
}

// extraAudience makes the OP add an audience to every token it issues for
// a code, as providers do for APIs of the same tenant.
type extraAudience struct {
	*storage.Storage
	aud string
}

func (s extraAudience) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return audRequest{r, s.aud}, nil
}

type audRequest struct {
	op.AuthRequest
	aud string
}

func (r audRequest) GetAudience() []string { return append(r.AuthRequest.GetAudience(), r.aud) }

func TestVerifyIDTokenAuthorizedParty(t *testing.T) {
	fx := newFixture(t, true)
	ctx := context.Background()
	const nonce = "nonce-0123456789abcdefghijkl"
	// audOP serves an OP that adds aud to every token, and a Provider for it.
	audOP := func(aud string) (string, *oidc.Provider) {
		var h handlerVar
		srv := httptest.NewUnstartedServer(&h)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		h.set(exampleop.SetupServer(srv.URL, extraAudience{fx.storage, aud}, nil, false))
		cfg := fx.config("test", clientID, clientSecret)
		cfg.Issuer = srv.URL
		p, err := oidc.New(ctx, cfg, fx.options())
		if err != nil {
			t.Fatal(err)
		}
		return srv.URL, p
	}
	audience := func(raw string) string {
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
		var c struct {
			Aud []string `json:"aud"`
			AZP string   `json:"azp"`
		}
		json.Unmarshal(payload, &c)
		return fmt.Sprintf("aud=%v azp=%s", c.Aud, c.AZP)
	}

	t.Run("issued to this client, also for an API", func(t *testing.T) {
		issuer, p := audOP("billing-api")
		raw := fx.rawIDToken(issuer, clientID, clientSecret, "test", nonce)
		if got, want := audience(raw), "aud=[freight billing-api] azp=freight"; got != want {
			t.Fatalf("token has %s, want %s", got, want)
		}
		if err := p.VerifyIDToken(ctx, raw, nonce); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("issued to another client that names this one too", func(t *testing.T) {
		issuer, p := audOP(clientID)
		raw := fx.rawIDToken(issuer, otherClient, "other-secret", "other", nonce)
		if got, want := audience(raw), "aud=[other-app freight] azp=other-app"; got != want {
			t.Fatalf("token has %s, want %s", got, want)
		}
		// go-oidc's audience check passes; the authorized-party check must not.
		err := p.VerifyIDToken(ctx, raw, nonce)
		if freight.ErrorCode(err) != freight.EUNAUTHORIZED || !strings.Contains(freight.ErrorMessage(err), "another application") {
			t.Fatalf("got %v, want a refusal naming another application", err)
		}
	})
}
