package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/mail/outbox"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/webhook"
)

// onBackends runs fn on a server on SQLite and, when FREIGHT_TEST_POSTGRES
// is set, on PostgreSQL.
func onBackends(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, testdb.SQLite(t)) })
	t.Run("Postgres", func(t *testing.T) { fn(t, testdb.Postgres(t)) })
}

// hookEnv starts a server on dbURL whose webhooks may reach the test's
// receivers on 127.0.0.1 over http; opts adjust it further.
func hookEnv(t *testing.T, dbURL string, opts ...func(*server.Config)) *env {
	t.Helper()
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(c *server.Config) { c.Webhooks.Policy = webhook.Policy{AllowHTTP: true, AllowPrivate: true} }
	return newEnvAt(t, dbURL, blobs, append([]func(*server.Config){open}, opts...)...)
}

// delivered is one request a receiver got.
type delivered struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that records what it is sent and
// answers the statuses it is told, the last one for every request after.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []delivered
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{header: r.Header.Clone(), body: body})
		status := http.StatusOK
		if n := len(rc.got); len(rc.statuses) > 0 {
			status = rc.statuses[min(n, len(rc.statuses))-1]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "answer "+http.StatusText(status))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// types lists the event types received, in order.
func (rc *receiver) types() []string {
	var out []string
	for _, d := range rc.all() {
		out = append(out, d.header.Get(webhook.HeaderEventType))
	}
	return out
}

type createdHook struct {
	freight.Webhook
	Secret string `json:"secret"`
}

func (e *env) mustHook(path, token, url string, events ...string) createdHook {
	e.t.Helper()
	var h createdHook
	e.must(http.StatusCreated, "POST", path, token, map[string]any{"url": url, "events": events, "description": "test"}).decode(e.t, &h)
	return h
}

type deliveryDetail struct {
	freight.WebhookDelivery
	AttemptLog []freight.WebhookAttempt `json:"attempt_log"`
}

// deliveries lists a webhook's deliveries, newest first.
func (e *env) deliveries(hookPath string) []freight.WebhookDelivery {
	e.t.Helper()
	var l struct{ Items []freight.WebhookDelivery }
	e.must(http.StatusOK, "GET", hookPath+"/deliveries", e.token, nil).decode(e.t, &l)
	return l.Items
}

// later moves the clock past any backoff and runs the jobs then due.
func (e *env) later() {
	e.clock.Add(2 * time.Hour)
	e.srv.Wait()
}

