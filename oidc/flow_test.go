package oidc_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

func TestFlow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		cookie string
	}{
		{"https", true, "__Host-freight-oidc-test"},
		{"plain http, insecure cookie", false, "freight-oidc-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, tc.tls)
			p := fx.provider()
			b := fx.browser()

			authURL := b.start("test", "/releases?product=big")
			c := b.flowCookie(p)
			if c == nil || c.Name != tc.cookie {
				t.Fatalf("flow cookie %v, want one named %s", c, tc.cookie)
			}
			cb := b.login(authURL, "alice", "ecila")
			code, err := codeOf(cb)
			if err != nil {
				t.Fatal(err)
			}
			res := b.callback(cb)
			if res.Status != http.StatusOK {
				t.Fatalf("callback: %d %s", res.Status, res.Raw)
			}

			id := res.Identity
			if got, want := id.Provider, "test"; got != want {
				t.Errorf("Provider = %q, want %q", got, want)
			}
			if got, want := id.Issuer, fx.issuer; got != want {
				t.Errorf("Issuer = %q, want %q", got, want)
			}
			if got, want := id.Subject, "u-alice"; got != want {
				t.Errorf("Subject = %q, want %q", got, want)
			}
			// The example OP puts profile and email into userinfo only, so
			// these come from the userinfo endpoint.
			if got, want := id.Email, "alice@customer.example"; got != want {
				t.Errorf("Email = %q, want %q", got, want)
			}
			if !id.EmailVerified {
				t.Error("EmailVerified = false, want true")
			}
			if got, want := id.Name, "Alice Example"; got != want {
				t.Errorf("Name = %q, want %q", got, want)
			}
			if got, want := id.Claims["sub"], "u-alice"; got != want {
				t.Errorf("Claims[sub] = %v, want %v", got, want)
			}
			if got, want := res.ReturnTo, "/releases?product=big"; got != want {
				t.Errorf("returnTo = %q, want %q", got, want)
			}
			wantAssigned := []oidc.Assignment{{Org: "customer", Role: freight.RoleMember}, {Org: "vendor-partner", Role: freight.RoleOrgAdmin}}
			if !slices.Equal(res.Assigned, wantAssigned) {
				t.Errorf("assignments = %v, want %v", res.Assigned, wantAssigned)
			}

			// The callback clears the flow cookie.
			if b.flowCookie(p) != nil {
				t.Error("flow cookie still in the jar after the callback")
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("callback Cache-Control = %q, want no-store", got)
			}
			if code == "" || strings.Contains(res.Raw, code) {
				t.Error("the answer contains the authorization code")
			}

			// What the OP saw: PKCE with S256, a nonce, the exact redirect
			// URI, and a verifier that matches the challenge.
			az := fx.rec.lastAuthorize(t)
			if got := az.Get("code_challenge_method"); got != "S256" {
				t.Errorf("code_challenge_method = %q, want S256", got)
			}
			if az.Get("nonce") == "" || az.Get("state") == "" {
				t.Errorf("authorization request without nonce or state: %v", az)
			}
			if az.Get("nonce") == az.Get("state") {
				t.Error("nonce equals state")
			}
			if got, want := az.Get("redirect_uri"), fx.redirectURL("test"); got != want {
				t.Errorf("redirect_uri = %q, want %q", got, want)
			}
			if got, want := az.Get("scope"), "openid email profile"; got != want {
				t.Errorf("scope = %q, want %q", got, want)
			}
			forms, statuses := fx.rec.tokenRequests()
			if len(forms) != 1 || statuses[0] != http.StatusOK {
				t.Fatalf("token requests %v with statuses %v, want one that succeeded", forms, statuses)
			}
			v := forms[0].Get("code_verifier")
			if v == "" || oauth2.S256ChallengeFromVerifier(v) != az.Get("code_challenge") {
				t.Errorf("code_verifier %q does not match code_challenge %q", v, az.Get("code_challenge"))
			}
			if got, want := forms[0].Get("redirect_uri"), fx.redirectURL("test"); got != want {
				t.Errorf("token request redirect_uri = %q, want %q", got, want)
			}
			if strings.Contains(c.Value, v) || strings.Contains(c.Value, az.Get("nonce")) || strings.Contains(c.Value, az.Get("state")) {
				t.Error("the flow cookie shows its secrets in clear")
			}
		})
	}
}
