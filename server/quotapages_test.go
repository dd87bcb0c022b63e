package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/web"
)

// TestQuotaPages checks an organization's quota on the console's page of
// the organization, with the caps' form for admins only, and read-only on
// the organization's own page.
func TestQuotaPages(t *testing.T) {
	s := newShop(t)
	e := s.env
	e.mustUser("boss@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
	e.mustUser("sue@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	e.mustUser("alice@acme.example", goodPassword, "", &s.acme, freight.RoleOrgAdmin)
	as := func(email string) *browser {
		b := e.browser()
		b.signIn(email)
		return b
	}
	quota := "/api/v1/organizations/" + s.acme.ID + "/quota"
	// Before any cap: no cap shown, and nothing to remove.
	body := wantPage(t, as("boss@vendor.example").page("/console/organizations/acme"), http.StatusOK)
	if got := changeForms(body); !slices.Contains(got, "PUT "+quota) || strings.Contains(body, "Remove every cap") {
		t.Errorf("acme's page without caps offers %v", got)
	}
	if !strings.Contains(body, "0 of no cap") {
		t.Error("acme's page without caps does not say there is none")
	}

	e.must(http.StatusOK, "PUT", quota, e.token, freight.Quota{DailyDownloads: 40, MonthlyBytes: 2_500_000_000})
	e.must(http.StatusOK, "POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil)
	size := s.artifact.Size

	for _, c := range []struct {
		email, path string
		form        bool
	}{
		{"boss@vendor.example", "/console/organizations/acme", true},
		{"sue@vendor.example", "/console/organizations/acme", false},
		{"alice@acme.example", "/org", false},
	} {
		body := wantPage(t, as(c.email).page(c.path), http.StatusOK)
		section := body[strings.Index(body, `id="quota"`):]
		section = section[:strings.Index(section, "</section>")]
		for _, w := range []string{"1 of 40", "1 of no cap", web.FormatBytes(size) + " of no cap", web.FormatBytes(size) + " of 2.5 GB"} {
			if !strings.Contains(section, w) {
				t.Errorf("%s on %s: the quota does not show %q: %s", c.email, c.path, w, section)
			}
		}
		forms := changeForms(section)
		if c.form {
			if want := []string{"PUT " + quota, "PUT " + quota}; !slices.Equal(forms, want) {
				t.Errorf("%s on %s: the quota offers %v, want %v", c.email, c.path, forms, want)
			}
			for _, w := range []string{`name="daily_downloads" data-type="int" inputmode="numeric" value="40"`, `name="monthly_bytes" data-type="int" data-scale="1000000000" inputmode="decimal" value="2.5"`} {
				if !strings.Contains(section, w) {
					t.Errorf("the caps' form lacks %s", w)
				}
			}
		} else if len(forms) != 0 || strings.Contains(section, "<form") {
			t.Errorf("%s on %s may change the quota: %v", c.email, c.path, forms)
		}
	}
}
