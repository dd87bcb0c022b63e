package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var webhookTests = []subtest{
	{"CreateGet", testWebhookCreateGet},
	{"Invalid", testWebhookInvalid},
	{"List", testWebhookList},
	{"Update", testWebhookUpdate},
	{"DeleteCascades", testWebhookDeleteCascades},
	{"Deliveries", testWebhookDeliveries},
	{"DeliveryUpdate", testWebhookDeliveryUpdate},
	{"Attempts", testWebhookAttempts},
	{"DeliveryWithJobInTx", testWebhookDeliveryTx},
}

// MustCreateWebhook creates an enabled webhook of the organization (""
// for the vendor) subscribed to the events, with a fresh secret, or fails
// the test.
func MustCreateWebhook(t testing.TB, s freight.Store, orgID, url string, events ...string) *freight.Webhook {
	t.Helper()
	w := &freight.Webhook{OrgID: orgID, URL: url, Events: events, Enabled: true, Secret: freight.NewWebhookSecret(), CreatedBy: "usr_test"}
	if err := s.CreateWebhook(t.Context(), w); err != nil {
		t.Fatalf("CreateWebhook(%s): %v", url, err)
	}
	return w
}

// MustCreateWebhookDelivery stores a pending delivery of a new event of
// the type to the webhook, or fails the test.
func MustCreateWebhookDelivery(t testing.TB, s freight.Store, webhookID, eventType string) *freight.WebhookDelivery {
	t.Helper()
	d := &freight.WebhookDelivery{WebhookID: webhookID, EventID: freight.NewID(freight.PrefixWebhookEvent, time.Now()), EventType: eventType,
		Payload: []byte(`{"id":"x","type":"` + eventType + `","data":{}}`), State: freight.DeliveryPending}
	if err := s.CreateWebhookDelivery(t.Context(), d); err != nil {
		t.Fatalf("CreateWebhookDelivery: %v", err)
	}
	return d
}

func testWebhookCreateGet(t *testing.T, s freight.Store) {
	org := MustCreateOrganization(t, s, newOrg("acme"))
	vendor := MustCreateWebhook(t, s, "", "https://hooks.vendor.example/freight", freight.EventLicenseIssued, freight.EventReleasePublished, freight.EventLicenseIssued)
	checkCreated(t, "CreateWebhook", freight.PrefixWebhook, vendor.ID, vendor.CreatedAt, &vendor.UpdatedAt)
	if want := []string{freight.EventLicenseIssued, freight.EventReleasePublished}; !slices.Equal(vendor.Events, want) {
		t.Errorf("Events = %q, want %q: sorted, each once", vendor.Events, want)
	}
	got, err := s.Webhook(t.Context(), vendor.ID)
	noErr(t, "Webhook", err)
	checkSame(t, "Webhook", got, vendor)
	if got.Secret != vendor.Secret || got.OrgID != "" {
		t.Errorf("Secret or OrgID did not round-trip: org %q", got.OrgID)
	}

	exp := ts(time.Hour)
	ow := &freight.Webhook{OrgID: org.ID, URL: "http://10.0.0.7:8080/hook?x=1", Description: "ERP intake", Events: []string{freight.EventArtifactDownloaded},
		Secret: freight.NewWebhookSecret(), PreviousSecret: freight.NewWebhookSecret(), PreviousSecretExpiresAt: &exp}
	noErr(t, "CreateWebhook(org)", s.CreateWebhook(t.Context(), ow))
	got, err = s.Webhook(t.Context(), ow.ID)
	noErr(t, "Webhook(org)", err)
	checkSame(t, "Webhook(org)", got, ow)
	if got.Enabled || got.PreviousSecret != ow.PreviousSecret || got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(exp) {
		t.Errorf("Webhook(org) = %+v: enabled or previous secret did not round-trip", got)
	}
	if secs := got.Secrets(exp.Add(-time.Second)); !slices.Equal(secs, []string{ow.Secret, ow.PreviousSecret}) {
		t.Errorf("Secrets before the grace ends = %d secrets, want both", len(secs))
	}
	if secs := got.Secrets(exp); !slices.Equal(secs, []string{ow.Secret}) {
		t.Errorf("Secrets when the grace ends = %d secrets, want the current one only", len(secs))
	}

	_, err = s.Webhook(t.Context(), missingID(freight.PrefixWebhook))
	wantCode(t, "Webhook(missing)", err, freight.ENOTFOUND)
	err = s.CreateWebhook(t.Context(), &freight.Webhook{OrgID: missingID(freight.PrefixOrganization), URL: "https://h.example/x",
		Events: []string{freight.EventLicenseIssued}, Secret: freight.NewWebhookSecret()})
	wantCode(t, "CreateWebhook(missing organization)", err, freight.ENOTFOUND)
	err = s.CreateWebhook(t.Context(), &freight.Webhook{ID: vendor.ID, URL: "https://h.example/x",
		Events: []string{freight.EventLicenseIssued}, Secret: freight.NewWebhookSecret()})
	wantCode(t, "CreateWebhook(same id)", err, freight.ECONFLICT)
}

