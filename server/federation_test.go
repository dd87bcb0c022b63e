package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
	"github.com/freight-portal/freight/server"
)

// The provider in these tests is a real OpenID provider: the example OP of
// github.com/zitadel/oidc/v3 with in-memory storage, on httptest.

type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (opUsers) ExampleClientID() string { return "service" }

type lateHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	h.ServeHTTP(w, r)
}

// newFederatedEnv starts an OP and a portal that trusts it as provider
// "corp": verified addresses at acme.example join acme, the subject
// "u-boss" joins globex as org-admin.
func newFederatedEnv(t *testing.T) (*env, *httptest.Server) {
	t.Helper()
	// The example OP logs every request to the default logger.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })

	users := opUsers{
		"u-ann":  {ID: "u-ann", Username: "ann", Password: "ann-pw", FirstName: "Ann", LastName: "Acme", Email: "ann@acme.example", EmailVerified: true},
		"u-eve":  {ID: "u-eve", Username: "eve", Password: "eve-pw", FirstName: "Eve", LastName: "Unverified", Email: "owner@acme.example", EmailVerified: false},
		"u-boss": {ID: "u-boss", Username: "boss", Password: "boss-pw", FirstName: "Boss", LastName: "Globex", Email: "boss@elsewhere.example", EmailVerified: true},
		"u-out":  {ID: "u-out", Username: "out", Password: "out-pw", FirstName: "Out", LastName: "Sider", Email: "out@else.example", EmailVerified: true},
	}
	var late lateHandler
	op := httptest.NewServer(&late)
	t.Cleanup(op.Close)

	// The portal must exist before the provider's redirect URL is known,
	// and the provider before the portal's configuration is complete:
	// start the portal's listener first, behind a late handler too.
	var portal lateHandler
	ps := httptest.NewServer(&portal)
	t.Cleanup(ps.Close)
	redirect := ps.URL + oidc.CallbackPath("corp")
	st := storage.NewStorageWithClients(users, map[string]*storage.Client{"freight": storage.WebClient("freight", "freight-secret", redirect)})
	late.mu.Lock()
	late.h = exampleop.SetupServer(op.URL, st, nil, false)
	late.mu.Unlock()

	p, err := oidc.New(context.Background(), oidc.ProviderConfig{
		Name: "corp", DisplayName: "Corp SSO", Issuer: op.URL, ClientID: "freight", ClientSecret: "freight-secret", RedirectURL: redirect,
		Rules: []oidc.Rule{{EmailDomain: "acme.example", Org: "acme"}, {Claim: "sub", Value: "u-boss", Org: "globex", Role: freight.RoleOrgAdmin}},
	}, oidc.Options{Key: bytes.Repeat([]byte{9}, oidc.KeySize), InsecureCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, nil, func(c *server.Config) { c.Providers = []*oidc.Provider{p}; c.InsecureCookies = true })
	portal.mu.Lock()
	portal.h = e.checked
	portal.mu.Unlock()
	e.url = ps.URL
	e.mustOrg("acme")
	e.mustOrg("globex")
	return e, op
}

// ssoBrowser is a browser with a cookie jar that stops at redirects.
type ssoBrowser struct {
	t *testing.T
	c *http.Client
}

func newSSOBrowser(t *testing.T) *ssoBrowser {
	jar, _ := cookiejar.New(nil)
	return &ssoBrowser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *ssoBrowser) get(u string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

var opLoginID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn runs the whole flow from the portal's start route through the
// OP's login form, and returns the callback URL without visiting it.
func (b *ssoBrowser) signIn(portal, op, user, pw string) string {
	b.t.Helper()
	resp, _ := b.get(portal + "/auth/oidc/corp/start?return_to=%2Fdownloads")
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("start: status %d", resp.StatusCode)
	}
	u := resp.Header.Get("Location")
	for range 10 {
		resp, body := b.get(u)
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc := resp.Header.Get("Location")
			if strings.HasPrefix(loc, portal+"/") {
				return loc
			}
			if strings.HasPrefix(loc, "/") {
				loc = op + loc
			}
			u = loc
		case resp.StatusCode == http.StatusOK && opLoginID.Match(body):
			form := url.Values{"id": {string(opLoginID.FindSubmatch(body)[1])}, "username": {user}, "password": {pw}}
			resp, err := b.c.PostForm(op+"/login/username", form)
			if err != nil {
				b.t.Fatal(err)
			}
			resp.Body.Close()
			u = resp.Header.Get("Location")
			if strings.HasPrefix(u, "/") {
				u = op + u
			}
		default:
			b.t.Fatalf("OP at %s: status %d: %.200s", u, resp.StatusCode, body)
		}
	}
	b.t.Fatal("too many redirects")
	return ""
}

