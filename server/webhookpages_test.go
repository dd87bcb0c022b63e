package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// TestWebhookPages checks who sees which webhooks on the console's and the
// organization's webhook pages, that the forms call the API of the page's
// scope only, and that no signing secret is ever in a page.
func TestWebhookPages(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL)
		rc := newReceiver(t)
		acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
		e.mustUser("boss@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
		e.mustUser("sue@vendor.example", goodPassword, freight.RoleSupport, nil, "")
		e.mustUser("alice@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
		e.mustUser("bob@globex.example", goodPassword, "", globex, freight.RoleOrgAdmin)
		e.mustUser("mo@acme.example", goodPassword, "", acme, freight.RoleMember)
		as := func(email string) *browser {
			b := e.browser()
			b.signIn(email)
			return b
		}

		vendor := e.mustHook("/api/v1/webhooks", e.token, rc.URL+"/vendor", freight.EventReleasePublished)
		acmeAPI := "/api/v1/organizations/" + acme.ID + "/webhooks"
		acmeHook := e.mustHook(acmeAPI, e.token, rc.URL+"/acme", freight.EventLicenseIssued, freight.EventLicenseRevoked)
		globexHook := e.mustHook("/api/v1/organizations/"+globex.ID+"/webhooks", e.token, rc.URL+"/globex", freight.EventLicenseIssued)
		e.must(http.StatusAccepted, "POST", acmeAPI+"/"+acmeHook.ID+"/test", e.token, nil)
		e.srv.Wait()
		secrets := []string{vendor.Secret, acmeHook.Secret, globexHook.Secret}

		// page fetches a page and checks that it shows the URLs of want
		// and of no other hook, and no secret.
		page := func(t *testing.T, b *browser, path string, want ...createdHook) string {
			t.Helper()
			body := wantPage(t, b.page(path), http.StatusOK)
			for _, h := range []createdHook{vendor, acmeHook, globexHook} {
				if shown := strings.Contains(body, h.URL); shown != slices.ContainsFunc(want, func(w createdHook) bool { return w.ID == h.ID }) {
					t.Errorf("%s shows %s: %t", path, h.URL, shown)
				}
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("%s holds a signing secret", path)
				}
			}
			return body
		}

		t.Run("Vendor", func(t *testing.T) {
			body := page(t, as("boss@vendor.example"), "/console/webhooks", vendor)
			hook := "/api/v1/webhooks/" + vendor.ID
			want := []string{"POST " + hook + "/test", "PATCH " + hook, "POST " + hook + "/rotate-secret", "DELETE " + hook, "POST /api/v1/webhooks"}
			if got := changeForms(body); !slices.Equal(got, want) {
				t.Errorf("the vendor's webhooks page offers %v, want %v", got, want)
			}
			if !strings.Contains(body, "none yet") {
				t.Error("a webhook that was never sent anything does not say so")
			}
		})

		t.Run("Organization", func(t *testing.T) {
			body := page(t, as("alice@acme.example"), "/org/webhooks", acmeHook)
			for _, f := range changeForms(body) {
				if !strings.HasPrefix(f[strings.Index(f, " ")+1:], acmeAPI) {
					t.Errorf("acme's webhooks page calls %s, outside %s", f, acmeAPI)
				}
			}
			if !strings.Contains(body, `data-admin="`+acmeAPI+`"`) {
				t.Error("acme's webhooks page has no form to add one")
			}
			// The test event: its delivery succeeded, and is the last.
			last := body[strings.Index(body, `class="hook-last"`):]
			last = last[:strings.Index(last, "</dd>")]
			for _, w := range []string{"succeeded", freight.EventWebhookTest, "HTTP 200"} {
				if !strings.Contains(last, w) {
					t.Errorf("the last delivery reads %q, want %s in it", last, w)
				}
			}
			if !strings.Contains(body, `<script src="/assets/admin.`) {
				t.Error("the organization's webhooks page does not load the script of its forms")
			}
			page(t, as("bob@globex.example"), "/org/webhooks", globexHook)
		})

		t.Run("Forbidden", func(t *testing.T) {
			for _, c := range []struct{ email, path string }{
				{"sue@vendor.example", "/console/webhooks"},
				{"alice@acme.example", "/console/webhooks"},
				{"mo@acme.example", "/org/webhooks"},
				{"boss@vendor.example", "/org/webhooks"},
			} {
				body := wantPage(t, as(c.email).page(c.path), http.StatusForbidden)
				for _, h := range []createdHook{vendor, acmeHook, globexHook} {
					if strings.Contains(body, h.URL) {
						t.Errorf("%s refused %s but shows %s", c.email, c.path, h.URL)
					}
				}
			}
		})
	})
}
