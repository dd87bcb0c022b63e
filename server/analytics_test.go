package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// figures is the JSON answer of the analytics API.
type figures struct {
	Group     string `json:"group"`
	From      string `json:"from"`
	To        string `json:"to"`
	OrgID     string `json:"org_id"`
	ProductID string `json:"product_id"`
	Total     struct {
		Downloads, Completed, Requests, Bytes int64
		CompletionRate                        float64 `json:"completion_rate"`
	} `json:"total"`
	Rows []figureRow `json:"rows"`
}

type figureRow struct {
	Key, Label, Name, Version string
	ProductID                 string `json:"product_id"`
	Downloads, Completed      int64
	Requests, Bytes           int64
	CompletionRate            float64 `json:"completion_rate"`
}

// analyticsShop is a shop where acme downloaded the file twice (once
// whole, once a first range only) and globex once, whole.
func analyticsShop(t *testing.T) *shop {
	t.Helper()
	s := newShopSized(t, 1000)
	s.must(http.StatusCreated, "POST", "/api/v1/entitlements", s.token, map[string]any{"org_id": s.globex.ID, "product_id": mustProductID(t, s.env), "channels": []string{"stable"}})
	for _, d := range []struct {
		token, rng string
		status     int
	}{{s.acmeTok, "", http.StatusOK}, {s.acmeTok, "bytes=0-99", http.StatusPartialContent}, {s.globexTok, "", http.StatusOK}} {
		g := s.grant(d.token)
		var r response
		if d.rng == "" {
			r = s.fetch("GET", g.URL)
		} else {
			r = s.fetch("GET", g.URL, "Range", d.rng)
		}
		if r.status != d.status {
			t.Fatalf("download with Range %q: status %d, want %d", d.rng, r.status, d.status)
		}
	}
	return s
}

func (s *shop) figures(token, query string) figures {
	s.t.Helper()
	var f figures
	s.must(http.StatusOK, "GET", "/api/v1/analytics/downloads"+query, token, nil).decode(s.t, &f)
	return f
}

// readCSV parses a CSV answer and checks its headers.
func readCSV(t *testing.T, r response, wantName string) [][]string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("CSV: status %d; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/csv; charset=utf-8", ct)
	}
	_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	if err != nil || !regexp.MustCompile(wantName).MatchString(params["filename"]) {
		t.Errorf("Content-Disposition = %q (%v), want an attachment named like %s", r.header.Get("Content-Disposition"), err, wantName)
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, r.body)
	}
	return recs
}

