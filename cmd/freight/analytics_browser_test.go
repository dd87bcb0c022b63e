package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoAPI calls the demo's JSON API with a token and decodes the answer
// into out (when not nil); it fails the test unless the status is want.
func demoAPI(t *testing.T, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// orgDownloads asks the analytics API how many downloads each
// organization has in the default range.
func orgDownloads(t *testing.T, base, token string) map[string]int64 {
	t.Helper()
	var f struct {
		Rows []struct {
			Key       string `json:"key"`
			Downloads int64  `json:"downloads"`
		} `json:"rows"`
	}
	demoAPI(t, base, token, "GET", "/api/v1/analytics/downloads?group=organization", nil, http.StatusOK, &f)
	out := map[string]int64{}
	for _, r := range f.Rows {
		out[r.Key] = r.Downloads
	}
	return out
}

// TestBrowserAnalytics drives the analytics and the organization's pages
// of a demo in headless Chromium: an acme customer downloads a file; the
// vendor's admin sees it counted on the analytics page (a bar's title and
// the table) and downloads the figures as CSV; the customer, made
// org-admin, creates a service token, sees its secret once, revokes it,
// reads the download history, and switches to its other organization
// from the header.
func TestBrowserAnalytics(t *testing.T) {
	chromium(t)
	dir := t.TempDir()
	base, info := startDemo(t, dir)
	password := map[string]string{}
	for _, c := range info.Customers {
		password[c.Org] = c.Password
	}
	admin := info.Admin.Token

	// alice becomes the org-admin of acme, and of globex too, so that she
	// has an organization to switch to.
	var users struct {
		Items []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"items"`
	}
	demoAPI(t, base, admin, "GET", "/api/v1/users?org=acme", nil, http.StatusOK, &users)
	var alice string
	for _, u := range users.Items {
		if u.Email == "alice@acme.example" {
			alice = u.ID
		}
	}
	if alice == "" {
		t.Fatalf("alice is not among acme's users: %+v", users.Items)
	}
	type org struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var acme, globex org
	demoAPI(t, base, admin, "GET", "/api/v1/organizations/acme", nil, http.StatusOK, &acme)
	demoAPI(t, base, admin, "GET", "/api/v1/organizations/globex", nil, http.StatusOK, &globex)
	for _, o := range []string{"acme", "globex"} {
		demoAPI(t, base, admin, "PUT", "/api/v1/organizations/"+o+"/members/"+alice, map[string]string{"role": "org-admin"}, http.StatusOK, nil)
	}
	before := orgDownloads(t, base, admin)

	downloads := t.TempDir()
	u := newUI(t, base, downloads)

	// alice downloads the smallest Lathe file, acting for acme.
	u.signIn("alice@acme.example", password["acme"])
	u.waitPath("/")
	if !strings.Contains(u.text(".who-name"), acme.Name) {
		u.do(chromedp.SetValue(chromedp.CSS("#org-switch"), acme.ID),
			chromedp.Click(chromedp.CSS(`form.org-switch button[type=submit]`)))
		u.waitPath("/")
	}
	var file demoArtifact
	for _, p := range info.Products {
		for _, r := range p.Releases {
			for _, a := range r.Artifacts {
				if p.Slug == "lathe" && (file.ID == "" || a.Size < file.Size) {
					file = a
				}
			}
		}
	}
	u.open("/products/lathe")
	u.do(chromedp.Click(chromedp.CSS(`button[data-download="` + file.ID + `"]`)))
	waitForFile(t, filepath.Join(downloads, file.Filename), file.Size, downloads)
	u.signOut()
	want := before[acme.ID] + 1
	if got := orgDownloads(t, base, admin)[acme.ID]; got != want {
		t.Fatalf("the API counts %d downloads of acme after the download, want %d", got, want)
	}

	// The admin sees the download counted.
	u.signIn(info.Admin.Email, info.Admin.Password)
	u.waitPath("/")
	u.open("/console/analytics")
	u.do(chromedp.WaitVisible(chromedp.CSS("#by-organization svg")))
	wantTitle := fmt.Sprintf("%s: %d download", acme.Name, want)
	titles := evaluate[[]string](u, `Array.from(document.querySelectorAll("#by-organization svg rect.bar title")).map(t => t.textContent)`)
	if !containsPrefix(titles, wantTitle) {
		t.Errorf("the organization chart's bar titles are %q, want one starting %q", titles, wantTitle)
	}
	today := time.Now().UTC().Format("2006-01-02")
	dayTitles := evaluate[[]string](u, `Array.from(document.querySelectorAll("#by-day svg rect.bar title")).map(t => t.textContent)`)
	if len(dayTitles) != 30 {
		t.Errorf("the day chart has %d bars, want 30", len(dayTitles))
	} else if last := dayTitles[29]; !strings.HasPrefix(last, today+": ") || last == today+": 0" {
		t.Errorf("today's bar is titled %q, want today's downloads, at least 1", last)
	}
	// The table of the same figures, opened with the keyboard.
	u.do(chromedp.Focus(chromedp.CSS("#by-organization summary")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#by-organization table")))
	row := u.text(fmt.Sprintf(`#by-organization tbody tr:nth-child(%d)`, rowIndex(titles, acme.Name)+1))
	if !strings.HasPrefix(row, acme.Name) || !strings.Contains(row, strconv.FormatInt(want, 10)) {
		t.Errorf("the organization table's row of acme reads %q, want %s with %d downloads", row, acme.Name, want)
	}
	u.check("analytics")

	// The CSV of the same figures.
	u.do(chromedp.Click(chromedp.CSS(`#by-organization a.csv-link`)))
	csvFile := waitForGlob(t, filepath.Join(downloads, "downloads-by-organization-*.csv"))
	recs, err := csv.NewReader(bytes.NewReader(csvFile)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	found := false
	for _, r := range recs[1:] {
		if r[0] == acme.ID {
			found = true
			if r[1] != acme.Name || r[4] != strconv.FormatInt(want, 10) {
				t.Errorf("acme's CSV row = %q, want %s with %d downloads", r, acme.Name, want)
			}
		}
	}
	if !found {
		t.Errorf("the CSV has no row of acme: %q", recs)
	}
	u.signOut()

	// alice, org-admin of acme: a service token, shown once, revoked.
	u.signIn("alice@acme.example", password["acme"])
	u.waitPath("/")
	u.open("/org")
	if h := u.text("h1"); h != acme.Name {
		t.Fatalf("/org shows %q, want %s", h, acme.Name)
	}
	u.do(chromedp.SendKeys(chromedp.CSS("#svc-name"), "build server\r"),
		chromedp.WaitVisible(chromedp.CSS(".token-secret")))
	secret := u.text("#new-token")
	if !strings.HasPrefix(secret, "frt_") {
		t.Errorf("the new token reads %q, want a frt_ secret", secret)
	}
	u.check("org-token-created")
	demoAPI(t, base, secret, "GET", "/api/v1/catalog", nil, http.StatusOK, nil)
	u.open("/org")
	if html := evaluate[string](u, "document.documentElement.outerHTML"); strings.Contains(html, secret) {
		t.Error("the secret is in the page after a reload")
	}
	if !strings.Contains(u.text("#token-list"), "build server") {
		t.Error("the token is not listed")
	}
	u.check("org")
	u.do(chromedp.Click(chromedp.CSS(`#token-list button[data-delete]`)))
	u.do(chromedp.WaitVisible(chromedp.CSS("#no-tokens")))
	demoAPI(t, base, secret, "GET", "/api/v1/catalog", nil, http.StatusUnauthorized, nil)

	// alice invites dana: the invitation is listed as pending as soon as
	// the form is sent, and after a reload, by whom and until when;
	// withdrawn, it leaves the list and its link says it was withdrawn.
	u.open("/org")
	u.visible("#no-invitations")
	u.typeInto("#invite-email", "dana@acme.example")
	u.choose("#invite-role", "org-admin")
	u.do(chromedp.Click(chromedp.CSS(`#invite button[type=submit]`)))
	u.visible("#invite .done")
	u.waitText("#invitation-list", "dana@acme.example")
	if evaluate[bool](u, `!document.getElementById("no-invitations").hidden`) {
		t.Error("the page still says no invitation is pending after one was sent")
	}
	fresh := u.content("#invitation-list li")
	u.open("/org")
	u.waitText("#invitation-list", "dana@acme.example")
	pending := u.content("#invitation-list li")
	for _, want := range []string{"dana@acme.example", "org-admin", "invited by", "expires", "Withdraw"} {
		if !strings.Contains(pending, want) {
			t.Errorf("the pending invitation reads %q, want %q in it", pending, want)
		}
	}
	// The same words; the space between elements is the template's.
	if strings.Join(strings.Fields(fresh), "") != strings.Join(strings.Fields(pending), "") {
		t.Errorf("the invitation listed by the form reads %q, after a reload %q: want the same", fresh, pending)
	}
	u.check("org-invitations")
	link := invitationLink(t, filepath.Join(dir, "outbox"), "dana@acme.example")
	if html := evaluate[string](u, "document.documentElement.outerHTML"); strings.Contains(html, link[strings.Index(link, "token=")+len("token="):]) {
		t.Error("the page holds the invitation's secret")
	}
	u.do(chromedp.Click(chromedp.CSS(`#invitation-list li button[data-delete]`)))
	u.visible("#no-invitations")
	if n := evaluate[int](u, `document.querySelectorAll("#invitation-list li").length`); n != 0 {
		t.Errorf("%d invitations listed after the withdrawal, want none", n)
	}
	// The link's page is public: alice's session plays no part in it.
	u.open(link)
	u.typeInto("#name", "Dana")
	u.typeInto("#password", "a withdrawn invitation's password\r")
	if msg := u.formError(`form[data-api="/api/v1/auth/accept"]`); !strings.Contains(msg, "withdrawn") {
		t.Errorf("the withdrawn invitation's link answers %q, want that it was withdrawn", msg)
	}

	// The download history shows alice's download.
	u.open("/org/downloads")
	u.do(chromedp.WaitVisible(chromedp.CSS("#history-table tbody tr")))
	if hist := u.text("#history-table tbody"); !strings.Contains(hist, file.Filename) || !strings.Contains(hist, "alice@acme.example") {
		t.Errorf("the history reads %q, want %s by alice@acme.example", hist, file.Filename)
	}
	u.check("org-downloads")

	// The switcher moves alice to globex.
	u.do(chromedp.SetValue(chromedp.CSS("#org-switch"), globex.ID),
		chromedp.Click(chromedp.CSS(`form.org-switch button[type=submit]`)))
	u.waitPath("/")
	u.do(chromedp.WaitVisible(chromedp.CSS(`a[href="/products/millwright"]`)))
	if who := u.text(".who-name"); !strings.Contains(who, globex.Name) {
		t.Errorf("after switching, the header reads %q, want %s", who, globex.Name)
	}
	u.open("/org")
	if h := u.text("h1"); h != globex.Name {
		t.Errorf("after switching, /org shows %q, want %s", h, globex.Name)
	}
	u.check("org-switched")
}

func containsPrefix(list []string, prefix string) bool {
	return rowIndex(list, prefix) >= 0
}

// rowIndex finds the first item that starts with prefix, or -1.
func rowIndex(list []string, prefix string) int {
	for i, s := range list {
		if strings.HasPrefix(s, prefix) {
			return i
		}
	}
	return -1
}

// waitForGlob waits for the browser to save a file matching pattern and
// returns its content.
func waitForGlob(t *testing.T, pattern string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, _ := filepath.Glob(pattern); len(m) == 1 {
			if b, err := os.ReadFile(m[0]); err == nil && len(b) > 0 {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no file like %s was downloaded within 30s", filepath.Base(pattern))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