func testWebhookInvalid(t *testing.T, s freight.Store) {
	ok := func() *freight.Webhook {
		return &freight.Webhook{URL: "https://hooks.example.com/x", Events: []string{freight.EventReleaseYanked}, Secret: freight.NewWebhookSecret()}
	}
	for name, change := range map[string]func(w *freight.Webhook){
		"no url":            func(w *freight.Webhook) { w.URL = "" },
		"relative url":      func(w *freight.Webhook) { w.URL = "/hook" },
		"ftp url":           func(w *freight.Webhook) { w.URL = "ftp://hooks.example.com/x" },
		"user info":         func(w *freight.Webhook) { w.URL = "https://user:pw@hooks.example.com/x" },
		"fragment":          func(w *freight.Webhook) { w.URL = "https://hooks.example.com/x#y" },
		"long url":          func(w *freight.Webhook) { w.URL = "https://hooks.example.com/" + strings.Repeat("a", 2000) },
		"no events":         func(w *freight.Webhook) { w.Events = nil },
		"unknown event":     func(w *freight.Webhook) { w.Events = []string{"release.deleted"} },
		"test event":        func(w *freight.Webhook) { w.Events = []string{freight.EventWebhookTest} },
		"no secret":         func(w *freight.Webhook) { w.Secret = "" },
		"short secret":      func(w *freight.Webhook) { w.Secret = "whsec_abc" },
		"previous, no time": func(w *freight.Webhook) { w.PreviousSecret = freight.NewWebhookSecret() },
		"bad org id":        func(w *freight.Webhook) { w.OrgID = "acme" },
		"control character": func(w *freight.Webhook) { w.Description = "a\x1b[2Jb" },
	} {
		w := ok()
		change(w)
		wantCode(t, "CreateWebhook("+name+")", s.CreateWebhook(t.Context(), w), freight.EINVALID)
	}
	list, _, err := s.Webhooks(t.Context(), freight.WebhookFilter{})
	noErr(t, "Webhooks", err)
	if len(list) != 0 {
		t.Errorf("Webhooks after invalid creates = %d, want 0", len(list))
	}
}

func testWebhookList(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	var vendor, ofAcme []string
	for i := range 3 {
		vendor = append(vendor, MustCreateWebhook(t, s, "", "https://v.example/"+string(rune('a'+i)), freight.EventReleasePublished).ID)
		ofAcme = append(ofAcme, MustCreateWebhook(t, s, acme.ID, "https://acme.example/"+string(rune('a'+i)), freight.EventLicenseIssued).ID)
	}
	gx := MustCreateWebhook(t, s, globex.ID, "https://globex.example/", freight.EventLicenseIssued).ID
	ids := func(f freight.WebhookFilter) []string {
		t.Helper()
		var out []string
		f.Limit = 2
		for {
			page, next, err := s.Webhooks(t.Context(), f)
			noErr(t, "Webhooks", err)
			for _, w := range page {
				out = append(out, w.ID)
			}
			if next == "" {
				return out
			}
			f.After = next
		}
	}
	if got := ids(freight.WebhookFilter{VendorOnly: true}); !slices.Equal(got, vendor) {
		t.Errorf("vendor webhooks = %q, want %q", got, vendor)
	}
	if got := ids(freight.WebhookFilter{OrgID: acme.ID}); !slices.Equal(got, ofAcme) {
		t.Errorf("acme's webhooks = %q, want %q", got, ofAcme)
	}
	all := slices.Concat(vendor, ofAcme, []string{gx})
	slices.Sort(all)
	if got := ids(freight.WebhookFilter{}); !slices.Equal(got, all) {
		t.Errorf("all webhooks = %q, want %q", got, all)
	}
	_, _, err := s.Webhooks(t.Context(), freight.WebhookFilter{OrgID: missingID(freight.PrefixOrganization)})
	wantCode(t, "Webhooks(missing organization)", err, freight.ENOTFOUND)
	_, _, err = s.Webhooks(t.Context(), freight.WebhookFilter{Page: freight.Page{After: "nonsense"}})
	wantCode(t, "Webhooks(bad cursor)", err, freight.EINVALID)
}