func TestWebhookDelivery(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL)
		rc := newReceiver(t)
		h := e.mustHook("/api/v1/webhooks", e.token, rc.URL+"/hook?src=freight", freight.EventLicenseIssued)
		if !strings.HasPrefix(h.Secret, freight.WebhookSecretPrefix) || !h.Enabled || h.OrgID != "" {
			t.Fatalf("created webhook = %+v, want enabled, vendor-level, with a whsec_ secret", h)
		}
		hookPath := "/api/v1/webhooks/" + h.ID
		// The secret is shown once.
		for _, path := range []string{hookPath, "/api/v1/webhooks"} {
			if r := e.must(http.StatusOK, "GET", path, e.token, nil); strings.Contains(string(r.body), h.Secret) || strings.Contains(string(r.body), `"secret"`) {
				t.Errorf("GET %s shows the secret: %s", path, r.body)
			}
		}

		e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
		acme := e.mustOrg("acme")
		var lic freight.License
		e.must(http.StatusCreated, "POST", "/api/v1/licenses", e.token, map[string]any{"org_id": acme.ID, "product_id": mustProductID(t, e)}).decode(t, &lic)
		e.srv.Wait()

		got := rc.all()
		if len(got) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(got))
		}
		d := got[0]
		sig := d.header.Get(webhook.HeaderSignature)
		if err := webhook.Verify(h.Secret, sig, d.body, e.clock.Now()); err != nil {
			t.Errorf("Verify(the delivery) = %v; header %q", err, sig)
		}
		tampered := []byte(strings.Replace(string(d.body), acme.ID, "org_00000000000000000000000000", 1))
		if err := webhook.Verify(h.Secret, sig, tampered, e.clock.Now()); !errors.Is(err, webhook.ErrMismatch) {
			t.Errorf("Verify(tampered body) = %v, want ErrMismatch", err)
		}
		if err := webhook.Verify(h.Secret, sig, d.body, e.clock.Now().Add(6*time.Minute)); !errors.Is(err, webhook.ErrTooOld) {
			t.Errorf("Verify(six minutes later) = %v, want ErrTooOld", err)
		}
		var ev struct {
			ID, Type  string
			CreatedAt time.Time `json:"created_at"`
			Data      struct {
				OrgID   string          `json:"org_id"`
				License freight.License `json:"license"`
			}
		}
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatalf("body %s: %v", d.body, err)
		}
		if ev.Type != freight.EventLicenseIssued || ev.Data.License.ID != lic.ID || ev.Data.OrgID != acme.ID || !freight.ValidID(freight.PrefixWebhookEvent, ev.ID) {
			t.Errorf("event = %+v, want license.issued of %s", ev, lic.ID)
		}
		if d.header.Get(webhook.HeaderEventID) != ev.ID || d.header.Get(webhook.HeaderEventType) != ev.Type || d.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v do not match the event %s %s", d.header, ev.ID, ev.Type)
		}

		// The delivery log.
		ds := e.deliveries(hookPath)
		if len(ds) != 1 || ds[0].State != freight.DeliverySucceeded || ds[0].Attempts != 1 || ds[0].LastStatus != 200 || ds[0].EventID != ev.ID {
			t.Fatalf("deliveries = %+v, want one succeeded after one attempt", ds)
		}
		var detail deliveryDetail
		e.must(http.StatusOK, "GET", hookPath+"/deliveries/"+ds[0].ID, e.token, nil).decode(t, &detail)
		if len(detail.AttemptLog) != 1 || detail.AttemptLog[0].StatusCode != 200 || detail.AttemptLog[0].ResponseBody != "answer OK" || detail.AttemptLog[0].Error != "" {
			t.Errorf("attempt log = %+v, want one attempt answered 200 with its body", detail.AttemptLog)
		}
		if !jsonEqualBytes(detail.Payload, d.body) {
			t.Errorf("logged payload %s differs from the body sent %s", detail.Payload, d.body)
		}

		// Running the jobs again sends nothing twice.
		e.later()
		if n := len(rc.all()); n != 1 {
			t.Errorf("after more runs the receiver got %d requests, want 1", n)
		}
		if strings.Contains(e.logs.String(), h.Secret) {
			t.Error("the signing secret appears in the log")
		}
		// Nor does the audit log hold it.
		if r := e.must(http.StatusOK, "GET", "/api/v1/audit", e.token, nil); strings.Contains(string(r.body), h.Secret) {
			t.Error("the signing secret appears in the audit log")
		}
	})
}

func jsonEqualBytes(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestWebhookRetries: answers of 500 are retried with backoff until one
// succeeds, and every attempt is in the log.
func TestWebhookRetries(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL)
		rc := newReceiver(t, 500, 500, 200)
		h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventReleasePublished)
		hookPath := "/api/v1/webhooks/" + h.ID
		var d freight.WebhookDelivery
		e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil).decode(t, &d)
		if d.State != freight.DeliveryPending || d.EventType != freight.EventWebhookTest {
			t.Fatalf("test delivery = %+v, want a pending webhook.test", d)
		}
		e.srv.Wait()
		if n := len(rc.all()); n != 1 {
			t.Fatalf("after the first run the receiver got %d requests, want 1", n)
		}
		// The retry waits for its backoff: running the due jobs now sends nothing.
		e.srv.Wait()
		if n := len(rc.all()); n != 1 {
			t.Fatalf("a retry ran before its backoff: %d requests", n)
		}
		e.later()
		e.later()
		got := rc.all()
		if len(got) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(got))
		}
		// Every attempt sends the same event, signed anew.
		for i, g := range got {
			if string(g.body) != string(got[0].body) || g.header.Get(webhook.HeaderEventID) != d.EventID {
				t.Errorf("attempt %d sent another body or event id", i+1)
			}
		}
		if got[0].header.Get(webhook.HeaderSignature) == got[2].header.Get(webhook.HeaderSignature) {
			t.Error("the retry carries the first attempt's signature; it must be signed at its own time")
		}
		if err := webhook.Verify(h.Secret, got[2].header.Get(webhook.HeaderSignature), got[2].body, e.clock.Now()); err != nil {
			t.Errorf("Verify(third attempt) = %v", err)
		}
		var detail deliveryDetail
		e.must(http.StatusOK, "GET", hookPath+"/deliveries/"+d.ID, e.token, nil).decode(t, &detail)
		var statuses []int
		for _, a := range detail.AttemptLog {
			statuses = append(statuses, a.StatusCode)
		}
		if !slices.Equal(statuses, []int{500, 500, 200}) || detail.State != freight.DeliverySucceeded || detail.Attempts != 3 {
			t.Errorf("delivery %s after %d attempts, statuses %v; want succeeded after 500, 500, 200", detail.State, detail.Attempts, statuses)
		}
		if a := detail.AttemptLog[0]; a.Error != "the endpoint answered 500 Internal Server Error" || a.ResponseBody != "answer Internal Server Error" {
			t.Errorf("first attempt = %+v, want the status in the error and the answer's body", a)
		}
	})
}

