package server_test

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// catalogShop is a shop with more releases of cad: 1.0.0 (stable, from
// newShop), 1.1.0-rc.1 (rc) and 2.0.0 (stable), all published, and 3.0.0
// (stable) left a draft. acme holds one entitlement: cad, stable.
type catalogShop struct {
	*shop
	productID string
	releases  map[string]string // version → id
}

func newCatalogShop(t *testing.T) *catalogShop {
	t.Helper()
	s := &catalogShop{shop: newShopSized(t, 1000), releases: map[string]string{}}
	s.productID = mustProductID(t, s.env)
	var rels struct{ Items []freight.Release }
	s.must(http.StatusOK, "GET", "/api/v1/products/cad/releases", s.token, nil).decode(t, &rels)
	s.releases[rels.Items[0].Version] = rels.Items[0].ID
	for _, r := range []struct {
		version, channel string
		publish          bool
	}{{"1.1.0-rc.1", "rc", true}, {"2.0.0", "stable", true}, {"3.0.0", "stable", false}} {
		s.clock.Add(1000000000) // a second apart, so that newest first is well defined
		var rel freight.Release
		s.must(http.StatusCreated, "POST", "/api/v1/products/cad/releases", s.token, map[string]any{"version": r.version, "channel": r.channel}).decode(t, &rel)
		if r.publish {
			s.must(http.StatusOK, "POST", "/api/v1/releases/"+rel.ID+"/publish", s.token, nil)
		}
		s.releases[r.version] = rel.ID
	}
	return s
}

// versions lists the versions of a catalog answer, in its order.
func versions(t *testing.T, r response) []string {
	t.Helper()
	var out struct {
		Items []struct {
			Release freight.Release `json:"release"`
			Change  string          `json:"change"`
		} `json:"items"`
	}
	r.decode(t, &out)
	var vs []string
	for _, e := range out.Items {
		v := e.Release.Version
		if e.Change != "" && e.Change != "kept" {
			v += " " + e.Change
		}
		vs = append(vs, v)
	}
	return vs
}