func TestDownloadAnalytics(t *testing.T) {
	s := analyticsShop(t)
	today := s.clock.Now().UTC().Format("2006-01-02")
	size := int64(len(s.content))

	t.Run("ByDay", func(t *testing.T) {
		f := s.figures(s.token, "")
		if f.Group != "day" || f.To != today || len(f.Rows) != 30 {
			t.Fatalf("default answer: group %q, to %q, %d rows; want day, %s, 30 days", f.Group, f.To, len(f.Rows), today)
		}
		for i, r := range f.Rows[:29] {
			if r.Downloads != 0 || r.Bytes != 0 {
				t.Errorf("day %d (%s) = %+v, want zeros", i, r.Key, r)
			}
		}
		last := f.Rows[29]
		if last.Key != today || last.Downloads != 3 || last.Completed != 2 || last.Requests != 3 || last.Bytes != 2*size+100 {
			t.Errorf("today = %+v, want 3 downloads, 2 completed, 3 requests, %d bytes", last, 2*size+100)
		}
		if f.Total.Downloads != 3 || f.Total.Completed != 2 || f.Total.CompletionRate != 2.0/3 {
			t.Errorf("total = %+v, want 3 downloads, 2 completed, rate 2/3", f.Total)
		}
		f = s.figures(s.token, "?from=2020-02-27&to=2020-03-01")
		if got := keysOf(f.Rows); got != "2020-02-27 2020-02-28 2020-02-29 2020-03-01" {
			t.Errorf("days of a leap February: %s", got)
		}
	})

	t.Run("Groups", func(t *testing.T) {
		f := s.figures(s.token, "?group=organization")
		if len(f.Rows) != 2 || f.Rows[0].Key != s.acme.ID || f.Rows[0].Label != "Acme" || f.Rows[0].Downloads != 2 ||
			f.Rows[1].Key != s.globex.ID || f.Rows[1].Downloads != 1 {
			t.Errorf("by organization = %+v, want acme (2) then globex (1)", f.Rows)
		}
		f = s.figures(s.token, "?group=release")
		if len(f.Rows) != 1 || f.Rows[0].Label != "CAD 1.0.0" || f.Rows[0].Version != "1.0.0" || f.Rows[0].Downloads != 3 {
			t.Errorf("by release = %+v, want CAD 1.0.0 with 3 downloads", f.Rows)
		}
		f = s.figures(s.token, "?group=artifact&product=cad&org=globex")
		if len(f.Rows) != 1 || f.Rows[0].Key != s.artifact.ID || f.Rows[0].Label != "cad-1.0.0-setup.exe" || f.Rows[0].Downloads != 1 || f.OrgID != s.globex.ID {
			t.Errorf("globex's files = %+v, want the file once", f)
		}
	})

	t.Run("CSVMatchesJSON", func(t *testing.T) {
		for _, group := range []string{"day", "release", "organization", "artifact"} {
			q := "?group=" + group + "&from=" + s.clock.Now().UTC().AddDate(0, 0, -6).Format("2006-01-02")
			f := s.figures(s.token, q)
			recs := readCSV(t, s.do("GET", "/api/v1/analytics/downloads"+q+"&format=csv", s.token, nil), `^downloads-by-`+group+`-\d{4}-\d\d-\d\d-to-`+today+`\.csv$`)
			if len(recs) != len(f.Rows)+1 {
				t.Fatalf("%s: %d CSV records, want a header and %d rows", group, len(recs), len(f.Rows))
			}
			if want := map[string]string{"day": "day", "release": "release_id", "organization": "org_id", "artifact": "artifact_id"}; recs[0][0] != want[group] {
				t.Errorf("%s: first column %q", group, recs[0][0])
			}
			for i, r := range f.Rows {
				want := []string{r.Key, r.Label, r.Version, r.ProductID, fmt.Sprint(r.Downloads), fmt.Sprint(r.Completed),
					strconv.FormatFloat(r.CompletionRate, 'f', 4, 64), fmt.Sprint(r.Requests), fmt.Sprint(r.Bytes)}
				if got := recs[i+1]; strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s: CSV row %d = %q, JSON says %q", group, i+1, got, want)
				}
			}
		}
		// Accept: text/csv asks for the same file.
		req, _ := http.NewRequest("GET", s.url+"/api/v1/analytics/downloads?group=organization", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Accept", "text/csv, application/json;q=0.5")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		recs := readCSV(t, response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}, `^downloads-by-organization-`)
		if len(recs) != 3 || recs[1][1] != "Acme" {
			t.Errorf("CSV by Accept = %q", recs)
		}
	})

	t.Run("FormulaInjection", func(t *testing.T) {
		for _, name := range []string{`=HYPERLINK("http://evil.example","x")`, "+1+1", "-2+3", "@SUM(A1)"} {
			s.must(http.StatusOK, "PATCH", "/api/v1/organizations/"+s.acme.ID, s.token, map[string]any{"name": name})
			recs := readCSV(t, s.do("GET", "/api/v1/analytics/downloads?group=organization&format=csv", s.token, nil), `\.csv$`)
			var label string
			for _, r := range recs {
				if r[0] == s.acme.ID {
					label = r[1]
				}
			}
			if label != "'"+name {
				t.Errorf("organization named %q: CSV label %q, want it prefixed with '", name, label)
			}
		}
		s.must(http.StatusOK, "PATCH", "/api/v1/organizations/"+s.acme.ID, s.token, map[string]any{"name": "Acme"})
	})

	t.Run("OrgAdminSeesOwnOrganizationOnly", func(t *testing.T) {
		for _, q := range []string{"?group=organization", "?group=organization&org=acme", "?group=organization&org=" + s.acme.ID} {
			f := s.figures(s.acmeAdminTok, q)
			if len(f.Rows) != 1 || f.Rows[0].Key != s.acme.ID || f.OrgID != s.acme.ID || f.Total.Downloads != 2 {
				t.Errorf("acme's org-admin, %s: %+v; want acme's 2 downloads only", q, f)
			}
		}
		f := s.figures(s.acmeAdminTok, "")
		if f.Total.Downloads != 2 || f.Rows[29].Downloads != 2 {
			t.Errorf("acme's org-admin by day: total %+v, today %+v; want acme's 2", f.Total, f.Rows[29])
		}
		recs := readCSV(t, s.do("GET", "/api/v1/analytics/downloads?group=organization&format=csv", s.acmeAdminTok, nil), `\.csv$`)
		if len(recs) != 2 || recs[1][0] != s.acme.ID {
			t.Errorf("acme's org-admin, CSV: %q; want acme's row only", recs)
		}
		for _, q := range []string{"?org=globex", "?org=" + s.globex.ID, "?org=nowhere", "?org=" + freight.NewID(freight.PrefixOrganization, s.clock.Now()), "?group=organization&org=globex&format=csv"} {
			r := s.do("GET", "/api/v1/analytics/downloads"+q, s.acmeAdminTok, nil)
			wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
			if bytes.Contains(r.body, []byte(s.globex.ID)) || bytes.Contains(r.body, []byte("Globex")) {
				t.Errorf("the refusal of %s names globex: %s", q, r.body)
			}
		}
		for _, tok := range []string{s.acmeTok, s.globexTok} {
			wantError(t, s.do("GET", "/api/v1/analytics/downloads", tok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		for q, field := range map[string]string{
			"?group=week":                     "group",
			"?from=yesterday":                 "from",
			"?to=2025-02-30":                  "to",
			"?from=2025-03-02&to=2025-03-01":  "to",
			"?from=2000-01-01&to=2025-03-01":  "from",
			"?limit=0":                        "limit",
			"?limit=501":                      "limit",
			"?format=xml":                     "format",
			"?from=2025-03-01T00:00:00Z":      "from",
			"?group=artifact&limit=ten":       "limit",
			"?group=day&from=0001-01-01&to=1": "to",
		} {
			wantError(t, s.do("GET", "/api/v1/analytics/downloads"+q, s.token, nil), http.StatusBadRequest, freight.EINVALID, field)
		}
		wantError(t, s.do("GET", "/api/v1/analytics/downloads?product=nothing", s.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, s.do("GET", "/api/v1/analytics/downloads?org=nowhere", s.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		// An id is history: it counts, even when nothing has it.
		f := s.figures(s.token, "?org="+freight.NewID(freight.PrefixOrganization, s.clock.Now()))
		if f.Total.Downloads != 0 || len(f.Rows) != 30 {
			t.Errorf("a missing organization's id: %+v, want 30 days of zeros", f)
		}
	})
}

func keysOf(rows []figureRow) string {
	var ks []string
	for _, r := range rows {
		ks = append(ks, r.Key)
	}
	return strings.Join(ks, " ")
}

// The analytics page draws what the API counts: a bar per day whose
// title names today's downloads, the tables, the CSV links; and says so
// when there is nothing to draw.
func TestAnalyticsPage(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		e := newEnv(t)
		e.mustUser("support@vendor.example", goodPassword, freight.RoleSupport, nil, "")
		b := e.browser()
		b.signIn("support@vendor.example")
		body := wantPage(t, b.page("/console/analytics"), http.StatusOK)
		for _, want := range []string{`id="analytics-empty"`, "No downloads in this range", `aria-current="page">Analytics`} {
			if !strings.Contains(body, want) {
				t.Errorf("the empty page lacks %q", want)
			}
		}
		if n := strings.Count(body, `<rect class="bar"`); n != 30 {
			t.Errorf("the empty page draws %d day bars, want 30 of height 0", n)
		}
	})

	s := analyticsShop(t)
	s.mustUser("support@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	b := s.browser()
	b.signIn("support@vendor.example")
	body := wantPage(t, b.page("/console/analytics"), http.StatusOK)
	today := s.clock.Now().UTC().Format("2006-01-02")
	for _, want := range []string{
		"<title>" + today + ": 3</title>",    // today's downloads bar
		`<rect class="bar" x="`,              // bars drawn
		`<polyline class="line" points="`,    // the bytes line
		"<title>Acme: 2 downloads, ",         // the organization bar
		"<title>CAD 1.0.0: 3 downloads, ",    // the release bar
		"cad-1.0.0-setup.exe",                // the top file
		`<th scope="row">` + today + `</th>`, // the day table
		`id="completion-rate">67%`,
		"/api/v1/analytics/downloads?format=csv&amp;from=",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the analytics page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="analytics-empty"`) {
		t.Error("the page with downloads shows the empty state")
	}
	if strings.Contains(body, " style=") || strings.Contains(body, "<script>") {
		t.Error("the page has inline style or script, which the policy refuses")
	}

	// Filters: globex only, then a product without downloads.
	body = wantPage(t, b.page("/console/analytics?days=7&org="+s.globex.ID), http.StatusOK)
	if !strings.Contains(body, "<title>"+today+": 1</title>") || strings.Contains(body, "<title>Acme:") {
		t.Error("filtered to globex, the page does not show globex's one download alone")
	}
	if !strings.Contains(body, `<option value="`+s.globex.ID+`" selected>Globex</option>`) {
		t.Error("the organization filter does not show globex selected")
	}
	body = wantPage(t, b.page("/console/analytics?product="+freight.NewID(freight.PrefixProduct, s.clock.Now())), http.StatusOK)
	if !strings.Contains(body, `id="analytics-empty"`) {
		t.Error("a product without downloads does not show the empty state")
	}
	r := b.page("/console/analytics?days=12")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "7, 30, 90 or 365") {
		t.Errorf("an unknown range: status %d, want 400 naming the ranges", r.status)
	}
}

// The organization's pages show an org-admin its own organization: its
// people, its service tokens and its downloads, never another's; members
// get 403; the header offers a switch only to people of several
// organizations.
func TestOrgPages(t *testing.T) {
	s := analyticsShop(t)
	e := s.env
	ctx := context.Background()
	admin := e.mustUser("admin@acme.example", goodPassword, "", &s.acme, freight.RoleOrgAdmin)
	e.mustUser("member@acme.example", goodPassword, "", &s.acme, freight.RoleMember)
	e.mustUser("bob@globex.example", goodPassword, "", &s.globex, freight.RoleMember)
	s.must(http.StatusCreated, "POST", "/api/v1/organizations/globex/tokens", s.token, map[string]any{"name": "globex-ci-secret-name"})
	s.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/tokens", s.token, map[string]any{"name": "acme-build"})

	b := e.browser()
	b.signIn("admin@acme.example")
	body := wantPage(t, b.page("/org"), http.StatusOK)
	for _, want := range []string{"admin@acme.example", "member@acme.example", "acme-build", `data-api="/api/v1/organizations/` + s.acme.ID + `/invitations"`,
		`aria-current="page">Organization</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("/org lacks %q", want)
		}
	}
	for _, never := range []string{"bob@globex.example", "globex-ci-secret-name", s.globex.ID} {
		if strings.Contains(body, never) {
			t.Errorf("acme's /org shows %q of globex", never)
		}
	}
	if strings.Contains(body, `id="org-switch"`) {
		t.Error("a person of one organization is offered a switch")
	}
	body = wantPage(t, b.page("/org/downloads"), http.StatusOK)
	if !strings.Contains(body, `id="total-downloads">2<`) || !strings.Contains(body, "cad-1.0.0-setup.exe") || !strings.Contains(body, `src="/assets/org.`) {
		t.Errorf("/org/downloads does not show acme's 2 downloads, its file and the history script")
	}
	if strings.Contains(body, s.globex.ID) || strings.Contains(body, "globex-ci-secret-name") {
		t.Error("acme's /org/downloads names globex")
	}

	for _, who := range []string{"member@acme.example", "bob@globex.example"} {
		m := e.browser()
		m.signIn(who)
		for _, path := range []string{"/org", "/org/downloads"} {
			if r := m.page(path); r.status != http.StatusForbidden {
				t.Errorf("%s opening %s: status %d, want 403", who, path, r.status)
			}
		}
	}

	// A second organization: the switcher appears, with both, the current
	// one selected; switching makes the pages show the other.
	if err := e.store.PutMembership(ctx, &freight.Membership{UserID: admin.ID, OrgID: s.globex.ID, Role: freight.RoleOrgAdmin}); err != nil {
		t.Fatal(err)
	}
	body = wantPage(t, b.page("/org"), http.StatusOK)
	for _, want := range []string{`id="org-switch"`, `<option value="` + s.acme.ID + `" selected>Acme</option>`, `<option value="` + s.globex.ID + `">Globex</option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("with two organizations, /org lacks %q", want)
		}
	}
	b.must(http.StatusOK, "POST", "/api/v1/account/organization", map[string]string{"org_id": s.globex.ID})
	body = wantPage(t, b.page("/org"), http.StatusOK)
	if !strings.Contains(body, "globex-ci-secret-name") || strings.Contains(body, "acme-build") || !strings.Contains(body, `<option value="`+s.globex.ID+`" selected>`) {
		t.Error("after switching to globex, /org does not show globex's tokens alone")
	}
}