// TestWebhookDeadAndRetry: a delivery that keeps failing is dead after its
// last attempt, visible as such, and an admin's retry sends it again.
func TestWebhookDeadAndRetry(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL, func(c *server.Config) { c.Webhooks.Attempts = 3 })
		rc := newReceiver(t, 503, 503, 503, 204)
		h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventReleasePublished)
		hookPath := "/api/v1/webhooks/" + h.ID
		var d freight.WebhookDelivery
		e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil).decode(t, &d)
		wantError(t, e.do("POST", hookPath+"/deliveries/"+d.ID+"/retry", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
		e.srv.Wait()
		for range 4 {
			e.later()
		}
		if n := len(rc.all()); n != 3 {
			t.Fatalf("receiver got %d requests, want 3 (the attempts allowed)", n)
		}
		failed := e.deliveries(hookPath)
		if len(failed) != 1 || failed[0].State != freight.DeliveryFailed || failed[0].Attempts != 3 || failed[0].LastStatus != 503 {
			t.Fatalf("deliveries = %+v, want one failed after 3 attempts", failed)
		}
		var dead struct{ Items []freight.Job }
		e.must(http.StatusOK, "GET", "/api/v1/jobs?state=dead&kind=webhook", e.token, nil).decode(t, &dead)
		if len(dead.Items) != 1 || dead.Items[0].ID != failed[0].JobID {
			t.Errorf("dead webhook jobs = %+v, want the delivery's job %s", dead.Items, failed[0].JobID)
		}
		var retried freight.WebhookDelivery
		e.must(http.StatusAccepted, "POST", hookPath+"/deliveries/"+d.ID+"/retry", e.token, nil).decode(t, &retried)
		if retried.State != freight.DeliveryPending {
			t.Errorf("retried delivery is %s, want pending", retried.State)
		}
		e.srv.Wait()
		if n := len(rc.all()); n != 4 {
			t.Fatalf("after the retry the receiver got %d requests, want 4", n)
		}
		done := e.deliveries(hookPath)
		if done[0].State != freight.DeliverySucceeded || done[0].Attempts != 4 || done[0].LastStatus != 204 {
			t.Errorf("delivery after the retry = %+v, want succeeded after 4 attempts", done[0])
		}
		// A succeeded delivery can be sent once more, with the same event id.
		e.must(http.StatusAccepted, "POST", hookPath+"/deliveries/"+d.ID+"/retry", e.token, nil)
		e.srv.Wait()
		got := rc.all()
		if len(got) != 5 || got[4].header.Get(webhook.HeaderEventID) != d.EventID {
			t.Errorf("redelivery: %d requests, want 5 with event id %s", len(got), d.EventID)
		}
	})
}

// TestWebhookFailures: a timeout and a redirect are failed attempts; the
// redirect is not followed.
func TestWebhookFailures(t *testing.T) {
	e := hookEnv(t, testdb.SQLite(t), func(c *server.Config) { c.Webhooks.Timeout = 200 * time.Millisecond; c.Webhooks.Attempts = 1 })
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	target := newReceiver(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)

	for _, tc := range []struct {
		name, url, wantErr string
		status             int
	}{
		{"Timeout", slow.URL, "no answer within 200ms", 0},
		{"Redirect", redirect.URL, "the endpoint answered 302 Found", 302},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := e.mustHook("/api/v1/webhooks", e.token, tc.url, freight.EventReleasePublished)
			hookPath := "/api/v1/webhooks/" + h.ID
			var d freight.WebhookDelivery
			e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil).decode(t, &d)
			e.srv.Wait()
			var detail deliveryDetail
			e.must(http.StatusOK, "GET", hookPath+"/deliveries/"+d.ID, e.token, nil).decode(t, &detail)
			if detail.State != freight.DeliveryFailed || len(detail.AttemptLog) != 1 {
				t.Fatalf("delivery = %+v, want failed after its one attempt", detail)
			}
			if a := detail.AttemptLog[0]; a.Error != tc.wantErr || a.StatusCode != tc.status {
				t.Errorf("attempt = %+v, want error %q and status %d", a, tc.wantErr, tc.status)
			}
		})
	}
	if n := len(target.all()); n != 0 {
		t.Errorf("the redirect's target got %d requests, want 0: redirects are not followed", n)
	}
}

