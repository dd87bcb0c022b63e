package server

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/oidc"
	"github.com/freight-portal/freight/web"
)

// pageFunc renders one page of the web interface for p (the zero
// Principal on public pages). Pages only read: every change is a call of
// the JSON API from the page's script, behind the API's cross-origin
// protection.
type pageFunc func(w http.ResponseWriter, r *http.Request, p freight.Principal) error

// page wraps a page in the same permission check as the API, with the
// answers a browser needs: a person who is not signed in goes to the
// sign-in page (and comes back after), one half-way through a sign-in to
// the second-factor step, one who must enrol a second factor to the
// account page; other refusals and errors are an HTML error page.
func (s *Server) page(need perm, what string, h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p freight.Principal
		if need != permPublic {
			var err error
			p, err = s.authenticate(r)
			if err == nil {
				err = s.decide(r, need, what, p)
			}
			if err != nil {
				s.pageRefused(w, r, p, err)
				return
			}
		}
		if err := h(w, r, p); err != nil {
			s.pageError(w, r, err)
		}
	})
}

func (s *Server) pageRefused(w http.ResponseWriter, r *http.Request, p freight.Principal, err error) {
	back := url.QueryEscape(r.URL.RequestURI())
	switch {
	case freight.ErrorCode(err) == freight.EUNAUTHORIZED:
		if sess, _, serr := s.cookieSession(r); serr == nil && sess.Level == freight.SessionPartial {
			http.Redirect(w, r, "/sign-in/mfa?return_to="+back, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/sign-in?return_to="+back, http.StatusSeeOther)
	case p.MFAEnrollment && p.SessionID != "":
		http.Redirect(w, r, "/account#mfa", http.StatusSeeOther)
	default:
		s.pageError(w, r, err)
	}
}

// errorPage is the body of the error page.
type errorPage struct {
	Message   string
	RequestID string
}

// pageError answers err as an HTML page, with the status and the safe
// message the JSON API would give; only server-side failures are logged.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := freight.ErrorCode(err)
	status := statusOf(code)
	if status >= 500 {
		s.logger.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	title := "Something went wrong"
	switch code {
	case freight.ENOTFOUND:
		title = "Not found"
	case freight.EFORBIDDEN:
		title = "Not allowed"
	case freight.EINVALID:
		title = "That did not work"
	case freight.ERATELIMIT:
		title = "Too many requests"
	}
	setRetryAfter(w, err)
	body := errorPage{Message: freight.ErrorMessage(err), RequestID: RequestID(r.Context())}
	if err := s.ui.Render(w, status, "error", web.Page{Title: title, Body: body}); err != nil {
		s.logger.ErrorContext(r.Context(), "rendering the error page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// render writes a page of a signed-in person, with the header's account
// details.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p freight.Principal, name, title, section string, body any) error {
	var nav *web.Nav
	if p.UserID != "" {
		ctx := r.Context()
		u, err := s.store.User(ctx, p.UserID)
		if err != nil {
			return err
		}
		nav = &web.Nav{Email: u.Email, Role: string(p.Role), Current: section,
			Staff: p.Role.IsVendor(), OrgAdmin: p.Role == freight.RoleOrgAdmin}
		if p.OrgID != "" {
			o, err := s.store.Organization(ctx, p.OrgID)
			if err != nil {
				return err
			}
			nav.Org = o.Name
		}
		if nav.Orgs, err = s.orgChoices(ctx, p); err != nil {
			return err
		}
	}
	return s.ui.Render(w, http.StatusOK, name, web.Page{Title: title, Nav: nav, Body: body})
}

// returnTo is where to go after signing in: the page's return_to when it
// is a local path, the catalog otherwise.
func returnTo(r *http.Request) string {
	to, err := oidc.CheckReturnTo(r.URL.Query().Get("return_to"))
	if err != nil {
		return "/"
	}
	return to
}

type signInPage struct {
	ReturnTo  string
	Providers []providerInfo
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, _ freight.Principal) error {
	to := returnTo(r)
	body := signInPage{ReturnTo: to}
	for _, p := range s.cfg.Providers {
		body.Providers = append(body.Providers, providerInfo{Name: p.Name(), DisplayName: p.DisplayName(),
			StartURL: "/auth/oidc/" + url.PathEscape(p.Name()) + "/start?return_to=" + url.QueryEscape(to)})
	}
	return s.render(w, r, freight.Principal{}, "sign-in", "Sign in", "", body)
}

func (s *Server) signInMFAPage(w http.ResponseWriter, r *http.Request, _ freight.Principal) error {
	return s.render(w, r, freight.Principal{}, "sign-in-mfa", "Two-step sign-in", "", signInPage{ReturnTo: returnTo(r)})
}

// staticPage renders a public page without data: the forms of the links
// sent by mail read their token from the address bar themselves, so that
// the secret is never written into a page.
func (s *Server) staticPage(name, title string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, _ freight.Principal) error {
		return s.render(w, r, freight.Principal{}, name, title, "", nil)
	}
}

type productSummary struct {
	Slug, Name, Description string
	Latest                  *freight.Release
	Count                   int
}

type catalogPage struct {
	Products []productSummary
}

// catalogPage lists the products the caller may download from, each with
// its newest visible release.
func (s *Server) catalogPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	ents, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	prods, err := s.catalogProducts(ctx, p, ents, "")
	if err != nil {
		return err
	}
	var body catalogPage
	seen := map[string]bool{}
	for _, prod := range prods {
		// An organization may hold several entitlements to one product.
		if seen[prod.ID] {
			continue
		}
		seen[prod.ID] = true
		es, err := s.visibleReleases(ctx, p, ents, prod, "", "")
		if err != nil {
			return err
		}
		sum := productSummary{Slug: prod.Slug, Name: prod.Name, Description: prod.Description, Count: len(es)}
		if len(es) > 0 {
			sum.Latest = es[0].Release
		}
		body.Products = append(body.Products, sum)
	}
	slices.SortFunc(body.Products, func(a, b productSummary) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return s.render(w, r, p, "catalog", "Downloads", "catalog", body)
}

type productPage struct {
	Product    *freight.Product
	Releases   []catalogEntry
	Since      string
	SinceError string
}

// productPage shows the releases of one product the caller may see,
// newest first, or with ?since= only those newer than a version. A
// product the caller is not entitled to does not exist, as in the API.
func (s *Server) productPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	ents, err := s.entitlementsOf(ctx, p)
	if err != nil {
		return err
	}
	prods, err := s.catalogProducts(ctx, p, ents, r.PathValue("product"))
	if err != nil {
		return err
	}
	if len(prods) == 0 {
		return freight.Errorf(freight.ENOTFOUND, "product not found")
	}
	prod := prods[0]
	es, err := s.visibleReleases(ctx, p, ents, prod, "", "")
	if err != nil {
		return err
	}
	body := productPage{Product: prod, Releases: es, Since: strings.TrimSpace(r.URL.Query().Get("since"))}
	if body.Since != "" {
		from, err := freight.ParseVersion(strings.TrimPrefix(body.Since, "v"))
		if err != nil {
			body.SinceError = "Enter a version such as 1.4.2."
		} else {
			body.Releases = slices.DeleteFunc(es, func(e catalogEntry) bool {
				v, err := semver.StrictNewVersion(e.Release.Version)
				return err != nil || !v.GreaterThan(from)
			})
		}
	}
	return s.render(w, r, p, "product", prod.Name, "catalog", body)
}

type licenseView struct {
	*freight.License
	Product string
}

type licensesPage struct {
	Licenses []licenseView
}

// licensesPage lists the licenses of the caller's organization (every one
// for vendor staff), the active ones first.
func (s *Server) licensesPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	f := freight.LicenseFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
	if !p.CanRead() {
		if p.OrgID == "" {
			return s.render(w, r, p, "licenses", "Licenses", "licenses", licensesPage{})
		}
		f.OrgID = p.OrgID
	}
	var body licensesPage
	names := map[string]string{}
	for {
		ls, next, err := s.store.Licenses(ctx, f)
		if err != nil {
			return err
		}
		for _, l := range ls {
			name, ok := names[l.ProductID]
			if !ok {
				prod, err := s.store.Product(ctx, l.ProductID)
				if err != nil {
					return err
				}
				name, names[l.ProductID] = prod.Name, prod.Name
			}
			body.Licenses = append(body.Licenses, licenseView{l, name})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortStableFunc(body.Licenses, func(a, b licenseView) int {
		return cmp.Compare(b2i(a.State != freight.LicenseActive), b2i(b.State != freight.LicenseActive))
	})
	return s.render(w, r, p, "licenses", "Licenses", "licenses", body)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type sessionView struct {
	*freight.Session
	Current bool
	Browser string
}

type expiryOption struct {
	Label, Value string
	Default      bool
}

type accountPage struct {
	User               *freight.User
	Org                string
	Role               freight.Role
	MFAEnabled         bool
	EnrollmentRequired bool
	Sessions           []sessionView
	Tokens             tokenSection
}

// accountPage shows the person's account: password, second factor,
// sessions and personal tokens.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	u, err := s.store.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	body := accountPage{User: u, Role: p.Role, MFAEnabled: u.Security.MFAEnabled(), EnrollmentRequired: p.MFAEnrollment}
	if p.OrgID != "" {
		o, err := s.store.Organization(ctx, p.OrgID)
		if err != nil {
			return err
		}
		body.Org = o.Name
	}
	ss, err := s.store.Sessions(ctx, u.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, sess := range ss {
		if sess.Level != freight.SessionFull || !now.Before(sess.ExpiresAt) {
			continue
		}
		body.Sessions = append(body.Sessions, sessionView{sess, sess.ID == p.SessionID, browserName(sess.UserAgent)})
	}
	body.Tokens = tokenSection{API: "/api/v1/account/tokens", Key: "tok", Personal: true, Done: "/account",
		Empty: "You have no tokens.", Expiries: tokenExpiries(now)}
	if body.Tokens.Tokens, err = s.activeTokens(ctx, freight.TokenFilter{UserID: u.ID}); err != nil {
		return err
	}
	return s.render(w, r, p, "account", "Your account", "account", body)
}

// tokenSection is what the shared "tokens" template shows: a list of
// tokens, each with its Revoke button, and the form that makes one.
type tokenSection struct {
	Tokens   []*freight.Token
	Expiries []expiryOption
	// API is the route that lists and makes the tokens; API/{id} revokes
	// one. Key is the prefix of the form's field ids, Done where the
	// page goes once the new secret is copied, Empty what an empty list
	// says. Personal marks a person's own tokens, each with its role.
	API, Key, Done, Empty string
	Personal              bool
}

// activeTokens reads the tokens of a filter that are still usable, in the
// store's order.
func (s *Server) activeTokens(ctx context.Context, f freight.TokenFilter) ([]*freight.Token, error) {
	ts, err := collect(func(pg freight.Page) ([]*freight.Token, string, error) {
		f.Page = pg
		return s.store.Tokens(ctx, f)
	})
	now := s.now()
	return slices.DeleteFunc(ts, func(t *freight.Token) bool { return !t.Active(now) }), err
}

// browserName names a browser and system from a User-Agent for people
// to recognise their sessions by; it need not be exact.
func browserName(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "A program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// mfaQRCode answers the QR code of the second factor being enrolled, read
// from the account itself so that the key never travels in a URL.
func (s *Server) mfaQRCode(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	u, err := s.store.User(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	if len(u.Security.TOTPPending) == 0 {
		return freight.Errorf(freight.ENOTFOUND, "no two-step sign-in is being set up: start again from your account page")
	}
	png, err := mfa.QRCodePNG(mfa.URI("Freight", u.Email, u.Security.TOTPPending), 240)
	if err != nil {
		return freight.Internal(err)
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(png)
	return nil
}
