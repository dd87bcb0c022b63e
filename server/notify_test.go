package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// releaseMails counts the release-available mails of each recipient.
func releaseMails(e *env) map[string]int {
	e.mail.count() // runs the due jobs
	e.mail.drain()
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	out := map[string]int{}
	for _, m := range e.mail.msgs {
		if m.Kind == freight.MailReleaseAvailable {
			out[m.To]++
		}
	}
	return out
}

// publishWithFile makes a draft of the cad product with one file and
// publishes it.
func publishWithFile(e *env, version string) string {
	e.t.Helper()
	relID := e.draft(version)
	content := fileOf(7, 1000)
	c := e.startUpload(relID, "cad-"+version+".zip", content, sha(content))
	e.sendAll(e.partURLs(c.Upload.ID), content)
	e.mustComplete(c.Upload.ID)
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)
	return relID
}

func TestReleaseNotifications(t *testing.T) {
	e := newEnv(t)
	// The product exists before the entitlements that name it.
	e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD <Pro>"})
	prodID := mustProductID(t, e)
	acme, globex, initech, hooli := e.mustOrg("acme"), e.mustOrg("globex"), e.mustOrg("initech"), e.mustOrg("hooli")
	entitle := func(org *freight.Organization, fields map[string]any) {
		body := map[string]any{"org_id": org.ID, "product_id": prodID, "channels": []string{"stable"}}
		for k, v := range fields {
			body[k] = v
		}
		e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, body)
	}
	entitle(acme, nil)
	entitle(hooli, nil)
	entitle(initech, map[string]any{"version_range": ">=2.0.0"}) // excludes 1.x
	_ = globex                                                   // no entitlement at all

	ann := e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
	e.mustUser("olga@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
	bob := e.mustUser("bob@acme.example", goodPassword, "", acme, freight.RoleMember)
	carl := e.mustUser("carl@acme.example", goodPassword, "", acme, freight.RoleMember)
	if err := e.store.PutMembership(context.Background(), &freight.Membership{UserID: carl.ID, OrgID: hooli.ID, Role: freight.RoleMember}); err != nil {
		t.Fatal(err)
	}
	dave := e.mustUser("dave@acme.example", goodPassword, "", acme, freight.RoleMember)
	if _, err := e.store.UpdateUser(context.Background(), dave.ID, func(u *freight.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	e.mustUser("gina@globex.example", goodPassword, "", globex, freight.RoleMember)
	e.mustUser("ivan@initech.example", goodPassword, "", initech, freight.RoleMember)
	e.mustUser("hank@hooli.example", goodPassword, "", hooli, freight.RoleMember)

	// bob turns the notifications off from his browser session.
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]string{"email": bob.Email, "password": goodPassword})
	var me map[string]any
	b.must(http.StatusOK, "POST", "/api/v1/account/preferences", map[string]any{"notify_releases": false}).decode(t, &me)
	if me["notify_releases"] != false {
		t.Fatalf("preferences answer notify_releases = %v, want false", me["notify_releases"])
	}
	wantError(t, b.do("POST", "/api/v1/account/preferences", map[string]any{"notify_releases": "no"}), http.StatusBadRequest, freight.EINVALID, "notify_releases")
	if u, _ := e.store.User(context.Background(), bob.ID); !u.NoReleaseMail {
		t.Fatal("bob's choice was not stored")
	}
	if u, _ := e.store.User(context.Background(), ann.ID); u.NoReleaseMail {
		t.Fatal("notifications should be on by default")
	}

	relID := publishWithFile(e, "1.0.0")
	want := map[string]int{"ann@acme.example": 1, "olga@acme.example": 1, "carl@acme.example": 1, "hank@hooli.example": 1}
	got := releaseMails(e)
	if !mapsEqual(got, want) {
		t.Errorf("after publishing 1.0.0, release mails = %v, want %v", got, want)
	}
	m := e.mail.last("ann@acme.example")
	if m == nil || m.Kind != freight.MailReleaseAvailable {
		t.Fatalf("ann's last mail = %+v", m)
	}
	if m.Subject != "CAD <Pro> 1.0.0 is available" || !strings.Contains(m.Text, e.url+"/products/cad") {
		t.Errorf("subject %q, text:\n%s", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, "CAD &lt;Pro&gt; 1.0.0") || !strings.Contains(m.HTML, `href="`+e.url+`/products/cad"`) {
		t.Errorf("HTML:\n%s", m.HTML)
	}

	// A yanked release cannot be published again, and yanking sends nothing.
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/yank", e.token, nil)
	wantError(t, e.do("POST", "/api/v1/releases/"+relID+"/publish", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
	if got := releaseMails(e); !mapsEqual(got, want) {
		t.Errorf("after yank and refused republish, release mails = %v, want %v", got, want)
	}

	// Each publish is announced once; 2.0.0 is in initech's range too.
	publishWithFile(e, "2.0.0")
	want = map[string]int{"ann@acme.example": 2, "olga@acme.example": 2, "carl@acme.example": 2, "hank@hooli.example": 2, "ivan@initech.example": 1}
	if got := releaseMails(e); !mapsEqual(got, want) {
		t.Errorf("after publishing 2.0.0, release mails = %v, want %v", got, want)
	}

	// bob turns them back on and gets the next one.
	b.must(http.StatusOK, "POST", "/api/v1/account/preferences", map[string]any{"notify_releases": true})
	publishWithFile(e, "2.1.0")
	if got := releaseMails(e); got["bob@acme.example"] != 1 || got["ann@acme.example"] != 3 || got["gina@globex.example"] != 0 || got["dave@acme.example"] != 0 {
		t.Errorf("after publishing 2.1.0, release mails = %v", got)
	}
}

// A beta release reaches only the organizations whose entitlement covers
// the beta channel.
func TestReleaseNotificationsChannel(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
	prodID := mustProductID(t, e)
	acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
	e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": acme.ID, "product_id": prodID, "channels": []string{"beta"}})
	e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": globex.ID, "product_id": prodID, "channels": []string{"stable"}})
	e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
	e.mustUser("gina@globex.example", goodPassword, "", globex, freight.RoleMember)

	relID := e.draft("3.0.0-beta.1")
	e.must(http.StatusOK, "PATCH", "/api/v1/releases/"+relID, e.token, map[string]any{"channel": "beta"})
	content := fileOf(9, 500)
	c := e.startUpload(relID, "cad-beta.zip", content, sha(content))
	e.sendAll(e.partURLs(c.Upload.ID), content)
	e.mustComplete(c.Upload.ID)
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)
	want := map[string]int{"ann@acme.example": 1}
	if got := releaseMails(e); !mapsEqual(got, want) {
		t.Errorf("release mails = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