func testWebhookUpdate(t *testing.T, s freight.Store) {
	org := MustCreateOrganization(t, s, newOrg("acme"))
	w := MustCreateWebhook(t, s, org.ID, "https://acme.example/hook", freight.EventLicenseIssued)
	old := w.Secret
	exp := ts(24 * time.Hour)
	next := freight.NewWebhookSecret()
	settle()
	got, err := s.UpdateWebhook(t.Context(), w.ID, func(c *freight.Webhook) error {
		c.URL, c.Description, c.Enabled = "https://acme.example/v2", "new", false
		c.Events = []string{freight.EventLicenseRevoked, freight.EventLicenseIssued}
		c.PreviousSecret, c.PreviousSecretExpiresAt, c.Secret = c.Secret, &exp, next
		c.OrgID, c.CreatedBy = "", "someone else" // neither may change
		return nil
	})
	noErr(t, "UpdateWebhook", err)
	checkUpdated(t, "UpdateWebhook", got.CreatedAt, got.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	reread, err := s.Webhook(t.Context(), w.ID)
	noErr(t, "Webhook", err)
	checkSame(t, "Webhook after update", reread, got)
	if reread.OrgID != org.ID || reread.CreatedBy != w.CreatedBy {
		t.Errorf("OrgID, CreatedBy = %q, %q, want %q, %q unchanged", reread.OrgID, reread.CreatedBy, org.ID, w.CreatedBy)
	}
	if reread.Secret != next || reread.PreviousSecret != old || reread.Enabled || reread.URL != "https://acme.example/v2" ||
		!slices.Equal(reread.Events, []string{freight.EventLicenseIssued, freight.EventLicenseRevoked}) {
		t.Errorf("Webhook after update = %+v, want the new url, events, secrets and disabled", reread)
	}

	// fn's error comes back unchanged and nothing is written.
	_, err = s.UpdateWebhook(t.Context(), w.ID, func(c *freight.Webhook) error { c.URL = "https://x.example/"; return errSentinel })
	if !errors.Is(err, errSentinel) {
		t.Errorf("UpdateWebhook(fn fails) = %v, want the sentinel", err)
	}
	_, err = s.UpdateWebhook(t.Context(), w.ID, func(c *freight.Webhook) error { c.Events = nil; return nil })
	wantCode(t, "UpdateWebhook(no events)", err, freight.EINVALID)
	again, _ := s.Webhook(t.Context(), w.ID)
	checkSame(t, "Webhook after failed updates", again, reread)
	_, err = s.UpdateWebhook(t.Context(), missingID(freight.PrefixWebhook), func(*freight.Webhook) error { return nil })
	wantCode(t, "UpdateWebhook(missing)", err, freight.ENOTFOUND)
}

func testWebhookDeleteCascades(t *testing.T, s freight.Store) {
	org := MustCreateOrganization(t, s, newOrg("acme"))
	ow := MustCreateWebhook(t, s, org.ID, "https://acme.example/hook", freight.EventLicenseIssued)
	vw := MustCreateWebhook(t, s, "", "https://vendor.example/hook", freight.EventLicenseIssued)
	d := MustCreateWebhookDelivery(t, s, vw.ID, freight.EventLicenseIssued)
	noErr(t, "AddWebhookAttempt", s.AddWebhookAttempt(t.Context(), &freight.WebhookAttempt{DeliveryID: d.ID, At: ts(0), StatusCode: 500}))
	od := MustCreateWebhookDelivery(t, s, ow.ID, freight.EventLicenseIssued)

	noErr(t, "DeleteWebhook", s.DeleteWebhook(t.Context(), vw.ID))
	_, err := s.Webhook(t.Context(), vw.ID)
	wantCode(t, "Webhook(deleted)", err, freight.ENOTFOUND)
	_, err = s.WebhookDelivery(t.Context(), d.ID)
	wantCode(t, "WebhookDelivery(of a deleted webhook)", err, freight.ENOTFOUND)
	_, err = s.WebhookAttempts(t.Context(), d.ID)
	wantCode(t, "WebhookAttempts(of a deleted webhook)", err, freight.ENOTFOUND)
	wantCode(t, "DeleteWebhook(again)", s.DeleteWebhook(t.Context(), vw.ID), freight.ENOTFOUND)

	noErr(t, "DeleteOrganization", s.DeleteOrganization(t.Context(), org.ID))
	_, err = s.Webhook(t.Context(), ow.ID)
	wantCode(t, "Webhook(of a deleted organization)", err, freight.ENOTFOUND)
	_, err = s.WebhookDelivery(t.Context(), od.ID)
	wantCode(t, "WebhookDelivery(of a deleted organization)", err, freight.ENOTFOUND)
}

func testWebhookDeliveries(t *testing.T, s freight.Store) {
	w := MustCreateWebhook(t, s, "", "https://vendor.example/hook", freight.EventReleasePublished)
	other := MustCreateWebhook(t, s, "", "https://vendor.example/other", freight.EventReleasePublished)
	var made []*freight.WebhookDelivery
	for range 5 {
		made = append(made, MustCreateWebhookDelivery(t, s, w.ID, freight.EventReleasePublished))
	}
	MustCreateWebhookDelivery(t, s, other.ID, freight.EventReleasePublished)
	d := made[0]
	checkCreated(t, "CreateWebhookDelivery", freight.PrefixWebhookDelivery, d.ID, d.CreatedAt, &d.UpdatedAt)
	got, err := s.WebhookDelivery(t.Context(), d.ID)
	noErr(t, "WebhookDelivery", err)
	checkSame(t, "WebhookDelivery", got, d)

	// Newest first, page by page, this webhook's only.
	var ids []string
	f := freight.WebhookDeliveryFilter{WebhookID: w.ID, Page: freight.Page{Limit: 2}}
	for {
		page, next, err := s.WebhookDeliveries(t.Context(), f)
		noErr(t, "WebhookDeliveries", err)
		for _, x := range page {
			ids = append(ids, x.ID)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	var want []string
	for i := len(made) - 1; i >= 0; i-- {
		want = append(want, made[i].ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("WebhookDeliveries = %q, want %q (newest first)", ids, want)
	}

	// One event reaches a webhook once; another webhook may get it too.
	dup := &freight.WebhookDelivery{WebhookID: w.ID, EventID: d.EventID, EventType: d.EventType, Payload: d.Payload, State: freight.DeliveryPending}
	wantCode(t, "CreateWebhookDelivery(same event)", s.CreateWebhookDelivery(t.Context(), dup), freight.ECONFLICT)
	dup.WebhookID = other.ID
	noErr(t, "CreateWebhookDelivery(same event, other webhook)", s.CreateWebhookDelivery(t.Context(), dup))

	missing := &freight.WebhookDelivery{WebhookID: missingID(freight.PrefixWebhook), EventID: missingID(freight.PrefixWebhookEvent),
		EventType: freight.EventReleasePublished, Payload: []byte(`{}`), State: freight.DeliveryPending}
	wantCode(t, "CreateWebhookDelivery(missing webhook)", s.CreateWebhookDelivery(t.Context(), missing), freight.ENOTFOUND)
	for name, bad := range map[string]freight.WebhookDelivery{
		"no payload":    {WebhookID: w.ID, EventID: missingID(freight.PrefixWebhookEvent), EventType: freight.EventReleasePublished, State: freight.DeliveryPending},
		"array payload": {WebhookID: w.ID, EventID: missingID(freight.PrefixWebhookEvent), EventType: freight.EventReleasePublished, Payload: []byte(`[]`), State: freight.DeliveryPending},
		"bad state":     {WebhookID: w.ID, EventID: missingID(freight.PrefixWebhookEvent), EventType: freight.EventReleasePublished, Payload: []byte(`{}`), State: "lost"},
		"bad type":      {WebhookID: w.ID, EventID: missingID(freight.PrefixWebhookEvent), EventType: "release.deleted", Payload: []byte(`{}`), State: freight.DeliveryPending},
		"bad event id":  {WebhookID: w.ID, EventID: "42", EventType: freight.EventReleasePublished, Payload: []byte(`{}`), State: freight.DeliveryPending},
	} {
		wantCode(t, "CreateWebhookDelivery("+name+")", s.CreateWebhookDelivery(t.Context(), &bad), freight.EINVALID)
	}
	// A test event is a delivery like any other.
	MustCreateWebhookDelivery(t, s, w.ID, freight.EventWebhookTest)

	_, _, err = s.WebhookDeliveries(t.Context(), freight.WebhookDeliveryFilter{WebhookID: missingID(freight.PrefixWebhook)})
	wantCode(t, "WebhookDeliveries(missing webhook)", err, freight.ENOTFOUND)
	_, _, err = s.WebhookDeliveries(t.Context(), freight.WebhookDeliveryFilter{})
	wantCode(t, "WebhookDeliveries(no webhook)", err, freight.EINVALID)
	_, err = s.WebhookDelivery(t.Context(), missingID(freight.PrefixWebhookDelivery))
	wantCode(t, "WebhookDelivery(missing)", err, freight.ENOTFOUND)
}

func testWebhookDeliveryUpdate(t *testing.T, s freight.Store) {
	w := MustCreateWebhook(t, s, "", "https://vendor.example/hook", freight.EventReleasePublished)
	d := MustCreateWebhookDelivery(t, s, w.ID, freight.EventReleasePublished)
	job := MustEnqueueJob(t, s, &freight.Job{Kind: "webhook"})
	settle()
	got, err := s.UpdateWebhookDelivery(t.Context(), d.ID, func(c *freight.WebhookDelivery) error {
		c.State, c.Attempts, c.LastStatus, c.LastError, c.JobID = freight.DeliveryFailed, 3, 503, "answer 503", job.ID
		c.Payload, c.EventType = []byte(`{"forged":true}`), freight.EventLicenseRevoked // what was sent stays
		return nil
	})
	noErr(t, "UpdateWebhookDelivery", err)
	checkUpdated(t, "UpdateWebhookDelivery", got.CreatedAt, got.UpdatedAt, d.CreatedAt, d.UpdatedAt)
	reread, err := s.WebhookDelivery(t.Context(), d.ID)
	noErr(t, "WebhookDelivery", err)
	checkSame(t, "WebhookDelivery after update", reread, got)
	if reread.State != freight.DeliveryFailed || reread.Attempts != 3 || reread.LastStatus != 503 || reread.LastError != "answer 503" || reread.JobID != job.ID {
		t.Errorf("delivery after update = %+v", reread)
	}
	if !jsonEqual(reread.Payload, d.Payload) || reread.EventType != d.EventType {
		t.Errorf("payload or type changed: %s %s", reread.Payload, reread.EventType)
	}
	list, _, err := s.WebhookDeliveries(t.Context(), freight.WebhookDeliveryFilter{WebhookID: w.ID, State: freight.DeliveryFailed})
	noErr(t, "WebhookDeliveries(failed)", err)
	if len(list) != 1 || list[0].ID != d.ID {
		t.Errorf("failed deliveries = %d, want the one", len(list))
	}
	list, _, err = s.WebhookDeliveries(t.Context(), freight.WebhookDeliveryFilter{WebhookID: w.ID, State: freight.DeliveryPending})
	noErr(t, "WebhookDeliveries(pending)", err)
	if len(list) != 0 {
		t.Errorf("pending deliveries = %d, want 0", len(list))
	}
	_, err = s.UpdateWebhookDelivery(t.Context(), d.ID, func(c *freight.WebhookDelivery) error { c.State = "lost"; return nil })
	wantCode(t, "UpdateWebhookDelivery(bad state)", err, freight.EINVALID)
	_, err = s.UpdateWebhookDelivery(t.Context(), d.ID, func(c *freight.WebhookDelivery) error { return errSentinel })
	if !errors.Is(err, errSentinel) {
		t.Errorf("UpdateWebhookDelivery(fn fails) = %v, want the sentinel", err)
	}
	_, err = s.UpdateWebhookDelivery(t.Context(), missingID(freight.PrefixWebhookDelivery), func(*freight.WebhookDelivery) error { return nil })
	wantCode(t, "UpdateWebhookDelivery(missing)", err, freight.ENOTFOUND)
}

func testWebhookAttempts(t *testing.T, s freight.Store) {
	w := MustCreateWebhook(t, s, "", "https://vendor.example/hook", freight.EventReleasePublished)
	d := MustCreateWebhookDelivery(t, s, w.ID, freight.EventReleasePublished)
	got, err := s.WebhookAttempts(t.Context(), d.ID)
	noErr(t, "WebhookAttempts(none yet)", err)
	if got == nil || len(got) != 0 {
		t.Errorf("WebhookAttempts(none yet) = %v, want an empty list", got)
	}
	long := strings.Repeat("é", 600) // 1200 bytes
	in := []freight.WebhookAttempt{
		{DeliveryID: d.ID, At: ts(0), DurationMS: 10000, Error: "timeout after 10s"},
		{DeliveryID: d.ID, At: ts(time.Minute), StatusCode: 500, DurationMS: 12, Error: "answer 500", ResponseBody: "bad\x00\xffthing"},
		{DeliveryID: d.ID, At: ts(2 * time.Minute), StatusCode: 200, DurationMS: 3, ResponseBody: long},
	}
	for i := range in {
		noErr(t, "AddWebhookAttempt", s.AddWebhookAttempt(t.Context(), &in[i]))
	}
	got, err = s.WebhookAttempts(t.Context(), d.ID)
	noErr(t, "WebhookAttempts", err)
	if len(got) != 3 {
		t.Fatalf("WebhookAttempts = %d, want 3", len(got))
	}
	for i := range in {
		checkSame(t, "WebhookAttempts", got[i], &in[i])
	}
	if got[1].ResponseBody != "bad\uFFFD\uFFFDthing" {
		t.Errorf("body with NUL and invalid UTF-8 = %q, want them replaced", got[1].ResponseBody)
	}
	if n := len(got[2].ResponseBody); n > freight.MaxWebhookResponse || n < freight.MaxWebhookResponse-1 || !strings.HasPrefix(long, got[2].ResponseBody) {
		t.Errorf("long body kept %d bytes, want it cut at a character boundary to at most %d", n, freight.MaxWebhookResponse)
	}
	err = s.AddWebhookAttempt(t.Context(), &freight.WebhookAttempt{DeliveryID: missingID(freight.PrefixWebhookDelivery), At: ts(0)})
	wantCode(t, "AddWebhookAttempt(missing delivery)", err, freight.ENOTFOUND)
	err = s.AddWebhookAttempt(t.Context(), &freight.WebhookAttempt{DeliveryID: d.ID})
	wantCode(t, "AddWebhookAttempt(no time)", err, freight.EINVALID)
	_, err = s.WebhookAttempts(t.Context(), missingID(freight.PrefixWebhookDelivery))
	wantCode(t, "WebhookAttempts(missing delivery)", err, freight.ENOTFOUND)
}

// testWebhookDeliveryTx checks what the server relies on: a delivery and
// its job written in a transaction that fails leave nothing behind.
func testWebhookDeliveryTx(t *testing.T, s freight.Store) {
	w := MustCreateWebhook(t, s, "", "https://vendor.example/hook", freight.EventReleasePublished)
	var d *freight.WebhookDelivery
	err := s.Tx(t.Context(), func(tx freight.Store) error {
		d = MustCreateWebhookDelivery(t, tx, w.ID, freight.EventReleasePublished)
		if err := tx.EnqueueJob(t.Context(), &freight.Job{Kind: "webhook"}); err != nil {
			return err
		}
		return errSentinel
	})
	if !errors.Is(err, errSentinel) {
		t.Fatalf("Tx = %v, want the sentinel", err)
	}
	_, err = s.WebhookDelivery(t.Context(), d.ID)
	wantCode(t, "WebhookDelivery(rolled back)", err, freight.ENOTFOUND)
	jobs, _, err := s.Jobs(t.Context(), freight.JobFilter{Kind: "webhook"})
	noErr(t, "Jobs", err)
	if len(jobs) != 0 {
		t.Errorf("jobs after a rolled-back transaction = %d, want 0", len(jobs))
	}
}