func TestOrganizationCatalog(t *testing.T) {
	s := newCatalogShop(t)

	t.Run("SameAsTheCustomer", func(t *testing.T) {
		customer := versions(t, s.must(http.StatusOK, "GET", "/api/v1/catalog", s.acmeTok, nil))
		if want := []string{"2.0.0", "1.0.0"}; !slices.Equal(customer, want) {
			t.Fatalf("acme's own catalog is %v, want %v", customer, want)
		}
		for _, ref := range []string{"acme", s.acme.ID} {
			if got := versions(t, s.must(http.StatusOK, "GET", "/api/v1/organizations/"+ref+"/catalog", s.token, nil)); !slices.Equal(got, customer) {
				t.Errorf("the console says %s sees %v, the customer sees %v", ref, got, customer)
			}
		}
		if got := versions(t, s.must(http.StatusOK, "GET", "/api/v1/organizations/globex/catalog", s.token, nil)); len(got) != 0 {
			t.Errorf("globex, entitled to nothing, sees %v", got)
		}
		wantError(t, s.do("GET", "/api/v1/organizations/nowhere/catalog", s.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	})

	t.Run("Paging", func(t *testing.T) {
		var first struct {
			Items []any  `json:"items"`
			Next  string `json:"next"`
		}
		s.must(http.StatusOK, "GET", "/api/v1/organizations/acme/catalog?limit=1", s.token, nil).decode(t, &first)
		if len(first.Items) != 1 || first.Next == "" {
			t.Fatalf("first page: %d items, next %q", len(first.Items), first.Next)
		}
		if got := versions(t, s.must(http.StatusOK, "GET", "/api/v1/organizations/acme/catalog?limit=1&after="+first.Next, s.token, nil)); !slices.Equal(got, []string{"1.0.0"}) {
			t.Errorf("second page %v, want [1.0.0]", got)
		}
	})

	preview := func(org string, body any) response {
		return s.do("POST", "/api/v1/organizations/"+org+"/catalog/preview", s.token, body)
	}
	t.Run("Preview", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			body map[string]any
			want []string
		}{
			{"WidenToRC", map[string]any{"replaces": s.entitlementID, "entitlement": map[string]any{"channels": []string{"stable", "rc"}}},
				[]string{"2.0.0", "1.1.0-rc.1 added", "1.0.0"}},
			{"Narrow", map[string]any{"replaces": s.entitlementID, "entitlement": map[string]any{"channels": []string{"stable"}, "version_range": "< 2"}},
				[]string{"2.0.0 removed", "1.0.0"}},
			{"Delete", map[string]any{"replaces": s.entitlementID},
				[]string{"2.0.0 removed", "1.0.0 removed"}},
			{"Window", map[string]any{"replaces": s.entitlementID, "entitlement": map[string]any{"channels": []string{"stable"}, "not_after": s.clock.Now().Add(-1e9)}},
				[]string{"2.0.0 removed", "1.0.0 removed"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := versions(t, s.must(http.StatusOK, "POST", "/api/v1/organizations/acme/catalog/preview", s.token, tc.body)); !slices.Equal(got, tc.want) {
					t.Errorf("preview %v, want %v", got, tc.want)
				}
			})
		}
		// A draft for globex sees through globex's entitlements only.
		if got := versions(t, s.must(http.StatusOK, "POST", "/api/v1/organizations/globex/catalog/preview", s.token,
			map[string]any{"entitlement": map[string]any{"product_id": s.productID, "channels": []string{"stable"}, "version_range": ">= 2"}})); !slices.Equal(got, []string{"2.0.0 added"}) {
			t.Errorf("globex's draft preview %v, want [2.0.0 added]", got)
		}
	})

	t.Run("BadDrafts", func(t *testing.T) {
		var globexEnt freight.Entitlement
		s.must(http.StatusCreated, "POST", "/api/v1/entitlements", s.token, map[string]any{"org_id": s.globex.ID, "product_id": s.productID, "channels": []string{"rc"}}).decode(t, &globexEnt)
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"Empty", map[string]any{}, "entitlement"},
			{"NoProduct", map[string]any{"entitlement": map[string]any{"channels": []string{"stable"}}}, "product_id"},
			{"UnknownProduct", map[string]any{"entitlement": map[string]any{"product_id": "prd_00000000000000000000000000", "channels": []string{"stable"}}}, "product_id"},
			{"NoChannel", map[string]any{"entitlement": map[string]any{"product_id": s.productID}}, "channels"},
			{"BadRange", map[string]any{"entitlement": map[string]any{"product_id": s.productID, "channels": []string{"stable"}, "version_range": "two"}}, "version_range"},
			{"OtherOrg", map[string]any{"entitlement": map[string]any{"org_id": s.globex.ID, "product_id": s.productID, "channels": []string{"stable"}}}, "entitlement.org_id"},
			{"OthersEntitlement", map[string]any{"replaces": globexEnt.ID}, "replaces"},
			{"OtherProduct", map[string]any{"replaces": s.entitlementID, "entitlement": map[string]any{"product_id": "prd_00000000000000000000000000", "channels": []string{"stable"}}}, "product_id"},
			{"UnknownField", map[string]any{"entitlement": map[string]any{"product_id": s.productID, "channels": []string{"stable"}, "org": "x"}}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := preview("acme", tc.body)
				if tc.field == "" {
					if r.status != http.StatusBadRequest {
						t.Errorf("status %d, want 400; body %s", r.status, r.body)
					}
					return
				}
				wantError(t, r, http.StatusBadRequest, freight.EINVALID, tc.field)
			})
		}
		wantError(t, preview("nowhere", map[string]any{"replaces": s.entitlementID}), http.StatusNotFound, freight.ENOTFOUND, "")
	})

	t.Run("StoresNothing", func(t *testing.T) {
		var ents struct{ Items []freight.Entitlement }
		s.must(http.StatusOK, "GET", "/api/v1/entitlements?org_id="+s.acme.ID, s.token, nil).decode(t, &ents)
		if len(ents.Items) != 1 || ents.Items[0].ID != s.entitlementID || !slices.Equal(ents.Items[0].Channels, []freight.Channel{"stable"}) {
			t.Errorf("after previews acme holds %+v", ents.Items)
		}
		if got := versions(t, s.must(http.StatusOK, "GET", "/api/v1/catalog", s.acmeTok, nil)); !slices.Equal(got, []string{"2.0.0", "1.0.0"}) {
			t.Errorf("after previews acme sees %v", got)
		}
	})

	// A draft, like a new entitlement, may not be a second one to a
	// product the organization holds already.
	t.Run("SecondToOneProduct", func(t *testing.T) {
		wantError(t, preview("acme", map[string]any{"entitlement": map[string]any{"product_id": s.productID, "channels": []string{"rc"}}}),
			http.StatusConflict, freight.ECONFLICT, "")
	})
}

