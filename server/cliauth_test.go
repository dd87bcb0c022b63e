package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/server"
)

// pkce is the command line's side of one browser sign-in.
type pkce struct {
	verifier, challenge, state, redirect string
}

func newPKCE(t *testing.T) pkce {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	rand.Read(b[:16])
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:]),
		state: base64.RawURLEncoding.EncodeToString(b[:16]), redirect: "http://127.0.0.1:49213/callback"}
}

// request is the authorize request, as the page's form sends it.
func (p pkce) request(name string) map[string]string {
	return map[string]string{"redirect_uri": p.redirect, "state": p.state, "code_challenge": p.challenge,
		"code_challenge_method": "S256", "name": name}
}

// query is the authorize page's query for the request.
func (p pkce) query(name string) string {
	q := url.Values{}
	for k, v := range p.request(name) {
		q.Set(k, v)
	}
	return "/cli/authorize?" + q.Encode()
}

// allow sends the person's Allow and returns the code the browser would
// carry to the loopback address, checking that address and the state.
func (p pkce) allow(t *testing.T, b *browser, name string) string {
	t.Helper()
	var a struct {
		RedirectTo string `json:"redirect_to"`
	}
	b.must(http.StatusOK, "POST", "/api/v1/auth/cli/authorize", p.request(name)).decode(t, &a)
	to, ok := strings.CutPrefix(a.RedirectTo, p.redirect+"?")
	if !ok {
		t.Fatalf("the Allow sends the browser to %q, want %s?…", a.RedirectTo, p.redirect)
	}
	q, err := url.ParseQuery(to)
	if err != nil || q.Get("state") != p.state || q.Get("code") == "" {
		t.Fatalf("the redirect's query %q lacks the state %q or a code", to, p.state)
	}
	return q.Get("code")
}

func (p pkce) exchange(code string) map[string]string {
	return map[string]string{"code": code, "code_verifier": p.verifier, "redirect_uri": p.redirect}
}

