package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitText waits until the element css holds want in its text. It polls
// from Go, since a page that reloads ends any poll running inside it.
func (u *ui) waitText(css, want string) {
	u.t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%q) || {textContent: "(no such element)"}).textContent`, css)
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil {
			if got = s; strings.Contains(s, want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	u.t.Fatalf("%s never showed %q; it shows %q (page %s)", css, want, strings.TrimSpace(got), u.location())
}

// waitLocation waits until the document shown has part in its address
// and is loaded: asked of the document itself, so that the page being
// left cannot answer.
func (u *ui) waitLocation(part string) {
	u.t.Helper()
	expr := fmt.Sprintf(`location.href.includes(%q) && document.readyState === "complete"`, part)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the browser is at %s, want an address with %s", u.location(), part)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// content is the text of the element css as the document holds it (not
// as styles show it: badges are upper case on screen only).
func (u *ui) content(css string) string {
	u.t.Helper()
	return strings.TrimSpace(evaluate[string](u, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, css)))
}

// typeInto empties a field and types text into it.
func (u *ui) typeInto(css, text string) {
	u.t.Helper()
	u.visible(css)
	u.do(clear(css), chromedp.SendKeys(chromedp.CSS(css), text))
}

// visible waits a while for the element css to show, and fails the test
// naming it rather than waiting for the test's deadline.
func (u *ui) visible(css string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		u.t.Fatalf("%s is not shown: %v (page %s: %.300s)", css, err, u.location(), u.content("main"))
	}
}

// choose sets the value of a select or date field, as picking it would.
func (u *ui) choose(css, value string) {
	u.t.Helper()
	u.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){ const el = document.querySelector(%q); el.value = %q; el.dispatchEvent(new Event("change", {bubbles: true})); })()`, css, value)))
	if got := evaluate[string](u, fmt.Sprintf(`document.querySelector(%q).value`, css)); got != value {
		u.t.Fatalf("%s has no option %q", css, value)
	}
}

// consoleChanges lists the console forms and buttons of the page that
// would change something, by the API path they call.
func (u *ui) consoleChanges() []string {
	u.t.Helper()
	return evaluate[[]string](u, `Array.from(document.querySelectorAll("form[data-admin], button[data-delete]"))
		.map(el => (el.dataset.method || "POST") + " " + (el.dataset.admin || el.dataset.delete))`)
}

