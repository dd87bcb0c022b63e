package oidc_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// withQuery returns u with the query changed by edit.
func withQuery(u *url.URL, edit func(url.Values)) *url.URL {
	c := *u
	q := c.Query()
	edit(q)
	c.RawQuery = q.Encode()
	return &c
}

func TestTamperedState(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(url.Values)
		msg  string
	}{
		{"changed", func(q url.Values) { q.Set("state", q.Get("state")[1:]+"A") }, "state does not match"},
		{"removed", func(q url.Values) { q.Del("state") }, "state does not match"},
		{"repeated", func(q url.Values) { q.Add("state", q.Get("state")) }, "malformed"},
		{"another code", func(q url.Values) { q.Add("code", "forged") }, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, true)
			p := fx.provider()
			b := fx.browser()
			cb := b.login(b.start("test", "/"), "alice", "ecila")
			code, _ := codeOf(cb)

			wantRefused(t, b.callback(withQuery(cb, tc.edit)), tc.msg, code)
			if forms, _ := fx.rec.tokenRequests(); len(forms) != 0 {
				t.Errorf("the code was sent to the token endpoint %d times, want 0", len(forms))
			}
			// The cookie served its one callback: the genuine URL fails now.
			if b.flowCookie(p) != nil {
				t.Error("flow cookie kept after a refused callback")
			}
			wantRefused(t, b.callback(cb), "started in another browser", code)
		})
	}
}

func TestReplayedCode(t *testing.T) {
	fx := newFixture(t, true)
	p := fx.provider()
	b := fx.browser()
	cb := b.login(b.start("test", "/"), "alice", "ecila")
	code, _ := codeOf(cb)
	cookie := b.flowCookie(p)
	if res := b.callback(cb); res.Status != http.StatusOK {
		t.Fatalf("first callback: %d %s", res.Status, res.Raw)
	}

	t.Run("same browser", func(t *testing.T) {
		wantRefused(t, b.callback(cb), "started in another browser", code)
	})
	t.Run("copied cookie at the same process", func(t *testing.T) {
		wantRefused(t, b.callbackWith(cb, cookie), "used already", code)
	})
	t.Run("copied cookie at another replica", func(t *testing.T) {
		// Another replica shares the key but not the memory of used
		// states; the provider refuses to redeem the code a second time.
		fx.addProvider(fx.config("test", clientID, clientSecret), fx.options())
		wantRefused(t, b.callbackWith(cb, cookie), "did not accept the authorization code", code)
		forms, statuses := fx.rec.tokenRequests()
		if len(forms) != 2 || statuses[0] != http.StatusOK || statuses[1] == http.StatusOK {
			t.Errorf("token endpoint statuses %v, want a success and then a refusal", statuses)
		}
		if forms[1].Get("code") != code {
			t.Error("the second token request did not carry the replayed code")
		}
	})
}

