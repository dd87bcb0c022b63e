package server_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/web"
)

// page fetches a page as the browser, without following redirects.
func (b *browser) page(path string) response {
	b.e.t.Helper()
	req, err := http.NewRequest("GET", b.e.url+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	c := *b.e.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: out.Bytes()}
}

func (b *browser) signIn(email string) {
	b.e.t.Helper()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": email, "password": goodPassword})
}

// wantPage checks that r is an HTML page with the given status and the
// headers every page carries.
func wantPage(t *testing.T, r response, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %.400s", r.status, status, r.body)
	}
	for k, v := range map[string]string{
		"Content-Security-Policy": web.ContentSecurityPolicy,
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	return string(r.body)
}

// pageRoutes are the routes of the web interface: GET routes outside the
// API, the download origin and the machine endpoints.
func pageRoutes(e *env) []pageRoute {
	var out []pageRoute
	for _, r := range e.srv.Routes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		if method != "GET" || strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/d/") || strings.HasPrefix(path, "/.well-known/") ||
			strings.HasPrefix(path, "/auth/oidc/") || strings.HasPrefix(path, "/assets/") || path == "/healthz" || path == "/readyz" || path == "/metrics" {
			continue
		}
		out = append(out, pageRoute{path, r.Permission})
	}
	return out
}

type pageRoute struct{ path, permission string }