// TestCLISignIn walks the browser sign-in of the command line through the
// API: the page, the Allow, the exchange, and every refusal of the
// exchange.
func TestCLISignIn(t *testing.T) {
	e := newEnv(t)
	acme := e.mustOrg("acme")
	ann := e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
	b := e.browser()
	b.signIn(ann.Email)

	t.Run("PageAsks", func(t *testing.T) {
		p := newPKCE(t)
		body := wantPage(t, b.page(p.query("build-07")), http.StatusOK)
		for _, want := range []string{"Allow the Freight command line on <strong class=\"cli-name\">build-07</strong> to act as <strong>ann@acme.example</strong> in Acme?",
			`value="` + p.challenge + `"`, `id="cli-allow"`, `href="` + p.redirect + `?error=access_denied&amp;state=` + p.state + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the authorize page lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("SignedOutGoesThroughSignIn", func(t *testing.T) {
		p := newPKCE(t)
		got := e.browser().page(p.query("build-07"))
		loc := got.header.Get("Location")
		if got.status != http.StatusSeeOther || loc != "/sign-in?return_to="+url.QueryEscape(p.query("build-07")) {
			t.Fatalf("signed out: status %d, Location %q; want the sign-in page coming back here", got.status, loc)
		}
		// The sign-in page keeps the whole way back, query and all.
		page := wantPage(t, e.browser().page(loc), http.StatusOK)
		if !strings.Contains(page, "code_challenge="+p.challenge) {
			t.Errorf("the sign-in page forgets the request:\n%s", page)
		}
	})

	t.Run("SecondFactorFirst", func(t *testing.T) {
		carol := e.mustUser("carol@acme.example", goodPassword, "", acme, freight.RoleMember)
		if _, err := e.store.UpdateUser(context.Background(), carol.ID, func(u *freight.User) error {
			u.Security.TOTPSecret = mfa.NewSecret()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cb := e.browser()
		cb.signIn(carol.Email)
		p := newPKCE(t)
		got := cb.page(p.query("build-07"))
		if loc := got.header.Get("Location"); got.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/sign-in/mfa?return_to=%2Fcli%2Fauthorize%3F") {
			t.Fatalf("half signed in: status %d, Location %q; want the second-factor step", got.status, loc)
		}
		// Nor may the Allow be sent half signed in.
		wantError(t, cb.do("POST", "/api/v1/auth/cli/authorize", p.request("build-07")), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("Exchange", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-07")
		var tok struct {
			Secret string
			Name   string
			Role   freight.Role
			OrgID  string `json:"org_id"`
			UserID string `json:"user_id"`
		}
		// Without a cookie or token: the code and verifier are the
		// credential.
		e.must(http.StatusCreated, "POST", "/api/v1/auth/cli/token", "", p.exchange(code)).decode(t, &tok)
		if tok.Name != "freight command line on build-07" || tok.Role != freight.RoleMember || tok.OrgID != acme.ID || tok.UserID != ann.ID {
			t.Errorf("token = %+v, want ann's member token in acme named after the machine", tok)
		}
		var me struct {
			UserID string       `json:"user_id"`
			Role   freight.Role `json:"role"`
		}
		e.must(http.StatusOK, "GET", "/api/v1/me", tok.Secret, nil).decode(t, &me)
		if me.UserID != ann.ID || me.Role != freight.RoleMember {
			t.Errorf("the new token acts as %+v", me)
		}

		// The token is a personal one: listed on the account, revocable
		// there, and dead after.
		var list struct{ Items []freight.Token }
		b.must(http.StatusOK, "GET", "/api/v1/account/tokens", nil).decode(t, &list)
		found := false
		for _, lt := range list.Items {
			if lt.Name == "freight command line on build-07" {
				found = true
				b.must(http.StatusOK, "DELETE", "/api/v1/account/tokens/"+lt.ID, nil)
			}
		}
		if !found {
			t.Fatalf("the account's tokens %+v lack the command line's", list.Items)
		}
		wantError(t, e.do("GET", "/api/v1/me", tok.Secret, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("CodeUsedTwice", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-08")
		var tok struct {
			ID     string
			Secret string
		}
		e.must(http.StatusCreated, "POST", "/api/v1/auth/cli/token", "", p.exchange(code)).decode(t, &tok)
		// Someone who saw the used code, without the verifier, gets the
		// answer for every bad code and changes nothing.
		other := newPKCE(t)
		wantError(t, e.do("POST", "/api/v1/auth/cli/token", "", map[string]string{"code": code, "code_verifier": other.verifier, "redirect_uri": p.redirect}),
			http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		e.must(http.StatusOK, "GET", "/api/v1/me", tok.Secret, nil)
		// The code and its verifier again: they leaked, so the token
		// issued for them is revoked (RFC 6749 section 4.1.2).
		wantError(t, e.do("POST", "/api/v1/auth/cli/token", "", p.exchange(code)), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		wantError(t, e.do("GET", "/api/v1/me", tok.Secret, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		events, _, err := e.store.AuditEvents(context.Background(), freight.AuditFilter{Action: "token.revoke", TargetID: tok.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Actor != ann.ID || !strings.Contains(string(events[0].Details), "its sign-in code was presented again") {
			t.Errorf("audit of the revocation = %+v, want one token.revoke by ann with the reason", events)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-07")
		other := newPKCE(t)
		for name, in := range map[string]map[string]string{
			"wrong verifier":         {"code": code, "code_verifier": other.verifier, "redirect_uri": p.redirect},
			"another port":           {"code": code, "code_verifier": p.verifier, "redirect_uri": "http://127.0.0.1:49214/callback"},
			"another path":           {"code": code, "code_verifier": p.verifier, "redirect_uri": "http://127.0.0.1:49213/"},
			"no redirect":            {"code": code, "code_verifier": p.verifier},
			"the challenge as proof": {"code": code, "code_verifier": p.challenge, "redirect_uri": p.redirect},
			"made-up code":           p.exchange("frl_tkt_00000000000000000000000000_" + strings.Repeat("A", 43)),
			"not a code":             p.exchange("hello"),
		} {
			r := e.do("POST", "/api/v1/auth/cli/token", "", in)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401; body %s", name, r.status, r.body)
			}
		}
		wantError(t, e.do("POST", "/api/v1/auth/cli/token", "", map[string]string{"code": code, "code_verifier": "short", "redirect_uri": p.redirect}),
			http.StatusBadRequest, freight.EINVALID, "code_verifier")
		// None of those spent the code: a bystander who saw it cannot
		// spoil the sign-in.
		e.must(http.StatusCreated, "POST", "/api/v1/auth/cli/token", "", p.exchange(code))
	})

	t.Run("Expired", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-07")
		e.clock.Add(2*time.Minute + time.Second)
		wantError(t, e.do("POST", "/api/v1/auth/cli/token", "", p.exchange(code)), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})

	t.Run("RoleLostMeanwhile", func(t *testing.T) {
		dan := e.mustUser("dan@acme.example", goodPassword, "", acme, freight.RoleMember)
		db := e.browser()
		db.signIn(dan.Email)
		p := newPKCE(t)
		code := p.allow(t, db, "build-07")
		if err := e.store.DeleteMembership(context.Background(), dan.ID, acme.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("POST", "/api/v1/auth/cli/token", "", p.exchange(code)), http.StatusForbidden, freight.EFORBIDDEN, "")
	})

	t.Run("VendorStaff", func(t *testing.T) {
		pub := e.mustUser("pat@vendor.example", goodPassword, freight.RolePublisher, nil, "")
		pb := e.browser()
		pb.signIn(pub.Email)
		p := newPKCE(t)
		var tok struct {
			Secret string
			Role   freight.Role
		}
		e.must(http.StatusCreated, "POST", "/api/v1/auth/cli/token", "", p.exchange(p.allow(t, pb, "ci-runner"))).decode(t, &tok)
		if tok.Role != freight.RolePublisher {
			t.Errorf("a publisher's command line got role %q", tok.Role)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		p := newPKCE(t)
		for name, c := range map[string]struct{ key, value, field string }{
			"another host":          {"redirect_uri", "http://evil.example:49213/callback", "redirect_uri"},
			"localhost":             {"redirect_uri", "http://localhost:49213/callback", "redirect_uri"},
			"https":                 {"redirect_uri", "https://127.0.0.1:49213/callback", "redirect_uri"},
			"no port":               {"redirect_uri", "http://127.0.0.1/callback", "redirect_uri"},
			"port zero":             {"redirect_uri", "http://127.0.0.1:0/callback", "redirect_uri"},
			"other loopback":        {"redirect_uri", "http://127.0.0.2:49213/callback", "redirect_uri"},
			"a user":                {"redirect_uri", "http://me@127.0.0.1:49213/callback", "redirect_uri"},
			"a query":               {"redirect_uri", "http://127.0.0.1:49213/callback?next=x", "redirect_uri"},
			"a fragment":            {"redirect_uri", "http://127.0.0.1:49213/callback#x", "redirect_uri"},
			"no path":               {"redirect_uri", "http://127.0.0.1:49213", "redirect_uri"},
			"plain method":          {"code_challenge_method", "plain", "code_challenge_method"},
			"no state":              {"state", "", "state"},
			"state with a quote":    {"state", `a"b`, "state"},
			"short challenge":       {"code_challenge", p.challenge[:42], "code_challenge"},
			"padded challenge":      {"code_challenge", p.challenge[:42] + "=", "code_challenge"},
			"no name":               {"name", "", "name"},
			"terminal escape in it": {"name", "build\x1b[2J", "name"},
		} {
			t.Run(name, func(t *testing.T) {
				in := p.request("build-07")
				in[c.key] = c.value
				q := url.Values{}
				for k, v := range in {
					q.Set(k, v)
				}
				got := b.page("/cli/authorize?" + q.Encode())
				if got.status != http.StatusBadRequest || got.header.Get("Location") != "" {
					t.Errorf("page: status %d, Location %q; want 400 and no redirect", got.status, got.header.Get("Location"))
				}
				wantError(t, b.do("POST", "/api/v1/auth/cli/authorize", in), http.StatusBadRequest, freight.EINVALID, c.field)
			})
		}
		// IPv6 loopback is fine.
		in := p.request("build-07")
		in["redirect_uri"] = "http://[::1]:49213/callback"
		b.must(http.StatusOK, "POST", "/api/v1/auth/cli/authorize", in)
		// A parameter given twice is ambiguous.
		wantPage(t, b.page(p.query("build-07")+"&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fx"), http.StatusBadRequest)
	})

	t.Run("OtherOrigins", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-07")
		// A page of another site cannot make a signed-in browser allow,
		// nor exchange a code it learnt.
		b.header.Set("Origin", "https://evil.example")
		b.header.Set("Sec-Fetch-Site", "cross-site")
		wantError(t, b.do("POST", "/api/v1/auth/cli/authorize", p.request("build-07")), http.StatusForbidden, freight.EFORBIDDEN, "")
		wantError(t, b.do("POST", "/api/v1/auth/cli/token", p.exchange(code)), http.StatusForbidden, freight.EFORBIDDEN, "")
		b.header.Del("Origin")
		b.header.Del("Sec-Fetch-Site")
		// An API token is not a person at a browser.
		wantError(t, e.do("POST", "/api/v1/auth/cli/authorize", e.token, p.request("build-07")), http.StatusForbidden, freight.EFORBIDDEN, "")
	})

	t.Run("SecretsAtRest", func(t *testing.T) {
		p := newPKCE(t)
		code := p.allow(t, b, "build-07")
		var tok struct{ Secret string }
		e.must(http.StatusCreated, "POST", "/api/v1/auth/cli/token", "", p.exchange(code)).decode(t, &tok)
		dump := e.dumpDatabase()
		if !strings.Contains(dump, p.challenge) {
			t.Fatal("the dump lacks the challenge: it does not read the tickets")
		}
		for _, s := range []string{code[len(code)-43:], p.verifier, tok.Secret[len(tok.Secret)-43:]} {
			if strings.Contains(dump, s) {
				t.Errorf("the database holds a secret in plain text (%.8s…)", s)
			}
		}
		e.checkLogsClean([]string{code, p.verifier, tok.Secret})
	})
}

// FuzzCLIAuthorizeQuery feeds the authorize page's parser arbitrary
// queries: it never panics, and what it accepts sends the browser only to
// the loopback address with a port, never elsewhere.
func FuzzCLIAuthorizeQuery(f *testing.F) {
	p := pkce{challenge: strings.Repeat("a", 43), state: "s", redirect: "http://127.0.0.1:49213/callback"}
	f.Add(strings.TrimPrefix(p.query("build-07"), "/cli/authorize?"))
	f.Add("redirect_uri=http://[::1]:1/&state=x&code_challenge=" + strings.Repeat("-", 43) + "&code_challenge_method=S256&name=n")
	f.Add("redirect_uri=http://127.0.0.1:1@evil.example/&state=x&code_challenge=" + strings.Repeat("_", 43) + "&code_challenge_method=S256&name=n")
	f.Add("redirect_uri=http://127.0.0.1:1/%2e%2e/&state=x")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		to, err := server.CLIAuthorizeQuery(q)
		if err != nil {
			return
		}
		u, err := url.Parse(to)
		if err != nil {
			t.Fatalf("accepted %q, whose redirect %q does not parse: %v", raw, to, err)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if u.Scheme != "http" || err != nil || (host != "127.0.0.1" && host != "::1") || u.User != nil || u.Fragment != "" {
			t.Fatalf("accepted %q, which sends the browser to %q", raw, to)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted %q with port %q", raw, port)
		}
		if got := u.Query(); len(got["code"]) != 1 || len(got["state"]) != 1 || got.Get("state") != q.Get("state") {
			t.Fatalf("accepted %q, whose redirect %q carries the code and state ambiguously", raw, to)
		}
	})
}