// TestWebhookSSRF: with the default policy, URLs of loopback and private
// addresses are refused when saved, and a name that resolves to one when
// the delivery is made is refused at the connection.
func TestWebhookSSRF(t *testing.T) {
	e := newEnvAt(t, testdb.SQLite(t), nil, func(c *server.Config) { c.Webhooks.Policy = webhook.Policy{AllowHTTP: true} })
	rc := newReceiver(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	for _, u := range []string{
		rc.URL,                        // http://127.0.0.1:port
		"http://localhost:" + port,    // a name for loopback
		"https://[::1]:" + port,       // IPv6 loopback
		"https://[::ffff:127.0.0.1]/", // IPv4-mapped loopback
		"https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.1/", "https://192.168.1.1/", "https://100.64.0.1/", "https://[fd00::1]/",
		"https://user:secret@hooks.example.com/",
		"ftp://hooks.example.com/",
	} {
		r := e.do("POST", "/api/v1/webhooks", e.token, map[string]any{"url": u, "events": []string{freight.EventReleasePublished}})
		wantError(t, r, http.StatusBadRequest, freight.EINVALID, "url")
	}
	strict := newEnvAt(t, testdb.SQLite(t), nil)
	wantError(t, strict.do("POST", "/api/v1/webhooks", strict.token, map[string]any{"url": "http://203.0.113.10/hook", "events": []string{freight.EventReleasePublished}}),
		http.StatusBadRequest, freight.EINVALID, "url")
	strict.must(http.StatusCreated, "POST", "/api/v1/webhooks", strict.token, map[string]any{"url": "https://203.0.113.10/hook", "events": []string{freight.EventReleasePublished}})

	// DNS rebinding: a webhook saved while its name resolved to a public
	// address, and which resolves to loopback now. The store is written
	// directly, as the URL check of that earlier time would have passed.
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name")
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(addrs) == 0 || webhook.Public(addrs[0]) {
		t.Skipf("the host name %q does not resolve to a non-public address here", host)
	}
	hook := &freight.Webhook{URL: "http://" + net.JoinHostPort(host, port) + "/hook", Events: []string{freight.EventReleasePublished},
		Enabled: true, Secret: freight.NewWebhookSecret()}
	if err := e.store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	var d freight.WebhookDelivery
	e.must(http.StatusAccepted, "POST", "/api/v1/webhooks/"+hook.ID+"/test", e.token, nil).decode(t, &d)
	e.srv.Wait()
	if n := len(rc.all()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests through %s, want 0", n, host)
	}
	var detail deliveryDetail
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+hook.ID+"/deliveries/"+d.ID, e.token, nil).decode(t, &detail)
	if len(detail.AttemptLog) != 1 || !strings.Contains(detail.AttemptLog[0].Error, "is not a public address") || detail.AttemptLog[0].StatusCode != 0 {
		t.Errorf("attempt log = %+v, want one attempt refused at the connection", detail.AttemptLog)
	}
	if detail.State != freight.DeliveryPending {
		t.Errorf("delivery is %s, want pending: DNS may change back, so the connection refusal is retried", detail.State)
	}
}