func TestWrongNonce(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(url.Values)
	}{
		// What a provider returning a token for another flow looks like:
		// the OP signs whatever nonce the authorization request carried.
		{"other nonce", func(q url.Values) { q.Set("nonce", "nonce-of-another-sign-in-0123456789") }},
		{"no nonce", func(q url.Values) { q.Del("nonce") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, true)
			fx.provider()
			b := fx.browser()
			cb := b.login(withQuery(b.start("test", "/"), tc.edit), "alice", "ecila")
			code, _ := codeOf(cb)
			wantRefused(t, b.callback(cb), "does not belong to this sign-in", code)
			// The code was redeemed: the refusal is ours, not the OP's.
			if _, statuses := fx.rec.tokenRequests(); !slices.Equal(statuses, []int{http.StatusOK}) {
				t.Errorf("token endpoint statuses %v, want one success", statuses)
			}
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func TestCookieRefused(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		fx := newFixture(t, true)
		fx.provider()
		cb := fx.browser().login(fx.browser().start("test", "/"), "alice", "ecila")
		// A browser that never started the flow: a login CSRF attempt.
		wantRefused(t, fx.browser().callback(cb), "started in another browser")
	})
	t.Run("expired", func(t *testing.T) {
		fx := newFixture(t, true)
		var clk clock
		opts := fx.options()
		opts.Now = clk.Now
		fx.addProvider(fx.config("test", clientID, clientSecret), opts)
		b := fx.browser()
		cb := b.login(b.start("test", "/"), "alice", "ecila")
		clk.Advance(oidc.FlowTimeout + time.Second)
		wantRefused(t, b.callback(cb), "has expired")
	})
	for _, tc := range []struct {
		name string
		edit func(string) string
	}{
		{"one character changed", func(v string) string { return v[:10] + flip(v[10]) + v[11:] }},
		{"truncated", func(v string) string { return v[:len(v)-4] }},
		{"not base64", func(v string) string { return v[:20] + "*" + v[21:] }},
		{"empty", func(string) string { return "" }},
		{"garbage", func(string) string { return strings.Repeat("A", 100) }},
	} {
		t.Run("garbled: "+tc.name, func(t *testing.T) {
			fx := newFixture(t, true)
			p := fx.provider()
			b := fx.browser()
			cb := b.login(b.start("test", "/"), "alice", "ecila")
			c := b.flowCookie(p)
			c.Value = tc.edit(c.Value)
			res := b.callbackWith(cb, c)
			if c.Value == "" {
				wantRefused(t, res, "started in another browser")
			} else {
				wantRefused(t, res, "state is not valid")
			}
		})
	}
	t.Run("from another flow", func(t *testing.T) {
		fx := newFixture(t, true)
		p := fx.provider()
		victim, attacker := fx.browser(), fx.browser()
		cb := victim.login(victim.start("test", "/"), "alice", "ecila")
		attacker.start("test", "/")
		wantRefused(t, attacker.callbackWith(cb, attacker.flowCookie(p)), "state does not match")
	})
	t.Run("from another provider", func(t *testing.T) {
		fx := newFixture(t, true)
		p := fx.provider()
		other := fx.addProvider(fx.config("other", otherClient, "other-secret"), fx.options())
		b := fx.browser()
		authURL := b.start("other", "/")
		c := b.flowCookie(other)
		// Same key, same state, but sealed for "other": it does not open
		// under "test" even when renamed.
		cb := b.login(authURL, "alice", "ecila")
		cb.Path = oidc.CallbackPath("test")
		c.Name = p.CookieName()
		wantRefused(t, b.callbackWith(cb, c), "state is not valid")
	})
	t.Run("sealed with another key", func(t *testing.T) {
		fx := newFixture(t, true)
		p := fx.provider()
		b := fx.browser()
		cb := b.login(b.start("test", "/"), "alice", "ecila")
		opts := fx.options()
		opts.Key = bytes.Repeat([]byte{8}, oidc.KeySize)
		fx.addProvider(fx.config("test", clientID, clientSecret), opts)
		wantRefused(t, b.callbackWith(cb, b.flowCookie(p)), "state is not valid")
	})
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestProviderError(t *testing.T) {
	fx := newFixture(t, true)
	fx.provider()
	for _, tc := range []struct {
		name, errParam, msg string
	}{
		{"access denied", "access_denied", "refused the sign-in (access_denied)"},
		{"odd code is not echoed", "<b>pwned</b>", "refused the sign-in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fx.browser()
			state := b.start("test", "/").Query().Get("state")
			cb, _ := url.Parse(fx.redirectURL("test"))
			cb.RawQuery = url.Values{"error": {tc.errParam}, "error_description": {"<script>x</script>"}, "state": {state}}.Encode()
			res := b.callback(cb)
			wantRefused(t, res, tc.msg, "<script>", "<b>")
		})
	}
	t.Run("error with a wrong state", func(t *testing.T) {
		b := fx.browser()
		b.start("test", "/")
		cb, _ := url.Parse(fx.redirectURL("test"))
		cb.RawQuery = url.Values{"error": {"access_denied"}, "state": {"forged-state-0123456789abcdef"}}.Encode()
		wantRefused(t, b.callback(cb), "state does not match")
	})
}

func TestIssParameter(t *testing.T) {
	fx := newFixture(t, true)
	fx.provider()
	t.Run("another issuer", func(t *testing.T) {
		b := fx.browser()
		cb := b.login(b.start("test", "/"), "alice", "ecila")
		cb = withQuery(cb, func(q url.Values) { q.Set("iss", "https://idp.attacker.example") })
		wantRefused(t, b.callback(cb), "another identity provider")
	})
	t.Run("this issuer", func(t *testing.T) {
		b := fx.browser()
		cb := b.login(b.start("test", "/"), "alice", "ecila")
		cb = withQuery(cb, func(q url.Values) { q.Set("iss", fx.issuer) })
		if res := b.callback(cb); res.Status != http.StatusOK {
			t.Fatalf("callback: %d %s", res.Status, res.Raw)
		}
	})
}

func TestUnverifiedEmail(t *testing.T) {
	fx := newFixture(t, true)
	fx.provider()
	b := fx.browser()
	res := b.callback(b.login(b.start("test", "/"), "bob", "bob!"))
	if res.Status != http.StatusOK {
		t.Fatalf("callback: %d %s", res.Status, res.Raw)
	}
	if got, want := res.Identity.Email, "bob@customer.example"; got != want {
		t.Errorf("Email = %q, want %q", got, want)
	}
	if res.Identity.EmailVerified {
		t.Error("EmailVerified = true, want false")
	}
	if len(res.Assigned) != 0 {
		t.Errorf("an unverified address at the domain got assignments %v", res.Assigned)
	}
}

func TestStartRefusesOpenRedirect(t *testing.T) {
	fx := newFixture(t, true)
	p := fx.provider()
	for _, rt := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "/ok\r\nSet-Cookie: x=y", "javascript:alert(1)"} {
		t.Run(rt, func(t *testing.T) {
			b := fx.browser()
			resp := b.get(fx.rp.URL + "/auth/oidc/test/start?return_to=" + url.QueryEscape(rt))
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("redirected to %s", loc)
			}
			if b.flowCookie(p) != nil {
				t.Error("a flow cookie was set")
			}
		})
	}
	rec := fx.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.authorize) != 0 {
		t.Errorf("the OP saw %d authorization requests, want 0", len(rec.authorize))
	}
}

func TestStartCookie(t *testing.T) {
	fx := newFixture(t, true)
	fx.provider()
	b := fx.browser()
	resp := b.get(fx.rp.URL + "/auth/oidc/test/start")
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Start set %d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != "__Host-freight-oidc-test" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "" || c.MaxAge != int(oidc.FlowTimeout/time.Second) {
		t.Errorf("flow cookie %s, want __Host-freight-oidc-test; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax", c)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}