// releasesIn reads the "product version" lines of a release list.
func (u *ui) releasesIn(css string) []string {
	u.t.Helper()
	return evaluate[[]string](u, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(li => li.querySelector("strong").textContent.trim())`, css+" li"))
}

// invitationLink waits for the invitation mailed to addr in the demo's
// outbox and returns the path and query of its link.
func invitationLink(t *testing.T, outbox, addr string) string {
	t.Helper()
	linkRE := regexp.MustCompile(`https?://[^\s"<>]+(/accept-invitation\?token=[A-Za-z0-9_.~-]+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		for _, f := range files {
			raw, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(raw)
			if err != nil {
				raw.Close()
				t.Fatalf("%s: %v", f, err)
			}
			if !strings.EqualFold(msg.Header.Get("To"), addr) {
				raw.Close()
				continue
			}
			text := mailText(t, msg.Header, msg.Body)
			raw.Close()
			if m := linkRE.FindStringSubmatch(text); m != nil {
				return m[1]
			}
			t.Fatalf("the invitation to %s holds no link:\n%s", addr, text)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no invitation to %s in %s within 20s", addr, outbox)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mailText is the plain-text body of a message, decoded.
func mailText(t *testing.T, h mail.Header, body io.Reader) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("no text/plain part: %v", err)
			}
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				b, err := io.ReadAll(p) // NextPart decodes quoted-printable
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
	}
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdminBrowser drives the vendor console of a demo in headless
// Chromium: an admin creates an organization, previews and adds an
// entitlement and sees exactly the releases it admits, issues a license
// and revokes it, registers an edge and sees its credential once, finds
// all of it in the audit log, and invites a support user, who then sees
// every console page without a button that would change anything.
func TestAdminBrowser(t *testing.T) {
	chromium(t) // skip before starting a demo for nothing
	dir := t.TempDir()
	base, info := startDemo(t, dir)
	admin := api{t: t, url: base, token: info.Admin.Token}
	products := map[string]demoProductInfo{}
	for _, p := range info.Products {
		products[p.Slug] = p
	}
	u := newUI(t, base, t.TempDir())

	u.signIn(info.Admin.Email, info.Admin.Password)
	u.waitPath("/")

	// A new organization, made with the keyboard.
	u.open("/console/organizations")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/console/organizations/acme"]`)))
	u.check("console-organizations")
	u.typeInto("#new-org-name", "Initech")
	u.typeInto("#new-org-slug", "initech")
	u.typeInto("#new-org-region", "EU West\r")
	if got := u.formError(`form[data-admin="/api/v1/organizations"]`); !strings.HasPrefix(got, "Region: must be") {
		t.Errorf("a bad region shows %q, want a message naming the region field", got)
	}
	u.typeInto("#new-org-region", "eu-west\r")
	u.waitPath("/console/organizations/initech")
	u.waitText("#sees-list", "Nothing")
	var org struct{ ID, Slug, Region string }
	admin.call("GET", "/api/v1/organizations/initech", nil, http.StatusOK, &org)
	if org.Region != "eu-west" {
		t.Errorf("the new organization's region is %q, want eu-west", org.Region)
	}

	// An invitation into initech from its page: listed as pending as soon
	// as it is sent and after a reload, then withdrawn with its button.
	u.visible("#no-invitations")
	u.typeInto("#inv-email", "ines@initech.example")
	u.do(chromedp.Click(chromedp.CSS(`form[data-admin="/api/v1/organizations/` + org.ID + `/invitations"] button[type=submit]`)))
	u.waitText(".form-done", "Invitation sent to ines@initech.example.")
	u.waitText("#invitation-list", "ines@initech.example")
	u.open("/console/organizations/initech")
	u.waitText("#invitation-list", "ines@initech.example")
	type pendingList struct{ Items []struct{ Email string } }
	var pending pendingList
	admin.call("GET", "/api/v1/organizations/initech/invitations", nil, http.StatusOK, &pending)
	if len(pending.Items) != 1 || pending.Items[0].Email != "ines@initech.example" {
		t.Errorf("the API lists initech's pending invitations as %+v, want ines@initech.example's", pending.Items)
	}
	u.shot("console-organization-invitation-360")
	u.do(chromedp.Click(chromedp.CSS(`#invitation-list button[data-delete]`)))
	u.visible("#no-invitations")
	pending = pendingList{}
	admin.call("GET", "/api/v1/organizations/initech/invitations", nil, http.StatusOK, &pending)
	if len(pending.Items) != 0 {
		t.Errorf("after the withdrawal the API lists %+v, want none", pending.Items)
	}

	// Millwright from 1.1.0 on, stable only: a draft first, previewed
	// before it is saved.
	u.choose("#new-product", products["millwright"].ID)
	u.typeInto("#new-range", ">= 1.1.0")
	u.do(chromedp.Click(chromedp.CSS(`button[data-target="preview-new"]`)))
	u.waitText("#preview-new", "would see 1 release")
	if got, want := u.releasesIn("#preview-new"), []string{"Millwright CAM 1.1.0"}; !slices.Equal(got, want) {
		t.Errorf("the preview lists %v, want %v", got, want)
	}
	u.shot("console-entitlement-preview-360")
	if n := evaluate[int](u, `document.querySelectorAll(".entitlement").length`); n != 0 {
		t.Errorf("the preview saved something: %d entitlements shown", n)
	}
	u.do(chromedp.Click(chromedp.CSS(`#new-entitlement button[type=submit]`)))
	u.waitText("#sees-list", "Millwright CAM 1.1.0")
	seen := u.releasesIn("#sees-list")
	if want := []string{"Millwright CAM 1.1.0"}; !slices.Equal(seen, want) {
		t.Errorf("after saving, the page says initech sees %v, want %v", seen, want)
	}
	// The page and the API agree with the catalog's rule.
	var cat struct {
		Items []struct {
			Product struct{ Name string }
			Release struct{ Version string }
		}
	}
	admin.call("GET", "/api/v1/organizations/initech/catalog", nil, http.StatusOK, &cat)
	var fromAPI []string
	for _, e := range cat.Items {
		fromAPI = append(fromAPI, e.Product.Name+" "+e.Release.Version)
	}
	if !slices.Equal(fromAPI, seen) {
		t.Errorf("the API says initech sees %v, the page %v", fromAPI, seen)
	}
	u.check("console-organization")

	// Widening the draft to rc adds the release candidate, in the preview
	// only, and marks it new.
	entID := evaluate[string](u, `document.querySelector(".entitlement").id.replace("ent-", "")`)
	u.do(chromedp.Click(chromedp.CSS(`#ent-`+entID+` details summary`)),
		chromedp.Click(chromedp.CSS(`#ent-`+entID+` input[name=channels][value=rc]`)),
		chromedp.Click(chromedp.CSS(`button[data-replaces="`+entID+`"]`)))
	u.waitText("#preview-"+entID, "would see 2 releases")
	if got := u.content("#preview-" + entID + " .change-added"); !strings.Contains(got, "1.2.0-rc.1") || !strings.Contains(got, "new") {
		t.Errorf("the widened preview marks %q as new, want 1.2.0-rc.1", got)
	}
	u.open("/console/organizations/initech")
	if got := u.releasesIn("#sees-list"); !slices.Equal(got, seen) {
		t.Errorf("an unsaved preview changed what initech sees: %v", got)
	}

	// A license for Lathe Studio, issued from the organization's page.
	u.do(chromedp.Click(chromedp.CSS(`a[href="/console/licenses?org=` + org.ID + `"]`)))
	u.waitPath("/console/licenses")
	if got := evaluate[string](u, `document.querySelector("#issue-org").value`); got != org.ID {
		t.Errorf("the issue form has organization %s, want initech's %s", got, org.ID)
	}
	u.choose("#issue-product", products["lathe"].ID)
	u.do(chromedp.SendKeys(chromedp.CSS("#new-features"), "cam\nedition=pro\nrender<=4"))
	u.typeInto("#new-seats", "5")
	u.choose("#new-expires", "2031-12-31")
	u.do(chromedp.Click(chromedp.CSS(`form[data-admin="/api/v1/licenses"] button[type=submit]`)))
	u.waitText(".licenses", "Lathe Studio for Initech")
	licID := evaluate[string](u, `document.querySelector(".license").id.replace("license-", "")`)
	card := "#license-" + licID
	if got := u.content(card); !strings.Contains(got, "active") || !strings.Contains(got, "render (up to 4)") || !strings.Contains(got, "31 Dec 2031") {
		t.Errorf("the new license shows %q", got)
	}
	u.check("console-licenses")

	// Amending issues a new license with the change and keeps the rest;
	// the old one is superseded.
	u.do(chromedp.Click(chromedp.CSS(card + " details.amend summary")))
	u.typeInto("#"+licID+"-seats", "7")
	u.do(chromedp.Click(chromedp.CSS(card + " details.amend button[type=submit]")))
	u.waitText(card+" .badge", "superseded")
	oldID := licID
	licID = evaluate[string](u, `document.querySelector(".license").id.replace("license-", "")`)
	card = "#license-" + licID
	if got := u.content(card); licID == oldID || !strings.Contains(got, "Seats7") || !strings.Contains(got, "render (up to 4)") || !strings.Contains(got, "Amends"+oldID) {
		t.Errorf("the amended license %s shows %q", licID, got)
	}

	// Revoking asks first, then says so.
	u.do(chromedp.Click(chromedp.CSS(card + " details.revoke summary")))
	u.typeInto("#reason-"+licID, "test of the console")
	u.do(chromedp.Click(chromedp.CSS(card + " details.revoke button[type=submit]")))
	u.waitText(card+" .badge", "revoked")
	var lic struct {
		State        string `json:"state"`
		RevokeReason string `json:"revoke_reason"`
	}
	admin.call("GET", "/api/v1/licenses/"+licID, nil, http.StatusOK, &lic)
	if lic.State != "revoked" || lic.RevokeReason != "test of the console" {
		t.Errorf("the license is %q (reason %q) after revoking, want revoked", lic.State, lic.RevokeReason)
	}
	if n := evaluate[int](u, `document.querySelectorAll("`+card+` details").length`); n != 0 {
		t.Errorf("a revoked license still offers %d changes", n)
	}

	// An edge: its credential is shown once, works, and is gone after.
	u.open("/console/edges")
	u.check("console-edges-empty")
	u.typeInto("#edge-name", "initech-plant")
	u.typeInto("#edge-region", "eu-west\r")
	u.visible(".edge-secret")
	credential := u.content("#edge-credential")
	if !regexp.MustCompile(`^fre_edg_[0-9a-z]{26}_\S+$`).MatchString(credential) {
		t.Fatalf("the credential shown is %q; the section holds %s", credential, evaluate[string](u, `document.querySelector(".edge-secret").outerHTML`))
	}
	u.shot("console-edge-credential-360")
	edge := api{t: t, url: base, token: credential}
	edge.call("POST", "/api/v1/edge/heartbeat", map[string]any{"region": "eu-west", "public_url": "https://edge.initech.example",
		"stats": map[string]int64{"bytes_served": 3e9, "bytes_from_origin": 1e9, "hits": 9, "misses": 1}}, http.StatusOK, nil)
	u.do(chromedp.Click(chromedp.CSS(".edge-secret a")))
	u.waitText(".edges", "initech-plant")
	if html := evaluate[string](u, `document.documentElement.outerHTML`); strings.Contains(html, credential) {
		t.Error("the edges page shows the credential again")
	}
	if got := u.content(".edge"); !strings.Contains(got, "healthy") || strings.Contains(got, "not healthy") || !strings.Contains(got, "90%") || !strings.Contains(got, "3.0 GB") {
		t.Errorf("the edge after a heartbeat shows %q", got)
	}
	u.check("console-edges")

	// The audit log holds all of it, newest first, and filters.
	u.open("/console/audit")
	u.waitText(".audit-log", "edge.create")
	actions := evaluate[[]string](u, `Array.from(document.querySelectorAll(".audit-action")).map(el => el.textContent)`)
	for _, want := range []string{"organization.create", "entitlement.create", "license.issue", "license.revoke", "edge.create"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the audit log lacks %s: %v", want, actions)
		}
	}
	if i, j := slices.Index(actions, "edge.create"), slices.Index(actions, "organization.create"); i > j {
		t.Errorf("the audit log is not newest first: %v", actions)
	}
	if got := u.text(".audit-actor"); got != info.Admin.Email {
		t.Errorf("the newest event names %q, want the admin's email", got)
	}
	u.check("console-audit")
	u.choose("#af-org", org.ID)
	u.typeInto("#af-action", "license.revoke\r")
	u.waitLocation("action=license.revoke")
	filtered := evaluate[[]string](u, `Array.from(document.querySelectorAll(".audit-action")).map(el => el.textContent)`)
	if want := []string{"license.revoke"}; !slices.Equal(filtered, want) {
		t.Errorf("filtered by initech and license.revoke, the log shows %v, want %v", filtered, want)
	}

	// A support user, invited from the users page.
	u.open("/console/users")
	u.typeInto("#staff-email", "sam@vendor.example")
	u.choose("#staff-role", "support")
	u.do(chromedp.Click(chromedp.CSS(`form[data-admin="/api/v1/invitations"] button[type=submit]`)))
	u.waitText(".form-done", "Invitation sent to sam@vendor.example.")
	u.check("console-users")
	link := invitationLink(t, filepath.Join(dir, "outbox"), "sam@vendor.example")
	u.signOut()
	u.open(link)
	const samPassword = "a long support password"
	u.typeInto("#name", "Sam Support")
	u.typeInto("#password", samPassword+"\r")
	u.visible(".done")
	u.signIn("sam@vendor.example", samPassword)
	u.waitPath("/")

	// Support reads every console page and gets no button that would
	// fail: only inviting people into an organization is open to it.
	for _, page := range []struct {
		path, name, shows string
		changes           []string
	}{
		{"/console/organizations", "organizations", "Initech", nil},
		{"/console/organizations/initech", "organization", "Millwright CAM 1.1.0", []string{"POST /api/v1/organizations/" + org.ID + "/invitations"}},
		{"/console/users", "users", "sam@vendor.example", nil},
		{"/console/licenses", "licenses", "Lathe Studio for Initech", nil},
		{"/console/edges", "edges", "initech-plant", nil},
		{"/console/audit", "audit", "license.revoke", nil},
	} {
		u.open(page.path)
		u.waitText("main", page.shows)
		if got := u.consoleChanges(); !slices.Equal(got, page.changes) {
			t.Errorf("support on %s gets the changes %v, want %v", page.path, got, page.changes)
		}
		if n := evaluate[int](u, `document.querySelectorAll("main details form, button[data-preview]").length`); n != 0 {
			t.Errorf("support on %s gets %d hidden change forms", page.path, n)
		}
		u.shot("console-" + page.name + "-support-360")
	}
	// Support may still fetch the license files it may read.
	u.open("/console/licenses")
	if n := evaluate[int](u, `document.querySelectorAll('a[href$="/file"]').length`); n == 0 {
		t.Error("support gets no license file to download in the console")
	}
}