func (b *ssoBrowser) me(portal string) (int, map[string]any) {
	resp, body := b.get(portal + "/api/v1/me")
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func TestFederatedSignIn(t *testing.T) {
	e, op := newFederatedEnv(t)

	t.Run("ProvisionByDomain", func(t *testing.T) {
		b := newSSOBrowser(t)
		cb := b.signIn(e.url, op.URL, "ann", "ann-pw")
		resp, body := b.get(cb)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/downloads" {
			t.Fatalf("callback: status %d location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		status, me := b.me(e.url)
		if status != http.StatusOK || me["role"] != "member" {
			t.Fatalf("me: %d %v", status, me)
		}
		u, err := e.store.UserByEmail(context.Background(), "ann@acme.example")
		if err != nil || !u.EmailVerified || u.PasswordHash != "" {
			t.Fatalf("provisioned user %+v, %v", u, err)
		}
		// A second sign-in finds the same user through the link.
		b2 := newSSOBrowser(t)
		b2.get(b2.signIn(e.url, op.URL, "ann", "ann-pw"))
		if _, me := b2.me(e.url); me["user_id"] != u.ID {
			t.Errorf("second sign-in is user %v, want %s", me["user_id"], u.ID)
		}
	})
	t.Run("ClaimRuleGivesRole", func(t *testing.T) {
		b := newSSOBrowser(t)
		b.get(b.signIn(e.url, op.URL, "boss", "boss-pw"))
		if _, me := b.me(e.url); me["role"] != "org-admin" {
			t.Errorf("me = %v, want org-admin of globex", me)
		}
	})
	t.Run("NoRuleNoAccount", func(t *testing.T) {
		b := newSSOBrowser(t)
		resp, _ := b.get(b.signIn(e.url, op.URL, "out", "out-pw"))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("callback: status %d, want 403", resp.StatusCode)
		}
		if _, err := e.store.UserByEmail(context.Background(), "out@else.example"); freight.ErrorCode(err) != freight.ENOTFOUND {
			t.Errorf("a user was made for an identity no rule admits: %v", err)
		}
	})
	t.Run("UnverifiedEmailCannotTakeOverAccount", func(t *testing.T) {
		// owner@acme.example has a password account; an identity claiming
		// that address without the provider vouching for it must not get in.
		e.mustUser("owner@acme.example", goodPassword, "", nil, "")
		b := newSSOBrowser(t)
		resp, _ := b.get(b.signIn(e.url, op.URL, "eve", "eve-pw"))
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("an unverified address signed in to an existing account")
		}
		if status, _ := b.me(e.url); status != http.StatusUnauthorized {
			t.Errorf("me: status %d, want 401", status)
		}
	})
	t.Run("ReplayedCallbackRefused", func(t *testing.T) {
		b := newSSOBrowser(t)
		cb := b.signIn(e.url, op.URL, "ann", "ann-pw")
		if resp, _ := b.get(cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d", resp.StatusCode)
		}
		other := newSSOBrowser(t)
		if resp, _ := other.get(cb); resp.StatusCode == http.StatusSeeOther {
			t.Error("a replayed callback signed a second browser in")
		}
	})
	t.Run("TamperedState", func(t *testing.T) {
		b := newSSOBrowser(t)
		cb := b.signIn(e.url, op.URL, "ann", "ann-pw")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", q.Get("state")+"x")
		u.RawQuery = q.Encode()
		if resp, _ := b.get(u.String()); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("tampered state: status %d, want 401", resp.StatusCode)
		}
	})
	t.Run("Providers", func(t *testing.T) {
		var list struct {
			Items []struct {
				Name        string `json:"name"`
				DisplayName string `json:"display_name"`
			}
		}
		e.must(http.StatusOK, "GET", "/api/v1/auth/providers", "", nil).decode(t, &list)
		if len(list.Items) != 1 || list.Items[0].DisplayName != "Corp SSO" {
			t.Errorf("providers = %+v", list.Items)
		}
	})
}