// TestWebhookTenancy: an organization's webhook hears only of its own
// organization; the vendor's hears everything it subscribed to.
func TestWebhookTenancy(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL)
		e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
		prodID := mustProductID(t, e)
		acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
		e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": acme.ID, "product_id": prodID, "channels": []string{"stable"}})
		// globex is entitled to 2.x only: release 1.0.0 is not its news.
		e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": globex.ID, "product_id": prodID, "channels": []string{"stable"}, "version_range": ">=2.0.0"})
		exp := e.clock.Now().AddDate(1, 0, 0)
		acmeAdmin := e.mustToken(&freight.Token{Name: "aa", Role: freight.RoleOrgAdmin, OrgID: acme.ID, ExpiresAt: &exp})
		acmeMember := e.mustToken(&freight.Token{Name: "am", Role: freight.RoleMember, OrgID: acme.ID, ExpiresAt: &exp})
		globexAdmin := e.mustToken(&freight.Token{Name: "ga", Role: freight.RoleOrgAdmin, OrgID: globex.ID, ExpiresAt: &exp})

		all := freight.WebhookEvents()
		vendorRC, acmeRC, globexRC := newReceiver(t), newReceiver(t), newReceiver(t)
		e.mustHook("/api/v1/webhooks", e.token, vendorRC.URL, all...)
		acmeHook := e.mustHook("/api/v1/organizations/acme/webhooks", acmeAdmin, acmeRC.URL, all...)
		// A vendor admin may manage an organization's webhooks too.
		globexHook := e.mustHook("/api/v1/organizations/globex/webhooks", e.token, globexRC.URL, all...)
		if acmeHook.OrgID != acme.ID || globexHook.OrgID != globex.ID {
			t.Fatalf("org webhooks belong to %q and %q", acmeHook.OrgID, globexHook.OrgID)
		}

		relID := publishWithFile(e, "1.0.0") // acme is entitled
		var arts struct{ Items []freight.Artifact }
		e.must(http.StatusOK, "GET", "/api/v1/releases/"+relID+"/artifacts", e.token, nil).decode(t, &arts)
		// artifact.downloaded is sent when the download completes, not
		// when its URL is handed out.
		var g struct {
			URL string `json:"url"`
		}
		e.must(http.StatusOK, "POST", "/api/v1/artifacts/"+arts.Items[0].ID+"/download", acmeMember, nil).decode(t, &g)
		if resp, err := e.client.Get(g.URL); err != nil {
			t.Fatal(err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		var lic freight.License
		e.must(http.StatusCreated, "POST", "/api/v1/licenses", e.token, map[string]any{"org_id": globex.ID, "product_id": prodID}).decode(t, &lic)
		e.must(http.StatusOK, "POST", "/api/v1/licenses/"+lic.ID+"/revoke", e.token, map[string]any{"reason": "test"})
		e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/yank", e.token, map[string]any{"reason": "test"})
		e.srv.Wait()

		want := map[string][]string{
			"vendor": {freight.EventReleasePublished, freight.EventArtifactDownloaded, freight.EventLicenseIssued, freight.EventLicenseRevoked, freight.EventReleaseYanked},
			"acme":   {freight.EventReleasePublished, freight.EventArtifactDownloaded, freight.EventReleaseYanked},
			"globex": {freight.EventLicenseIssued, freight.EventLicenseRevoked},
		}
		for name, rc := range map[string]*receiver{"vendor": vendorRC, "acme": acmeRC, "globex": globexRC} {
			got := rc.types()
			slices.Sort(got)
			w := slices.Clone(want[name])
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("%s's webhook got %q, want %q", name, got, w)
			}
			for _, d := range rc.all() {
				if name != "vendor" && !strings.HasPrefix(d.header.Get(webhook.HeaderEventType), "release.") &&
					!strings.Contains(string(d.body), map[string]string{"acme": acme.ID, "globex": globex.ID}[name]) {
					t.Errorf("%s's webhook got an event that does not name it: %s", name, d.body)
				}
				other := map[string]string{"acme": globex.ID, "globex": acme.ID}[name]
				if other != "" && strings.Contains(string(d.body), other) {
					t.Errorf("%s's webhook got an event naming the other organization: %s", name, d.body)
				}
			}
		}

		// Each organization manages its own webhooks only.
		wantError(t, e.do("GET", "/api/v1/organizations/globex/webhooks", acmeAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		wantError(t, e.do("GET", "/api/v1/organizations/acme/webhooks/"+globexHook.ID, acmeAdmin, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, e.do("DELETE", "/api/v1/organizations/acme/webhooks/"+globexHook.ID, acmeAdmin, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, e.do("GET", "/api/v1/organizations/acme/webhooks/"+globexHook.ID+"/deliveries", acmeAdmin, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, e.do("GET", "/api/v1/webhooks/"+acmeHook.ID, e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, e.do("GET", "/api/v1/webhooks", acmeAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		var mine struct{ Items []freight.Webhook }
		e.must(http.StatusOK, "GET", "/api/v1/organizations/acme/webhooks", acmeAdmin, nil).decode(t, &mine)
		if len(mine.Items) != 1 || mine.Items[0].ID != acmeHook.ID {
			t.Errorf("acme's webhooks = %+v, want its one", mine.Items)
		}
		var vendorList struct{ Items []freight.Webhook }
		e.must(http.StatusOK, "GET", "/api/v1/webhooks", e.token, nil).decode(t, &vendorList)
		if len(vendorList.Items) != 1 || vendorList.Items[0].OrgID != "" {
			t.Errorf("vendor webhooks = %+v, want the vendor's one only", vendorList.Items)
		}
		var ga struct{ Items []freight.Webhook }
		e.must(http.StatusOK, "GET", "/api/v1/organizations/globex/webhooks", globexAdmin, nil).decode(t, &ga)
		if len(ga.Items) != 1 || ga.Items[0].ID != globexHook.ID {
			t.Errorf("globex's webhooks = %+v", ga.Items)
		}
	})
}

// TestWebhookSameTransaction: deliveries commit with the change that
// causes them or not at all.
func TestWebhookSameTransaction(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := hookEnv(t, dbURL)
		rc := newReceiver(t)
		h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventLicenseRevoked)
		ctx := context.Background()
		org := e.mustOrg("acme")
		boom := errors.New("the change fails after its event was queued")
		err := e.store.Tx(ctx, func(tx freight.Store) error {
			if _, err := tx.UpdateSettings(ctx, func(*freight.Settings) error { return nil }); err != nil {
				return err
			}
			if err := e.srv.Emit(ctx, tx, freight.EventLicenseRevoked, org.ID, map[string]string{"org_id": org.ID}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v", err)
		}
		if ds := e.deliveries("/api/v1/webhooks/" + h.ID); len(ds) != 0 {
			t.Errorf("a failed change left %d deliveries", len(ds))
		}
		jobs, _, err := e.store.Jobs(ctx, freight.JobFilter{Kind: "webhook"})
		if err != nil || len(jobs) != 0 {
			t.Errorf("a failed change left %d webhook jobs (%v)", len(jobs), err)
		}
		e.srv.Wait()
		if n := len(rc.all()); n != 0 {
			t.Errorf("a failed change sent %d deliveries", n)
		}

		// The same change that commits sends its event.
		if err := e.store.Tx(ctx, func(tx freight.Store) error {
			return e.srv.Emit(ctx, tx, freight.EventLicenseRevoked, org.ID, map[string]string{"org_id": org.ID})
		}); err != nil {
			t.Fatal(err)
		}
		e.srv.Wait()
		if n := len(rc.all()); n != 1 {
			t.Errorf("a committed change sent %d deliveries, want 1", n)
		}

		// Through the API: a revocation refused (the license is revoked
		// already) queues nothing.
		e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
		var lic freight.License
		e.must(http.StatusCreated, "POST", "/api/v1/licenses", e.token, map[string]any{"org_id": org.ID, "product_id": mustProductID(t, e)}).decode(t, &lic)
		e.must(http.StatusOK, "POST", "/api/v1/licenses/"+lic.ID+"/revoke", e.token, nil)
		wantError(t, e.do("POST", "/api/v1/licenses/"+lic.ID+"/revoke", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
		e.srv.Wait()
		if n := len(e.deliveries("/api/v1/webhooks/" + h.ID)); n != 2 {
			t.Errorf("deliveries = %d, want 2: one per committed change", n)
		}
	})
}

func TestWebhookRotation(t *testing.T) {
	e := hookEnv(t, testdb.SQLite(t))
	rc := newReceiver(t)
	h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventReleasePublished)
	hookPath := "/api/v1/webhooks/" + h.ID
	var rot createdHook
	e.must(http.StatusOK, "POST", hookPath+"/rotate-secret", e.token, nil).decode(t, &rot)
	if rot.Secret == h.Secret || !strings.HasPrefix(rot.Secret, freight.WebhookSecretPrefix) || rot.PreviousSecretExpiresAt == nil ||
		!rot.PreviousSecretExpiresAt.Equal(e.clock.Now().Add(server.DefaultWebhookGrace)) {
		t.Fatalf("rotation = %+v, want a new secret and the old one kept for the default grace", rot)
	}
	e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil)
	e.srv.Wait()
	d := rc.all()[0]
	sig := d.header.Get(webhook.HeaderSignature)
	if strings.Count(sig, "v1=") != 2 {
		t.Errorf("signature during the grace = %q, want two v1 values", sig)
	}
	for _, s := range []string{h.Secret, rot.Secret} {
		if err := webhook.Verify(s, sig, d.body, e.clock.Now()); err != nil {
			t.Errorf("Verify with one of the secrets during the grace = %v", err)
		}
	}
	// After the grace, the old secret signs no more.
	e.clock.Add(server.DefaultWebhookGrace)
	e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil)
	e.srv.Wait()
	d = rc.all()[1]
	sig = d.header.Get(webhook.HeaderSignature)
	if err := webhook.Verify(h.Secret, sig, d.body, e.clock.Now()); !errors.Is(err, webhook.ErrMismatch) {
		t.Errorf("Verify with the old secret after the grace = %v, want ErrMismatch", err)
	}
	if err := webhook.Verify(rot.Secret, sig, d.body, e.clock.Now()); err != nil {
		t.Errorf("Verify with the new secret = %v", err)
	}
	// A rotation without grace ends the old secret at once.
	var now createdHook
	e.must(http.StatusOK, "POST", hookPath+"/rotate-secret", e.token, map[string]any{"grace_seconds": 0}).decode(t, &now)
	if now.PreviousSecretExpiresAt != nil {
		t.Errorf("rotation without grace keeps the previous secret until %v", now.PreviousSecretExpiresAt)
	}
	wantError(t, e.do("POST", hookPath+"/rotate-secret", e.token, map[string]any{"grace_seconds": 8 * 86400}), http.StatusBadRequest, freight.EINVALID, "grace_seconds")
}

func TestWebhookAPI(t *testing.T) {
	e := hookEnv(t, testdb.SQLite(t))
	rc := newReceiver(t)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"NoEvents", map[string]any{"url": rc.URL}, "events"},
		{"UnknownEvent", map[string]any{"url": rc.URL, "events": []string{"release.deleted"}}, "events"},
		{"TestEventNotSubscribable", map[string]any{"url": rc.URL, "events": []string{freight.EventWebhookTest}}, "events"},
		{"NoURL", map[string]any{"events": []string{freight.EventReleasePublished}}, "url"},
		{"UnknownField", map[string]any{"url": rc.URL, "events": []string{freight.EventReleasePublished}, "secret": "whsec_mine"}, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/v1/webhooks", e.token, tc.body), http.StatusBadRequest, freight.EINVALID, tc.field)
		})
	}
	h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventReleasePublished)
	hookPath := "/api/v1/webhooks/" + h.ID
	var changed freight.Webhook
	e.must(http.StatusOK, "PATCH", hookPath, e.token, map[string]any{"enabled": false, "events": []string{freight.EventLicenseIssued, freight.EventReleaseYanked}}).decode(t, &changed)
	if changed.Enabled || changed.URL != h.URL || !slices.Equal(changed.Events, []string{freight.EventLicenseIssued, freight.EventReleaseYanked}) {
		t.Errorf("after PATCH = %+v", changed)
	}
	wantError(t, e.do("PATCH", hookPath, e.token, map[string]any{"url": "https://127.0.0.1.example/x#frag"}), http.StatusBadRequest, freight.EINVALID, "url")

	// A disabled webhook still takes test events, and nothing else.
	e.must(http.StatusAccepted, "POST", hookPath+"/test", e.token, nil)
	e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
	org := e.mustOrg("acme")
	e.must(http.StatusCreated, "POST", "/api/v1/licenses", e.token, map[string]any{"org_id": org.ID, "product_id": mustProductID(t, e)})
	e.srv.Wait()
	if got := rc.types(); !slices.Equal(got, []string{freight.EventWebhookTest}) {
		t.Errorf("disabled webhook got %q, want the test event only", got)
	}
	wantError(t, e.do("GET", hookPath+"/deliveries?state=lost", e.token, nil), http.StatusBadRequest, freight.EINVALID, "state")
	wantError(t, e.do("GET", hookPath+"/deliveries/whd_00000000000000000000000000", e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")

	e.must(http.StatusNoContent, "DELETE", hookPath, e.token, nil)
	wantError(t, e.do("GET", hookPath, e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	var audit struct{ Items []freight.AuditEvent }
	e.must(http.StatusOK, "GET", "/api/v1/audit?target_type=webhook", e.token, nil).decode(t, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	for _, want := range []string{"webhook.create", "webhook.update", "webhook.test", "webhook.delete"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit actions %q lack %s", actions, want)
		}
	}
}

// readmeBlock returns the code block that follows the marker comment in
// the README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- "+marker+" -->\n")
	if !ok {
		t.Fatalf("the README has no %q block", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the opening fence
	code, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("the README's %q block does not end", marker)
	}
	return code + "\n"
}

// TestWebhookReadmeRecipe runs the README's verification recipes, the
// shell one and the Go function, against a delivery the server really
// sent, and against a tampered copy of it.
func TestWebhookReadmeRecipe(t *testing.T) {
	e := hookEnv(t, testdb.SQLite(t))
	rc := newReceiver(t)
	h := e.mustHook("/api/v1/webhooks", e.token, rc.URL, freight.EventReleasePublished)
	e.must(http.StatusAccepted, "POST", "/api/v1/webhooks/"+h.ID+"/test", e.token, nil)
	e.srv.Wait()
	got := rc.all()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	sig, body := got[0].header.Get(webhook.HeaderSignature), got[0].body
	tampered := []byte(strings.Replace(string(body), "test event", "TEST event", 1))
	if string(tampered) == string(body) {
		t.Fatal("the tampered body is the body")
	}

	t.Run("Shell", func(t *testing.T) {
		for _, tool := range []string{"bash", "openssl"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
		}
		script := readmeBlock(t, "verify-webhook.sh")
		run := func(secret string, body []byte) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SECRET="+secret, "SIG="+sig)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the README's shell recipe failed: %v\n%s", err, out)
			}
			return strings.TrimSpace(string(out))
		}
		if got := run(h.Secret, body); got != "valid" {
			t.Errorf("shell recipe on the real delivery says %q, want valid", got)
		}
		if got := run(h.Secret, tampered); got != "invalid" {
			t.Errorf("shell recipe on a tampered body says %q, want invalid", got)
		}
		if got := run(freight.NewWebhookSecret(), body); got != "invalid" {
			t.Errorf("shell recipe with another secret says %q, want invalid", got)
		}
	})

	t.Run("Go", func(t *testing.T) {
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Skip("the go command is not on the PATH")
		}
		dir := t.TempDir()
		prog := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

` + readmeBlock(t, "verify-webhook.go") + `
func main() {
	for _, name := range os.Args[1:] {
		body, err := os.ReadFile(name)
		if err != nil {
			panic(err)
		}
		fmt.Println(verify(os.Getenv("SECRET"), os.Getenv("SIG"), body, time.Now()))
	}
}
`
		for name, data := range map[string][]byte{"main.go": []byte(prog), "body.json": body, "tampered.json": tampered} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(goTool, "run", "main.go", "body.json", "tampered.json")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SECRET="+h.Secret, "SIG="+sig, "GO111MODULE=off", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the README's Go function does not run: %v\n%s", err, out)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, []string{"true", "false"}) {
			t.Errorf("the README's Go function says %q for the real and the tampered body, want true false", got)
		}
	})
}

// TestLicenseIssuedMail: issuing a license mails the organization's
// enabled org-admins, through the mail job, into the outbox.
func TestLicenseIssuedMail(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		dir := filepath.Join(t.TempDir(), "outbox")
		ob, err := outbox.New(dir, "Freight <noreply@vendor.example>", nil)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvAt(t, dbURL, nil, func(c *server.Config) { c.Mailer = ob })
		e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD Suite"})
		acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
		e.mustUser("olga@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
		e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
		dora := e.mustUser("dora@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
		if _, err := e.store.UpdateUser(context.Background(), dora.ID, func(u *freight.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		e.mustUser("gus@globex.example", goodPassword, "", globex, freight.RoleOrgAdmin)

		var lic freight.License
		exp := e.clock.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)
		e.must(http.StatusCreated, "POST", "/api/v1/licenses", e.token, map[string]any{"org_id": acme.ID, "product_id": mustProductID(t, e), "expires_at": exp}).decode(t, &lic)
		e.srv.Wait()
		mails := outboxMails(t, dir)
		if len(mails) != 1 || mails[0].to != "olga@acme.example" {
			t.Fatalf("license mails = %+v, want one to olga (ann is a member, dora disabled, gus of globex)", mails)
		}
		m := mails[0]
		for _, want := range []string{"A license for CAD Suite was issued to Acme", e.url + "/licenses", "It expires on"} {
			if !strings.Contains(m.subject+"\n"+m.text, want) {
				t.Errorf("mail lacks %q:\n%s\n%s", want, m.subject, m.text)
			}
		}
		// An amendment is a license issued too.
		e.must(http.StatusCreated, "POST", "/api/v1/licenses/"+lic.ID+"/amend", e.token, map[string]any{"seats": 5})
		e.srv.Wait()
		if n := len(outboxMails(t, dir)); n != 2 {
			t.Errorf("after an amendment %d license mails, want 2", n)
		}
		// A license refused sends nothing.
		e.do("POST", "/api/v1/licenses", e.token, map[string]any{"org_id": acme.ID, "product_id": "prd_00000000000000000000000000"})
		e.srv.Wait()
		if n := len(outboxMails(t, dir)); n != 2 {
			t.Errorf("after a refused license %d license mails, want 2", n)
		}
	})
}

type outboxMail struct{ to, subject, text string }

// outboxMails reads the license-issued mails in the outbox folder.
func outboxMails(t *testing.T, dir string) []outboxMail {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*-license-issued-*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []outboxMail
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(msg.Body)
		f.Close()
		text, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(raw))))
		to, _ := netmail.ParseAddress(msg.Header.Get("To"))
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		out = append(out, outboxMail{to: to.Address, subject: subject, text: string(text)})
	}
	return out
}