// changeForms lists the API calls of a page's console forms.
var changeFormRE = regexp.MustCompile(`data-admin="([^"]+)"(?: data-method="([A-Z]+)")?`)

func changeForms(body string) []string {
	var out []string
	for _, m := range changeFormRE.FindAllStringSubmatch(body, -1) {
		method := m[2]
		if method == "" {
			method = "POST"
		}
		out = append(out, method+" "+m[1])
	}
	return out
}

func TestAdminConsolePages(t *testing.T) {
	s := newCatalogShop(t)
	e := s.env
	e.mustUser("boss@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
	e.mustUser("sue@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	e.mustUser("pat@vendor.example", goodPassword, freight.RolePublisher, nil, "")
	e.mustUser("alice@acme.example", goodPassword, "", &s.acme, freight.RoleOrgAdmin)
	var lic freight.License
	s.must(http.StatusCreated, "POST", "/api/v1/licenses", s.token, map[string]any{"org_id": s.acme.ID, "product_id": s.productID,
		"features": []map[string]any{{"name": "cam"}, {"name": "render", "limit": 4}}}).decode(t, &lic)
	var edge struct {
		ID, Credential string
	}
	s.must(http.StatusCreated, "POST", "/api/v1/edges", s.token, map[string]any{"name": "fra-1", "region": "eu-central"}).decode(t, &edge)
	pages := []string{"/console/organizations", "/console/organizations/acme", "/console/users", "/console/licenses", "/console/edges", "/console/audit"}

	as := func(email string) *browser {
		b := e.browser()
		b.signIn(email)
		return b
	}
	admin, support, publisher := as("boss@vendor.example"), as("sue@vendor.example"), as("pat@vendor.example")

	t.Run("Admin", func(t *testing.T) {
		for path, want := range map[string][]string{
			"/console/organizations": {"POST /api/v1/organizations"},
			"/console/organizations/acme": {"PATCH /api/v1/organizations/" + s.acme.ID, "DELETE /api/v1/organizations/" + s.acme.ID,
				"PATCH /api/v1/entitlements/" + s.entitlementID, "DELETE /api/v1/entitlements/" + s.entitlementID,
				"POST /api/v1/organizations/" + s.acme.ID + "/invitations"},
			"/console/organizations/globex": {"POST /api/v1/entitlements"},
			"/console/licenses":             {"POST /api/v1/licenses/" + lic.ID + "/amend", "POST /api/v1/licenses/" + lic.ID + "/revoke", "POST /api/v1/licenses"},
			"/console/edges":                {"DELETE /api/v1/edges/" + edge.ID, "POST /api/v1/edges"},
			"/console/audit":                nil,
		} {
			body := wantPage(t, admin.page(path), http.StatusOK)
			got := changeForms(body)
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("%s as admin lacks %s; it has %v", path, w, got)
				}
			}
			if want == nil && len(got) > 0 {
				t.Errorf("%s as admin offers changes %v", path, got)
			}
		}
		// One entitlement per product: acme holds cad, the only one.
		if body := wantPage(t, admin.page("/console/organizations/acme"), http.StatusOK); strings.Contains(body, `data-admin="/api/v1/entitlements"`) ||
			!strings.Contains(body, "holds an entitlement to every product") {
			t.Error("acme's page offers a second entitlement to cad")
		}
		users := wantPage(t, admin.page("/console/users"), http.StatusOK)
		for _, w := range []string{"POST /api/v1/invitations", "PATCH /api/v1/users/"} {
			if !strings.Contains(strings.Join(changeForms(users), "\n"), w) {
				t.Errorf("the users page as admin lacks %s", w)
			}
		}
		// Every other user's status, and the other staff's roles, may be
		// changed; not one's own (the API refuses to disable oneself or
		// drop one's own admin role).
		boss := users[strings.Index(users, "boss@vendor.example"):]
		boss = boss[:strings.Index(boss, "</tr>")]
		if strings.Contains(boss, "data-admin") {
			t.Error("the users page offers the admin changes to its own account")
		}
		if got, want := strings.Count(users, `data-admin="/api/v1/users/`), 3*2+1; got != want {
			t.Errorf("the users page offers %d user changes, want %d: role and status of 3 other staff, status of 1 customer", got, want)
		}
	})

	// Support and publishers read everything and get no change the API
	// would refuse them; inviting into an organization is theirs.
	for name, b := range map[string]*browser{"Support": support, "Publisher": publisher} {
		t.Run(name, func(t *testing.T) {
			for _, path := range pages {
				body := wantPage(t, b.page(path), http.StatusOK)
				var want []string
				if path == "/console/organizations/acme" {
					want = []string{"POST /api/v1/organizations/" + s.acme.ID + "/invitations"}
				}
				if got := changeForms(body); !slices.Equal(got, want) {
					t.Errorf("%s as %s offers %v, want %v", path, name, got, want)
				}
				if strings.Contains(body, "data-preview") {
					t.Errorf("%s as %s offers a preview of a change it cannot make", path, name)
				}
			}
		})
	}

	t.Run("Customers", func(t *testing.T) {
		b := as("alice@acme.example")
		for _, path := range pages {
			if r := b.page(path); r.status != http.StatusForbidden {
				t.Errorf("%s as acme's org-admin: status %d, want 403", path, r.status)
			}
		}
	})

	t.Run("Organization", func(t *testing.T) {
		body := wantPage(t, support.page("/console/organizations/acme"), http.StatusOK)
		sees := body[strings.Index(body, `id="sees"`):strings.Index(body, `id="entitlements"`)]
		for _, v := range []string{"CAD 2.0.0", "CAD 1.0.0"} {
			if !strings.Contains(sees, v) {
				t.Errorf("acme's page does not list %s among what it sees", v)
			}
		}
		for _, v := range []string{"1.1.0-rc.1", "3.0.0"} {
			if strings.Contains(sees, v) {
				t.Errorf("acme's page lists %s among what it sees", v)
			}
		}
		if !strings.Contains(body, lic.ID) {
			t.Error("acme's page does not list its license")
		}
		globex := wantPage(t, support.page("/console/organizations/globex"), http.StatusOK)
		if strings.Contains(globex, lic.ID) || strings.Contains(globex, "CAD 1.0.0") {
			t.Error("globex's page shows acme's license or releases")
		}
		if r := support.page("/console/organizations/nowhere"); r.status != http.StatusNotFound {
			t.Errorf("an unknown organization: status %d, want 404", r.status)
		}
	})

	t.Run("Search", func(t *testing.T) {
		body := wantPage(t, support.page("/console/organizations?q=GLOB"), http.StatusOK)
		if !strings.Contains(body, `href="/console/organizations/globex"`) || strings.Contains(body, `href="/console/organizations/acme"`) {
			t.Error("searching GLOB does not find globex alone")
		}
		body = wantPage(t, support.page("/console/organizations?q=zzz"), http.StatusOK)
		if !strings.Contains(body, "No organization matches") {
			t.Error("a search without result does not say so")
		}
		body = wantPage(t, support.page("/console/users?kind=staff"), http.StatusOK)
		if !strings.Contains(body, "sue@vendor.example") || strings.Contains(body, "alice@acme.example") {
			t.Error("the staff filter does not keep staff alone")
		}
		body = wantPage(t, support.page("/console/users?q=alice"), http.StatusOK)
		if !strings.Contains(body, "alice@acme.example") || strings.Contains(body, "pat@vendor.example") || !strings.Contains(body, "Acme") {
			t.Error("searching alice does not find alice with her organization")
		}
		body = wantPage(t, support.page("/console/licenses?org="+s.globex.ID), http.StatusOK)
		if strings.Contains(body, lic.ID) {
			t.Error("globex's licenses list acme's")
		}
		body = wantPage(t, support.page("/console/licenses?org="+s.acme.ID+"&state=active"), http.StatusOK)
		if !strings.Contains(body, lic.ID) || !strings.Contains(body, "render (up to 4)") {
			t.Error("acme's active licenses do not show its license and features")
		}
	})

	t.Run("Edges", func(t *testing.T) {
		body := wantPage(t, admin.page("/console/edges"), http.StatusOK)
		if !strings.Contains(body, "fra-1") || !strings.Contains(body, "not healthy") {
			t.Error("the edges page does not show the new edge as not healthy")
		}
		if strings.Contains(body, edge.Credential) || strings.Contains(body, edge.Credential[len(edge.Credential)-20:]) {
			t.Error("the edges page shows the edge's credential")
		}
	})

	t.Run("Audit", func(t *testing.T) {
		body := wantPage(t, support.page("/console/audit?actor=root@vendor.example&action=license.issue"), http.StatusOK)
		if n := strings.Count(body, `class="audit-action"`); n != 1 || !strings.Contains(body, lic.ID) {
			t.Errorf("the admin's license.issue events: %d shown, want 1 naming %s", n, lic.ID)
		}
		body = wantPage(t, support.page("/console/audit?org="+s.globex.ID+"&action=license.issue"), http.StatusOK)
		if strings.Contains(body, `class="audit-action"`) {
			t.Error("globex's audit log shows acme's license")
		}
		body = wantPage(t, support.page("/console/audit?actor=nobody@nowhere.example"), http.StatusOK)
		if !strings.Contains(body, "No user has the email address nobody@nowhere.example") {
			t.Error("an unknown actor's email is not explained")
		}
		body = wantPage(t, support.page("/console/audit?since=yesterday"), http.StatusOK)
		if !strings.Contains(body, "Enter the first day as a date") {
			t.Error("a bad date is not explained")
		}
		// Paging: more events than a page hold walk back through the log.
		for i := range 60 {
			s.must(http.StatusOK, "PATCH", "/api/v1/organizations/globex", s.token, map[string]any{"name": "Globex " + strconv.Itoa(i)})
		}
		first := wantPage(t, support.page("/console/audit"), http.StatusOK)
		if !strings.Contains(first, "Older events") {
			t.Fatal("the audit log has no next page")
		}
		next := regexp.MustCompile(`href="(/console/audit\?[^"]+)">Older events`).FindStringSubmatch(first)
		if next == nil {
			t.Fatal("no link to older events")
		}
		older := wantPage(t, support.page(strings.ReplaceAll(next[1], "&amp;", "&")), http.StatusOK)
		if !strings.Contains(older, `class="audit-action"`) {
			t.Error("the older page of the audit log is empty")
		}
	})

	t.Run("Escaping", func(t *testing.T) {
		name := `<script>alert("x")</script>`
		s.must(http.StatusCreated, "POST", "/api/v1/organizations", s.token, map[string]any{"slug": "evil", "name": name})
		for _, path := range []string{"/console/organizations", "/console/organizations/evil", "/console/licenses", "/console/audit"} {
			body := wantPage(t, support.page(path), http.StatusOK)
			if strings.Contains(body, name) || !strings.Contains(body, "&lt;script&gt;") {
				t.Errorf("%s does not escape the organization's name", path)
			}
		}
	})
}

