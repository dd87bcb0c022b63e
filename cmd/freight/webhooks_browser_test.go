package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/freight-portal/freight/webhook"
)

// reloadUntil opens path again and again until the element css holds
// want: for what the server changes after the page was made, such as a
// delivery a background job sends.
func (u *ui) reloadUntil(path, css, want string) {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		u.open(path)
		u.waitPath(path)
		got := u.content(css)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("%s on %s never showed %q; it shows %q", css, path, want, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clickReloading clicks a button whose form reloads the page when the
// API answers, and waits for the new page.
func (u *ui) clickReloading(css string) {
	u.t.Helper()
	u.do(chromedp.Evaluate[chromedp.Void](`window.beforeReload = true`), chromedp.Click(chromedp.CSS(css)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.beforeReload === undefined && document.readyState === "complete"`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("clicking %s did not reload the page (%s: %.300s)", css, u.location(), u.content(".form-error:not([hidden])"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookReceiver records the signature header and body of what a webhook
// is sent.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []struct {
		signature string
		body      []byte
	}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, struct {
			signature string
			body      []byte
		}{r.Header.Get(webhook.HeaderSignature), b})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// TestBrowserWebhooks drives the webhook and quota pages of a demo in
// headless Chromium: the vendor's admin adds a webhook and sees its
// secret once, sends it a test event that the receiver can verify with
// that secret and sees the delivery succeed, changes its events and
// pauses it, deletes it, and sets, clears and sets again acme's quota;
// acme's org-admin may not open the vendor's webhooks, reads acme's
// quota without a form, and manages acme's own webhooks without seeing
// the vendor's.
func TestBrowserWebhooks(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	base, info := startDemo(t, dir, "--webhook-allow-http", "--webhook-allow-private")
	admin := api{t: t, url: base, token: info.Admin.Token}
	rc := newHookReceiver(t)
	u := newUI(t, base, t.TempDir())

	u.signIn(info.Admin.Email, info.Admin.Password)
	u.waitPath("/")

	// A vendor webhook, made with the keyboard: its secret once.
	u.open("/console/webhooks")
	u.waitText("main", "No webhooks yet")
	u.check("console-webhooks-empty")
	u.typeInto("#new-description", "release desk")
	u.do(chromedp.Click(chromedp.CSS(`#new-webhook input[value="license.issued"]`)))
	u.typeInto("#new-url", "ftp://hooks.example\r")
	if got := u.formError("#new-webhook"); !strings.HasPrefix(got, "Address: must be") {
		t.Errorf("a bad address shows %q, want a message naming the address", got)
	}
	u.typeInto("#new-url", rc.URL+"/vendor\r")
	u.visible("#secret-new")
	secret := u.content("#secret-new")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret shown is %q", secret)
	}
	u.shot("console-webhook-secret-360")
	var hooks struct {
		Items []struct {
			ID, URL, Description string
			Events               []string
			Enabled              bool
		}
	}
	admin.call("GET", "/api/v1/webhooks", nil, http.StatusOK, &hooks)
	if len(hooks.Items) != 1 || hooks.Items[0].Description != "release desk" || strings.Join(hooks.Items[0].Events, ",") != "license.issued,release.published" {
		t.Fatalf("the API lists %+v, want the new webhook with two events", hooks.Items)
	}
	id := hooks.Items[0].ID
	card := "#hook-" + id
	u.do(chromedp.Click(chromedp.CSS(".secret-once a")))
	u.waitText(card+" .hook-url", rc.URL+"/vendor")
	if html := evaluate[string](u, "document.documentElement.outerHTML"); strings.Contains(html, secret) {
		t.Error("the webhooks page shows the secret again")
	}
	if got := u.content(card + " .hook-last"); got != "none yet" {
		t.Errorf("the new webhook's last delivery reads %q", got)
	}

	// A test event: signed with the secret shown, and listed as a
	// success.
	u.clickReloading(card + ` form[data-admin$="/test"] button`)
	u.reloadUntil("/console/webhooks", card+" .hook-last", "succeeded")
	if got := u.content(card + " .deliveries"); !strings.Contains(got, "webhook.test") || !strings.Contains(got, "HTTP 200") {
		t.Errorf("the recent deliveries read %q", got)
	}
	rc.mu.Lock()
	if len(rc.got) != 1 {
		t.Errorf("the receiver got %d requests, want 1", len(rc.got))
	} else if err := webhook.Verify(secret, rc.got[0].signature, rc.got[0].body, time.Now()); err != nil {
		t.Errorf("the test event does not verify with the secret the page showed: %v", err)
	}
	rc.mu.Unlock()
	u.check("console-webhooks")

	// Edit: license events only, and paused.
	u.do(chromedp.Click(chromedp.CSS(card+" details.edit summary")),
		chromedp.Click(chromedp.CSS(card+` details.edit input[value="release.published"]`)),
		chromedp.Click(chromedp.CSS(card+` details.edit input[value="license.revoked"]`)),
		chromedp.Click(chromedp.CSS(card+` details.edit input[name="enabled"]`)),
		chromedp.Click(chromedp.CSS(card+" details.edit button[type=submit]")))
	u.waitText(card+" .hook-events", "license.issued, license.revoked")
	if got := u.content(card + " h2 .badge"); got != "paused" {
		t.Errorf("the edited webhook is %q, want paused", got)
	}
	admin.call("GET", "/api/v1/webhooks", nil, http.StatusOK, &hooks)
	if h := hooks.Items[0]; h.Enabled || strings.Join(h.Events, ",") != "license.issued,license.revoked" || h.Description != "release desk" {
		t.Errorf("after the edit the API has %+v", h)
	}

	// Delete.
	u.do(chromedp.Click(chromedp.CSS(card+" details.delete summary")),
		chromedp.Click(chromedp.CSS(card+" details.delete button[type=submit]")))
	u.waitText("main", "No webhooks yet")
	admin.call("GET", "/api/v1/webhooks", nil, http.StatusOK, &hooks)
	if len(hooks.Items) != 0 {
		t.Errorf("after the deletion the API lists %+v", hooks.Items)
	}
	// One more, to be sure acme's org-admin never sees it.
	admin.call("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL + "/vendor-only", "events": []string{"release.published"}}, http.StatusCreated, nil)

	// acme's quota: set, cleared, set again.
	type usage struct {
		Quota struct {
			DailyDownloads int64 `json:"daily_downloads"`
			MonthlyBytes   int64 `json:"monthly_bytes"`
		}
	}
	u.open("/console/organizations/acme")
	u.typeInto("#quota-daily-downloads", "25")
	u.typeInto("#quota-monthly-bytes", "1.5")
	u.do(chromedp.Click(chromedp.CSS("#quota-form button[type=submit]")))
	u.waitText("#quota-daily", "of 25")
	u.waitText("#quota-monthly", "of 1.5 GB")
	var got usage
	admin.call("GET", "/api/v1/organizations/acme/usage", nil, http.StatusOK, &got)
	if got.Quota.DailyDownloads != 25 || got.Quota.MonthlyBytes != 1_500_000_000 {
		t.Errorf("after saving, the API has the caps %+v", got.Quota)
	}
	u.check("console-organization-quota")
	u.do(chromedp.Click(chromedp.CSS("#quota-clear button")))
	// The downloads cell: the row's bytes cell said "no cap" already.
	u.waitText("#quota-daily td:first-of-type", "of no cap")
	got = usage{}
	admin.call("GET", "/api/v1/organizations/acme/usage", nil, http.StatusOK, &got)
	if got.Quota.DailyDownloads != 0 || got.Quota.MonthlyBytes != 0 {
		t.Errorf("after removing every cap, the API has the caps %+v", got.Quota)
	}
	u.typeInto("#quota-daily-downloads", "25\r")
	u.waitText("#quota-daily", "of 25")
	u.signOut()

	// alice, org-admin of acme.
	var users struct{ Items []struct{ ID, Email string } }
	admin.call("GET", "/api/v1/users?org=acme", nil, http.StatusOK, &users)
	for _, usr := range users.Items {
		if usr.Email == "alice@acme.example" {
			admin.call("PUT", "/api/v1/organizations/acme/members/"+usr.ID, map[string]string{"role": "org-admin"}, http.StatusOK, nil)
		}
	}
	password := ""
	for _, c := range info.Customers {
		if c.Org == "acme" {
			password = c.Password
		}
	}
	u.signIn("alice@acme.example", password)
	u.waitPath("/")
	u.open("/console/webhooks")
	if got := u.text("h1"); got != "Not allowed" {
		t.Errorf("acme's org-admin opening the vendor's webhooks sees %q, want Not allowed", got)
	}
	u.open("/org")
	u.waitText("#quota-daily", "of 25")
	if n := evaluate[int](u, `document.querySelectorAll("#quota form, #quota input").length`); n != 0 {
		t.Errorf("acme's org-admin gets %d quota forms and fields", n)
	}

	u.open("/org/webhooks")
	u.waitText("main", "No webhooks yet")
	u.typeInto("#new-url", rc.URL+"/acme\r")
	u.visible("#secret-new")
	if !strings.HasPrefix(u.content("#secret-new"), "whsec_") {
		t.Errorf("acme's new webhook shows the secret %q", u.content("#secret-new"))
	}
	u.open("/org/webhooks")
	u.waitText(".webhooks", rc.URL+"/acme")
	if strings.Contains(u.content("main"), "vendor-only") {
		t.Error("acme's org-admin sees the vendor's webhook")
	}
	var acmeHooks struct{ Items []struct{ URL string } }
	admin.call("GET", "/api/v1/organizations/acme/webhooks", nil, http.StatusOK, &acmeHooks)
	if len(acmeHooks.Items) != 1 || acmeHooks.Items[0].URL != rc.URL+"/acme" {
		t.Errorf("the API lists acme's webhooks as %+v", acmeHooks.Items)
	}
	u.check("org-webhooks")
	u.do(chromedp.Click(chromedp.CSS(".webhook details.delete summary")),
		chromedp.Click(chromedp.CSS(".webhook details.delete button[type=submit]")))
	u.waitText("main", "No webhooks yet")
}