// TestPages checks the pages: who may open them, what each organization
// sees on them, and the headers and escapes that keep them safe.
func TestPages(t *testing.T) {
	s := newShopSized(t, 1000)
	e := s.env
	ctx := context.Background()
	alice := e.mustUser("alice@acme.example", goodPassword, "", &s.acme, freight.RoleMember)
	e.mustUser("bob@globex.example", goodPassword, "", &s.globex, freight.RoleMember)

	t.Run("Anonymous", func(t *testing.T) {
		routes := pageRoutes(e)
		if len(routes) < 10 {
			t.Fatalf("only %d page routes: %v", len(routes), routes)
		}
		for _, r := range routes {
			path := strings.NewReplacer("{$}", "", "{product}", "cad", "{release}", "rel_00000000000000000000000000", "{org}", "acme").Replace(r.path)
			got := e.browser().page(path)
			if r.permission == "public" {
				wantPage(t, got, http.StatusOK)
				continue
			}
			if got.status != http.StatusSeeOther {
				t.Errorf("GET %s anonymously: status %d, want 303", path, got.status)
				continue
			}
			if loc, want := got.header.Get("Location"), "/sign-in?return_to="+url.QueryEscape(path); loc != want {
				t.Errorf("GET %s anonymously: Location %q, want %q", path, loc, want)
			}
		}
	})

	t.Run("Catalog", func(t *testing.T) {
		b := e.browser()
		b.signIn("alice@acme.example")
		body := wantPage(t, b.page("/"), http.StatusOK)
		for _, want := range []string{`href="/products/cad"`, "1.0.0", "alice@acme.example", "Acme"} {
			if !strings.Contains(body, want) {
				t.Errorf("acme's catalog lacks %q", want)
			}
		}
		body = wantPage(t, b.page("/products/cad"), http.StatusOK)
		for _, want := range []string{s.artifact.SHA256, s.artifact.Filename, `data-download="` + s.artifact.ID + `"`, `badge-stable`} {
			if !strings.Contains(body, want) {
				t.Errorf("acme's product page lacks %q", want)
			}
		}
	})

	t.Run("Tenancy", func(t *testing.T) {
		b := e.browser()
		b.signIn("bob@globex.example")
		body := wantPage(t, b.page("/"), http.StatusOK)
		if strings.Contains(body, "/products/cad") || strings.Contains(body, s.artifact.SHA256) {
			t.Error("globex's catalog shows acme's product")
		}
		if !strings.Contains(body, "Nothing to download yet") {
			t.Error("globex's empty catalog does not say so")
		}
		for _, path := range []string{"/products/cad", "/products/cad?since=0.1.0", "/products/" + mustProductID(t, e)} {
			body := wantPage(t, b.page(path), http.StatusNotFound)
			if strings.Contains(body, s.artifact.SHA256) || strings.Contains(body, s.artifact.Filename) {
				t.Errorf("GET %s as globex shows acme's file", path)
			}
		}
		body = wantPage(t, b.page("/licenses"), http.StatusOK)
		if !strings.Contains(body, "no license files yet") {
			t.Error("the empty licenses page does not say so")
		}
	})

	t.Run("Since", func(t *testing.T) {
		b := e.browser()
		b.signIn("alice@acme.example")
		for _, tc := range []struct {
			since string
			want  string
			file  bool
		}{
			{"0.9.0", "1 release newer than 0.9.0", true},
			{"v0.9.0", "1 release newer than v0.9.0", true},
			{"1.0.0", "you are up to date", false},
			{"one", "Enter a version such as 1.4.2.", true},
		} {
			body := wantPage(t, b.page("/products/cad?since="+url.QueryEscape(tc.since)), http.StatusOK)
			if !strings.Contains(body, tc.want) {
				t.Errorf("since %s: page lacks %q", tc.since, tc.want)
			}
			if got := strings.Contains(body, s.artifact.SHA256); got != tc.file {
				t.Errorf("since %s: file shown %v, want %v", tc.since, got, tc.file)
			}
		}
	})

	t.Run("ReleaseNotes", func(t *testing.T) {
		notes := "# Big news\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n" +
			"<a href=\"https://evil.example\" onclick=\"x()\">raw</a> and **bold** [docs](https://docs.example/cad)"
		e.must(http.StatusOK, "PATCH", "/api/v1/releases/"+s.artifact.ReleaseID, e.token, map[string]any{"notes": notes})
		b := e.browser()
		b.signIn("alice@acme.example")
		body := wantPage(t, b.page("/products/cad"), http.StatusOK)
		_, notesHTML, _ := strings.Cut(body, `<div class="notes">`)
		notesHTML, _, _ = strings.Cut(notesHTML, "</div>")
		for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "evil.example", "<img"} {
			if strings.Contains(strings.ToLower(notesHTML), bad) {
				t.Errorf("release notes carry %q: %s", bad, notesHTML)
			}
		}
		for _, want := range []string{"<h3", "Big news", "<strong>bold</strong>", `href="https://docs.example/cad"`, `rel="nofollow noreferrer noopener"`} {
			if !strings.Contains(notesHTML, want) {
				t.Errorf("release notes lack %q: %s", want, notesHTML)
			}
		}
	})

	t.Run("SecondFactorStep", func(t *testing.T) {
		secret := mfa.NewSecret()
		carol := e.mustUser("carol@acme.example", goodPassword, "", &s.acme, freight.RoleMember)
		if _, err := e.store.UpdateUser(ctx, carol.ID, func(u *freight.User) error {
			u.Security.TOTPSecret = secret
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		b.signIn("carol@acme.example")
		got := b.page("/products/cad")
		if loc := got.header.Get("Location"); got.status != http.StatusSeeOther || loc != "/sign-in/mfa?return_to=%2Fproducts%2Fcad" {
			t.Fatalf("half signed in: status %d, Location %q; want the second-factor step", got.status, loc)
		}
		body := wantPage(t, b.page("/sign-in/mfa?return_to=%2Fproducts%2Fcad"), http.StatusOK)
		if !strings.Contains(body, `data-next="/products/cad"`) {
			t.Error("the second-factor step forgets where to go next")
		}
		b.must(http.StatusOK, "POST", "/api/v1/auth/mfa", map[string]string{"code": mfa.Code(secret, e.clock.Now())})
		wantPage(t, b.page("/products/cad"), http.StatusOK)
	})

	t.Run("ReturnTo", func(t *testing.T) {
		for in, want := range map[string]string{
			"/products/cad":        "/products/cad",
			"//evil.example/":      "/",
			"https://evil.example": "/",
			"/\\evil.example":      "/",
			"":                     "/",
		} {
			body := wantPage(t, e.browser().page("/sign-in?return_to="+url.QueryEscape(in)), http.StatusOK)
			if !strings.Contains(body, `data-next="`+want+`"`) {
				t.Errorf("return_to %q: the sign-in page does not go to %q next", in, want)
			}
		}
	})

	t.Run("Account", func(t *testing.T) {
		b := e.browser()
		b.header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/150.0 Safari/537.36")
		b.signIn("alice@acme.example")
		var tok struct{ Secret string }
		b.must(http.StatusCreated, "POST", "/api/v1/account/tokens", map[string]string{"name": "laptop"}).decode(t, &tok)
		body := wantPage(t, b.page("/account"), http.StatusOK)
		for _, want := range []string{"alice@acme.example", "Chrome on Linux", "this browser", "laptop", "Two-step sign-in is <strong>off</strong>"} {
			if !strings.Contains(body, want) {
				t.Errorf("the account page lacks %q", want)
			}
		}
		if tok.Secret == "" || strings.Contains(body, tok.Secret) {
			t.Error("the account page shows a token's secret")
		}
		// The expiry choices are valid answers to the API's expires_at.
		m := regexp.MustCompile(`<option value="([^"]+)"`).FindAllStringSubmatch(body, -1)
		if len(m) != 3 {
			t.Fatalf("%d expiry choices, want 3", len(m))
		}
		for _, o := range m {
			b.must(http.StatusCreated, "POST", "/api/v1/account/tokens", map[string]string{"name": "exp", "expires_at": o[1]})
		}
	})

	t.Run("QRCode", func(t *testing.T) {
		b := e.browser()
		b.signIn("alice@acme.example")
		wantPage(t, b.page("/account/mfa/qr.png"), http.StatusNotFound)
		var begin struct{ Secret, URI string }
		b.must(http.StatusOK, "POST", "/api/v1/account/mfa/totp", map[string]string{"password": goodPassword}).decode(t, &begin)
		got := b.page("/account/mfa/qr.png")
		if got.status != http.StatusOK || got.header.Get("Content-Type") != "image/png" || got.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("QR code: status %d, Content-Type %q, Cache-Control %q", got.status, got.header.Get("Content-Type"), got.header.Get("Cache-Control"))
		}
		img, err := png.Decode(bytes.NewReader(got.body))
		if err != nil {
			t.Fatal(err)
		}
		if w := img.Bounds().Dx(); w != 240 {
			t.Errorf("QR code is %d pixels wide, want 240", w)
		}
		// Only the account's own pending key is drawn: another person's
		// session sees none.
		other := e.browser()
		other.signIn("bob@globex.example")
		wantPage(t, other.page("/account/mfa/qr.png"), http.StatusNotFound)
		_ = alice
	})

	t.Run("Enrolment", func(t *testing.T) {
		if _, err := e.store.UpdateOrganization(ctx, s.globex.ID, func(o *freight.Organization) error {
			o.RequireMFA = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		defer e.store.UpdateOrganization(ctx, s.globex.ID, func(o *freight.Organization) error {
			o.RequireMFA = false
			return nil
		})
		b := e.browser()
		b.signIn("bob@globex.example")
		got := b.page("/")
		if loc := got.header.Get("Location"); got.status != http.StatusSeeOther || loc != "/account#mfa" {
			t.Fatalf("before enrolling: status %d, Location %q; want the account page", got.status, loc)
		}
		body := wantPage(t, b.page("/account"), http.StatusOK)
		if !strings.Contains(body, "requires two-step sign-in") {
			t.Error("the account page does not say a second factor is required")
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		body := wantPage(t, e.browser().page("/no/such/page"), http.StatusNotFound)
		if !strings.Contains(body, "There is no page at this address.") {
			t.Error("the HTML 404 page does not say what is wrong")
		}
		r := e.do("GET", "/no/such/page", "", nil)
		if code, _, _ := r.err(); r.status != http.StatusNotFound || code != freight.ENOTFOUND {
			t.Errorf("an API client gets status %d code %q, want a JSON 404", r.status, code)
		}
	})

	t.Run("Assets", func(t *testing.T) {
		body := wantPage(t, e.browser().page("/sign-in"), http.StatusOK)
		for _, re := range []string{`href="(/assets/app\.[0-9a-f]{16}\.css)"`, `src="(/assets/app\.[0-9a-f]{16}\.js)"`} {
			m := regexp.MustCompile(re).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("the page links no asset matching %s", re)
			}
			r := e.browser().page(m[1])
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(r.body) == 0 {
				t.Errorf("GET %s: status %d, Cache-Control %q, %d bytes", m[1], r.status, r.header.Get("Cache-Control"), len(r.body))
			}
			stale := regexp.MustCompile(`\.[0-9a-f]{16}\.`).ReplaceAllString(m[1], ".0000000000000000.")
			if r := e.browser().page(stale); r.status != http.StatusNotFound {
				t.Errorf("GET %s (an old hash): status %d, want 404", stale, r.status)
			}
		}
		// No page holds an inline script or style: the policy would
		// block them.
		for _, r := range pageRoutes(e) {
			if r.permission != "public" {
				continue
			}
			body := string(e.browser().page(r.path).body)
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]|<style|\sstyle=|\son[a-z]+=`).MatchString(body) {
				t.Errorf("GET %s has an inline script, style or handler", r.path)
			}
			// Without the script, a form must not put a password in
			// the address bar by falling back to GET.
			for _, form := range regexp.MustCompile(`<form [^>]*data-api=[^>]*>`).FindAllString(body, -1) {
				if !strings.Contains(form, `method="post"`) {
					t.Errorf("GET %s: %s would send its fields in the URL without the script", r.path, form)
				}
			}
		}
	})
}