// FuzzConsoleQuery sends the console pages arbitrary queries: filters,
// dates and cursors that no form made. Every answer is an HTML page with
// the page headers, and none is a server error.
func FuzzConsoleQuery(f *testing.F) {
	e := newEnv(f)
	org := e.mustOrg("acme")
	pages := []string{"/console/organizations", "/console/organizations/acme", "/console/users", "/console/licenses", "/console/edges", "/console/audit"}
	for i, q := range []string{
		"q=acme&region=eu-west&mfa=required",
		"org=" + org.ID + "&product=prd_x&state=revoked&after=lic_01m7zgrt35cxrfv0ercaan1n9y",
		"kind=staff&status=disabled&q=%00",
		"after=%ff%fe&org=x",
		"since=2026-02-30&until=9999-12-31",
		"actor=root@vendor.example&action=license.issue&since=2026-01-01&after=2026-11-21T16:59:25.669495Z/evt_01m7zgrt35cxrfv0ercaan1n9y",
		"actor=%40&until=0000-01-01",
	} {
		f.Add(uint8(i), q)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		target := pages[int(which)%len(pages)] + "?" + query
		rec := e.serve("GET", target, "")
		if rec == nil {
			return
		}
		if rec.Code >= 500 {
			t.Fatalf("GET %s: status %d: %.300s", target, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Fatalf("GET %s: Content-Type %q, CSP %q", target, ct, rec.Header().Get("Content-Security-Policy"))
		}
	})
}
