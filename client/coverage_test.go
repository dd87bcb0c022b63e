package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
	"github.com/freight-portal/freight/licensefile"
	"github.com/freight-portal/freight/mfa"
	"github.com/freight-portal/freight/oidc"
	"github.com/freight-portal/freight/password"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
	"github.com/freight-portal/freight/webhook"
)

// outsideClient lists the routes the client does not cover, each with the
// reason. The web pages and their assets (Route.Page) are outside it too:
// they are for browsers.
var outsideClient = map[string]string{
	"GET /auth/oidc/{provider}/start":    "a browser navigation to an OpenID provider",
	"GET /auth/oidc/{provider}/callback": "the OpenID provider sends the browser back here",
	"POST /api/v1/auth/cli/authorize":    "the person's Allow on the command-line sign-in page: a browser form with the session cookie",
	"POST /api/v1/edge/heartbeat":        "the edge nodes' own API, which package edge calls",
	"POST /api/v1/edge/events":           "the edge nodes' own API, which package edge calls",
	"GET /api/v1/edge/blobs/{sha256}":    "the edge nodes' own API, which package edge calls",
	"GET /d/{token}/{name}":              "a download URL that a grant names: any HTTP client fetches it, and cmd/freight's download does (segmented, resumable)",
	"GET /metrics":                       "Prometheus's text format, for a scraper",
	"GET /api/docs":                      "the API description as a page for people",
}

// byHand marks the requests the test makes itself, to routes outside the
// client: the recorder leaves them out, so that the routes recorded are
// those the client's methods reached.
const byHand = "Coverage-By-Hand"

// recorder records the route pattern of every request that the server
// answered with a success. The server's outer muxes hide the pattern the
// inner one matched (r.Pattern is set on a copy of the request), so the
// match is computed by a mux built from the server's own route list.
type recorder struct {
	mux  *http.ServeMux
	mu   sync.Mutex
	seen map[string]bool
}

func newRecorder(routes []server.Route) *recorder {
	rec := &recorder{mux: http.NewServeMux(), seen: map[string]bool{}}
	for _, r := range routes {
		rec.mux.Handle(r.Pattern, http.NotFoundHandler())
	}
	return rec
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(byHand) != "" {
			h.ServeHTTP(w, r)
			return
		}
		_, pattern := rec.mux.Handler(r)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if pattern != "" && sw.status/100 == 2 {
			rec.mu.Lock()
			rec.seen[pattern] = true
			rec.mu.Unlock()
		}
	})
}

func (rec *recorder) patterns() map[string]bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return maps.Clone(rec.seen)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// testClock is the server's clock, which the test moves on so that each
// TOTP code belongs to a new time step.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailbox keeps the mail the server sends.
type mailbox struct {
	mu   sync.Mutex
	msgs []freight.Message
}

func (m *mailbox) Send(_ context.Context, msg *freight.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, *msg)
	return nil
}

// hookReceiver is a webhook endpoint: it keeps every delivery, and
// answers 500 on /fail.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

type received struct {
	path, signature, eventID string
	body                     []byte
	event                    webhook.Event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc := received{path: r.URL.Path, signature: r.Header.Get(webhook.HeaderSignature), eventID: r.Header.Get(webhook.HeaderEventID), body: body}
		json.Unmarshal(body, &rc.event)
		h.mu.Lock()
		h.got = append(h.got, rc)
		h.mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "receiver down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// of returns the deliveries of an event type received on path.
func (h *hookReceiver) of(path, typ string) []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []received
	for _, r := range h.got {
		if r.path == path && r.event.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// coverage is a real server on SQLite and local files, with the peers the
// routes need: a mailbox, a webhook receiver and an OpenID provider's
// discovery document.
type coverage struct {
	t     *testing.T
	ctx   context.Context
	srv   *server.Server
	db    *sqlstore.DB
	url   string
	clock *testClock
	mail  *mailbox
	hooks *hookReceiver
	rec   *recorder
	admin *client.Client
}

var passwordParams = password.Params{Memory: 64, Time: 1, Threads: 1}

func newCoverage(t *testing.T) *coverage {
	ctx := context.Background()
	logger, db, blobs := openStores(t)
	var opURL string
	op := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": opURL, "authorization_endpoint": opURL + "/authorize",
			"token_endpoint": opURL + "/token", "jwks_uri": opURL + "/keys", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	t.Cleanup(op.Close)
	opURL = op.URL
	provider, err := oidc.New(ctx, oidc.ProviderConfig{Name: "corp", DisplayName: "Corp SSO", Issuer: op.URL, ClientID: "freight",
		RedirectURL: "http://127.0.0.1/auth/oidc/corp/callback"}, oidc.Options{Key: bytes.Repeat([]byte{7}, oidc.KeySize), InsecureCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &coverage{t: t, ctx: ctx, db: db, clock: &testClock{now: time.Now().UTC().Truncate(time.Microsecond)}, mail: &mailbox{}, hooks: newHookReceiver(t)}
	c.srv = server.New(db, blobs, logger, server.Config{
		Version: "coverage", Now: c.clock.Now, PartSize: 5 << 20, Mailer: c.mail, PasswordParams: passwordParams,
		InsecureCookies: true, SignInBurst: 1000, RateLimits: server.NoRateLimits(), Providers: []*oidc.Provider{provider},
		Webhooks: server.WebhookConfig{Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}, Attempts: 1},
	})
	c.rec = newRecorder(c.srv.Routes())
	hs := httptest.NewServer(c.rec.wrap(c.srv))
	t.Cleanup(hs.Close)
	c.url = hs.URL
	admin := &freight.User{Email: "root@vendor.example", Name: "Root", VendorRole: freight.RoleAdmin}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	exp := c.clock.Now().Add(24 * time.Hour)
	secret, err := freight.IssueToken(ctx, db, &freight.Token{Name: "admin", UserID: admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp}, c.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.admin = client.New(c.url, secret)
	return c
}

// completeUpload calls CompleteUpload and, while the server waits for the
// verification, runs the due jobs, the verification among them: the test's
// server runs no job worker.
func (c *coverage) completeUpload(cl *client.Client, uploadID string) (*freight.Artifact, error) {
	type result struct {
		a   *freight.Artifact
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := cl.CompleteUpload(c.ctx, uploadID)
		done <- result{a, err}
	}()
	for {
		select {
		case r := <-done:
			return r.a, r.err
		case <-time.After(20 * time.Millisecond):
			c.srv.Wait()
		}
	}
}

// answer is the answer of a call and its error, until in checks it.
type answer[T any] struct {
	v   T
	err error
}

// must keeps an answer for in.
func must[T any](v T, err error) answer[T] { return answer[T]{v, err} }

// in fails the test at once when the call failed, and returns the answer.
func (a answer[T]) in(t *testing.T) T {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%v (code %s)", a.err, freight.ErrorCode(a.err))
	}
	return a.v
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v (code %s)", err, freight.ErrorCode(err))
	}
}

// wantCode checks that err is a freight error with the code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if freight.ErrorCode(err) != code {
		t.Errorf("%s: %v (code %q), want code %s", what, err, freight.ErrorCode(err), code)
	}
}

var linkToken = regexp.MustCompile(`[?&]token=([^\s&"<>]+)`)

// link runs the due jobs and returns the token of the last link mailed to
// addr.
func (c *coverage) link(addr string) string {
	c.t.Helper()
	c.srv.Wait()
	c.mail.mu.Lock()
	defer c.mail.mu.Unlock()
	for i := len(c.mail.msgs) - 1; i >= 0; i-- {
		if m := c.mail.msgs[i]; m.To == addr {
			if sm := linkToken.FindStringSubmatch(m.Text); sm != nil {
				tok, err := url.QueryUnescape(sm[1])
				if err != nil {
					c.t.Fatal(err)
				}
				return tok
			}
		}
	}
	c.t.Fatalf("no link mailed to %s", addr)
	return ""
}

// signIn signs a person in with a password and answers the session's
// client.
func (c *coverage) signIn(email, pw string) (*client.SignIn, *client.Client) {
	c.t.Helper()
	si := client.NewSignIn(c.url)
	if asked, err := si.Password(c.ctx, email, pw); err != nil || asked {
		c.t.Fatalf("signing in %s: second factor asked %v, %v", email, asked, err)
	}
	return si, si.Client()
}

// handRequest sends a request the client does not make, marked so that
// the recorder leaves it out.
func (c *coverage) handRequest(hc *http.Client, method, url string, body any) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set(byHand, "1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// TestEveryRoute calls every method of the client against a real server
// and checks each answer, then checks that the calls reached every route
// of the server except those listed in outsideClient: a route added to the
// server without a method in the client fails it.
func TestEveryRoute(t *testing.T) {
	c := newCoverage(t)
	w := &world{}
	c.operations()
	c.vendorWebhook(w)
	c.products(w)
	c.organizations(w)
	c.people(w)
	c.tokens(w)
	c.entitlements(w)
	c.delivery(w)
	c.licenses(w)
	c.edges()
	c.webhooks(w)
	c.account(w)
	c.audit(w)

	routes := c.srv.Routes()
	all := map[string]bool{}
	for _, r := range routes {
		all[r.Pattern] = true
	}
	want := map[string]bool{}
	for _, r := range routes {
		if !r.Page && outsideClient[r.Pattern] == "" {
			want[r.Pattern] = true
		}
	}
	for p := range outsideClient {
		if !all[p] {
			t.Errorf("outsideClient names %q, which is not a route of the server", p)
		}
	}
	got := c.rec.patterns()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if !got[p] {
			t.Errorf("no client method reached %s", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if !want[p] {
			t.Errorf("a client method reached %s, which is listed outside the client", p)
		}
	}
	t.Logf("%d routes reached by the client, %d pages and %d other routes outside it", len(got), len(routes)-len(want)-len(outsideClient), len(outsideClient))
	if len(want) < 120 {
		t.Errorf("only %d routes to cover: the route list looks wrong", len(want))
	}
}

// world holds what the sections create for the sections after them.
type world struct {
	product      *freight.Product
	release      *freight.Release
	artifact     *freight.Artifact
	content      []byte
	acme, globex *freight.Organization
	olga         *freight.User // org-admin of acme, member of globex
	olgaPassword string
	staff        *freight.User
	member       *client.Client // acme's service account
	vendorHook   *client.WebhookWithSecret
}

// operations: health, the API description, sign-in providers, settings and
// signing keys.
func (c *coverage) operations() {
	t, ctx, a := c.t, c.ctx, c.admin
	if h := must(a.Health(ctx)).in(t); h.Status != "ok" || h.Version != "coverage" {
		t.Errorf("Health = %+v", h)
	}
	if h := must(a.Ready(ctx)).in(t); h.Status != "ready" {
		t.Errorf("Ready = %+v", h)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	check(t, json.Unmarshal(must(a.OpenAPI(ctx)).in(t), &doc))
	if !strings.HasPrefix(doc.OpenAPI, "3.1") || doc.Paths["/api/v1/organizations/{org}/webhooks"] == nil {
		t.Errorf("OpenAPI: version %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
	if ps := must(client.New(c.url, "").SignInProviders(ctx)).in(t); len(ps) != 1 || ps[0].Name != "corp" || ps[0].DisplayName != "Corp SSO" || ps[0].StartURL != "/auth/oidc/corp/start" {
		t.Errorf("SignInProviders = %+v", ps)
	}
	if me := must(a.Me(ctx)).in(t); me.Role != freight.RoleAdmin || me.User == nil || me.User.Email != "root@vendor.example" || me.TokenID == "" {
		t.Errorf("Me = %+v", me)
	}

	on, off := true, false
	if s := must(a.UpdateSettings(ctx, client.SettingsUpdate{RequireVendorMFA: &on})).in(t); !s.RequireVendorMFA {
		t.Errorf("UpdateSettings(on) = %+v", s)
	}
	if s := must(a.Settings(ctx)).in(t); !s.RequireVendorMFA {
		t.Errorf("Settings = %+v, want vendor MFA required", s)
	}
	if s := must(a.UpdateSettings(ctx, client.SettingsUpdate{RequireVendorMFA: &off})).in(t); s.RequireVendorMFA {
		t.Errorf("UpdateSettings(off) = %+v", s)
	}

	k1 := must(a.RotateSigningKey(ctx, "")).in(t)
	k2 := must(a.RotateSigningKey(ctx, freight.KeyGrants)).in(t)
	if k1.ID == k2.ID || k2.Purpose != freight.KeyGrants || len(k2.Public) != ed25519.PublicKeySize {
		t.Errorf("RotateSigningKey = %+v after %+v", k2, k1)
	}
	if k := must(a.RetireSigningKey(ctx, "", k1.ID)).in(t); k.ID != k1.ID || k.RetiredAt == nil {
		t.Errorf("RetireSigningKey = %+v", k)
	}
	keys := must(a.SigningKeys(ctx, "")).in(t)
	if i := slices.IndexFunc(keys, func(k *freight.SigningKey) bool { return k.ID == k1.ID }); i < 0 || keys[i].RetiredAt == nil {
		t.Errorf("SigningKeys: %d keys, want %s retired among them", len(keys), k1.ID)
	}
	pub := must(a.PublicKeys(ctx, "")).in(t)
	ids := []string{}
	for _, k := range pub {
		ids = append(ids, k.ID)
	}
	if !slices.Contains(ids, k2.ID) || slices.Contains(ids, k1.ID) {
		t.Errorf("PublicKeys(grants) = %v: want %s and not the retired %s", ids, k2.ID, k1.ID)
	}
	lk := must(a.RotateSigningKey(ctx, freight.KeyLicenses)).in(t)
	if ks := must(a.SigningKeys(ctx, freight.KeyLicenses)).in(t); len(ks) != 1 || ks[0].ID != lk.ID || ks[0].Purpose != freight.KeyLicenses {
		t.Errorf("SigningKeys(licenses) = %+v, want %s only", ks, lk.ID)
	}
}

// vendorWebhook subscribes a vendor webhook to releases and licenses
// before they happen, so that later sections can check its events.
func (c *coverage) vendorWebhook(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	h := must(a.CreateWebhook(ctx, "", client.NewWebhook{URL: c.hooks.URL + "/vendor", Description: "all releases",
		Events: []string{freight.EventReleasePublished}})).in(t)
	if !strings.HasPrefix(h.Secret, freight.WebhookSecretPrefix) || h.OrgID != "" || !h.Enabled {
		t.Errorf("CreateWebhook = %+v", h)
	}
	w.vendorHook = h
}

// products: products, releases, artifacts and uploads.
func (c *coverage) products(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	w.product = must(a.CreateProduct(ctx, "cad", "CAD Suite", "3D design")).in(t)
	if p := must(a.Product(ctx, "cad")).in(t); p.ID != w.product.ID || p.Name != "CAD Suite" {
		t.Errorf("Product = %+v", p)
	}
	desc, on := "3D design and simulation", true
	if p := must(a.UpdateProduct(ctx, w.product.ID, client.ProductUpdate{Description: &desc, PrefetchEdges: &on})).in(t); p.Description != desc || !p.PrefetchEdges || p.Name != "CAD Suite" {
		t.Errorf("UpdateProduct = %+v", p)
	}
	tmp := must(a.CreateProduct(ctx, "tmp", "Temporary", "")).in(t)
	if l := must(a.Products(ctx, freight.Page{})).in(t); len(l.Items) != 2 {
		t.Errorf("Products = %d items, want 2", len(l.Items))
	}
	check(t, a.DeleteProduct(ctx, tmp.Slug))
	_, err := a.Product(ctx, "tmp")
	wantCode(t, "deleted product", err, freight.ENOTFOUND)

	rel := must(a.CreateRelease(ctx, "cad", "1.0.0", freight.ChannelBeta, "First.")).in(t)
	stable, notes := freight.ChannelStable, "First release."
	if r := must(a.UpdateRelease(ctx, rel.ID, client.ReleaseUpdate{Channel: &stable, Notes: &notes})).in(t); r.Channel != stable || r.Notes != notes || r.State != freight.ReleaseDraft {
		t.Errorf("UpdateRelease = %+v", r)
	}
	w.content = []byte("the CAD suite's installer, in a few bytes")
	sum := sha256.Sum256(w.content)
	digest := hex.EncodeToString(sum[:])
	ca := must(a.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "cad.msi", Platform: "windows", Arch: "x86_64", Size: int64(len(w.content)), SHA256: digest})).in(t)
	urls := must(a.PartURLs(ctx, ca.Upload.ID, []int{1})).in(t)
	if len(urls.URLs) != 1 || urls.URLs[0].Size != int64(len(w.content)) {
		t.Fatalf("PartURLs = %+v", urls)
	}
	check(t, a.PutPart(ctx, urls.URLs[0].URL, bytes.NewReader(w.content), int64(len(w.content))))
	if up := must(a.Upload(ctx, ca.Upload.ID)).in(t); len(up.Received) != 1 || up.Received[0].Size != int64(len(w.content)) {
		t.Errorf("Upload = %+v", up)
	}
	if ups := must(a.Uploads(ctx, ca.Artifact.ID, freight.UploadOpen)).in(t); len(ups) != 1 || ups[0].ID != ca.Upload.ID {
		t.Errorf("Uploads(open) = %+v", ups)
	}
	w.artifact = must(c.completeUpload(a, ca.Upload.ID)).in(t)
	if w.artifact.State != freight.ArtifactAvailable || w.artifact.SHA256 != digest {
		t.Errorf("CompleteUpload = %+v", w.artifact)
	}
	if got := must(a.Artifact(ctx, w.artifact.ID)).in(t); got.Filename != "cad.msi" || got.State != freight.ArtifactAvailable {
		t.Errorf("Artifact = %+v", got)
	}

	// A second file, abandoned: its upload aborted, then the file deleted.
	ca2 := must(a.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "cad.dmg", Platform: "macos", Arch: "arm64", Size: 10})).in(t)
	check(t, a.AbortUpload(ctx, ca2.Upload.ID))
	if ups := must(a.Uploads(ctx, ca2.Artifact.ID, freight.UploadAborted)).in(t); len(ups) != 1 {
		t.Errorf("Uploads(aborted) = %+v", ups)
	}
	check(t, a.DeleteArtifact(ctx, ca2.Artifact.ID))
	if as := must(a.Artifacts(ctx, rel.ID, freight.Page{})).in(t); len(as.Items) != 1 || as.Items[0].ID != w.artifact.ID {
		t.Errorf("Artifacts = %+v, want cad.msi only", as.Items)
	}

	w.release = must(a.PublishRelease(ctx, rel.ID)).in(t)
	if w.release.State != freight.ReleasePublished || w.release.PublishedAt == nil {
		t.Errorf("PublishRelease = %+v", w.release)
	}
	if r := must(a.Release(ctx, rel.ID)).in(t); r.State != freight.ReleasePublished {
		t.Errorf("Release = %+v", r)
	}

	// A draft deleted, and a release published and yanked.
	draft := must(a.CreateRelease(ctx, "cad", "0.9.0", "", "")).in(t)
	check(t, a.DeleteRelease(ctx, draft.ID))
	_, err = a.Release(ctx, draft.ID)
	wantCode(t, "deleted release", err, freight.ENOTFOUND)
	bad := must(a.CreateRelease(ctx, "cad", "1.1.0", "", "Broken.")).in(t)
	must(a.PublishRelease(ctx, bad.ID)).in(t)
	if r := must(a.YankRelease(ctx, bad.ID, "corrupt installer")).in(t); r.State != freight.ReleaseYanked || r.YankReason != "corrupt installer" {
		t.Errorf("YankRelease = %+v", r)
	}
	if l := must(a.Releases(ctx, "cad", client.ReleaseFilter{State: freight.ReleasePublished}, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].Version != "1.0.0" {
		t.Errorf("Releases(published) = %+v", l.Items)
	}

	// The vendor webhook heard of both publications.
	c.srv.Wait()
	var versions []string
	for _, r := range c.hooks.of("/vendor", freight.EventReleasePublished) {
		var data struct {
			Release freight.Release `json:"release"`
		}
		check(t, json.Unmarshal(r.event.Data, &data))
		versions = append(versions, data.Release.Version)
		if err := webhook.Verify(w.vendorHook.Secret, r.signature, r.body, c.clock.Now()); err != nil {
			t.Errorf("release.published signature: %v", err)
		}
	}
	if slices.Sort(versions); !slices.Equal(versions, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("vendor webhook received release.published of %v, want 1.0.0 and 1.1.0", versions)
	}
}

// organizations: organizations, invitations and members.
func (c *coverage) organizations(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	w.acme = must(a.CreateOrganization(ctx, "acme", "Acme")).in(t)
	w.globex = must(a.CreateOrganization(ctx, "globex", "Globex")).in(t)
	name, region, on := "Acme Corporation", "eu-west", true
	if o := must(a.UpdateOrganization(ctx, "acme", client.OrganizationUpdate{Name: &name, Region: &region, RequireMFA: &on})).in(t); o.Name != name || o.Region != region || !o.RequireMFA {
		t.Errorf("UpdateOrganization = %+v", o)
	}
	off := false
	must(a.UpdateOrganization(ctx, w.acme.ID, client.OrganizationUpdate{RequireMFA: &off})).in(t)
	if o := must(a.Organization(ctx, w.acme.ID)).in(t); o.Slug != "acme" || o.Name != name || o.RequireMFA {
		t.Errorf("Organization = %+v", o)
	}
	doomed := must(a.CreateOrganization(ctx, "doomed", "Doomed")).in(t)
	if l := must(a.Organizations(ctx, freight.Page{})).in(t); len(l.Items) != 3 {
		t.Errorf("Organizations = %d items, want 3", len(l.Items))
	}
	check(t, a.DeleteOrganization(ctx, doomed.Slug))
	_, err := a.Organization(ctx, "doomed")
	wantCode(t, "deleted organization", err, freight.ENOTFOUND)

	inv := must(a.Invite(ctx, "acme", "olga@acme.example", freight.RoleOrgAdmin)).in(t)
	if inv.Email != "olga@acme.example" || inv.OrgID != w.acme.ID || inv.Role != freight.RoleOrgAdmin || inv.Inviter != "Root" {
		t.Errorf("Invite = %+v", inv)
	}
	late := must(a.Invite(ctx, w.acme.ID, "late@acme.example", freight.RoleMember)).in(t)
	if l := must(a.Invitations(ctx, "acme", freight.Page{})).in(t); len(l.Items) != 2 {
		t.Errorf("Invitations = %d, want 2", len(l.Items))
	}
	if got := must(a.WithdrawInvitation(ctx, "acme", late.ID)).in(t); got.ID != late.ID || got.RevokedAt == nil {
		t.Errorf("WithdrawInvitation = %+v", got)
	}
	if l := must(a.Invitations(ctx, "acme", freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].ID != inv.ID {
		t.Errorf("Invitations after a withdrawal = %+v", l.Items)
	}
	anon := client.New(c.url, "")
	w.olgaPassword = "Tundra-Marble-42x"
	w.olga = must(anon.AcceptInvitation(ctx, c.link("olga@acme.example"), "Olga", w.olgaPassword)).in(t)
	if w.olga.Email != "olga@acme.example" || !w.olga.EmailVerified {
		t.Errorf("AcceptInvitation = %+v", w.olga)
	}
	if m := must(a.PutMember(ctx, "globex", w.olga.ID, freight.RoleMember)).in(t); m.OrgID != w.globex.ID || m.Role != freight.RoleMember {
		t.Errorf("PutMember = %+v", m)
	}
	if l := must(a.Members(ctx, "acme", freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].UserID != w.olga.ID || l.Items[0].Role != freight.RoleOrgAdmin {
		t.Errorf("Members = %+v", l.Items)
	}
}

// people: users and vendor staff.
func (c *coverage) people(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	inv := must(a.InviteStaff(ctx, "pat@vendor.example", freight.RolePublisher)).in(t)
	if inv.VendorRole != freight.RolePublisher || inv.OrgID != "" {
		t.Errorf("InviteStaff = %+v", inv)
	}
	w.staff = must(client.New(c.url, "").AcceptInvitation(ctx, c.link("pat@vendor.example"), "Pat", "Quarry-Lantern-77q")).in(t)
	if w.staff.VendorRole != freight.RolePublisher {
		t.Errorf("staff accepted as %+v", w.staff)
	}

	carl := must(a.CreateUser(ctx, "carl@acme.example", "Carl", "")).in(t)
	name := "Carl Carlsson"
	if u := must(a.UpdateUser(ctx, carl.ID, client.UserUpdate{Name: &name})).in(t); u.Name != name || u.Email != "carl@acme.example" {
		t.Errorf("UpdateUser = %+v", u)
	}
	if u := must(a.User(ctx, carl.ID)).in(t); u.Name != name {
		t.Errorf("User = %+v", u)
	}
	must(a.PutMember(ctx, "acme", carl.ID, freight.RoleMember)).in(t)
	if l := must(a.UserMemberships(ctx, carl.ID, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].OrgID != w.acme.ID {
		t.Errorf("UserMemberships = %+v", l.Items)
	}
	emails := func(f client.UserFilter) []string {
		var out []string
		for _, u := range must(a.Users(ctx, f, freight.Page{})).in(t).Items {
			out = append(out, u.Email)
		}
		slices.Sort(out)
		return out
	}
	if got := emails(client.UserFilter{Org: "acme"}); !slices.Equal(got, []string{"carl@acme.example", "olga@acme.example"}) {
		t.Errorf("Users(acme) = %v", got)
	}
	if got := emails(client.UserFilter{VendorOnly: true}); !slices.Equal(got, []string{"pat@vendor.example", "root@vendor.example"}) {
		t.Errorf("Users(vendor) = %v", got)
	}
	check(t, a.RemoveMember(ctx, "acme", carl.ID))
	if l := must(a.UserMemberships(ctx, carl.ID, freight.Page{})).in(t); len(l.Items) != 0 {
		t.Errorf("memberships after RemoveMember = %+v", l.Items)
	}
	check(t, a.DeleteUser(ctx, carl.ID))
	_, err := a.User(ctx, carl.ID)
	wantCode(t, "deleted user", err, freight.ENOTFOUND)
}

// tokens: the vendor's API tokens and an organization's service account.
func (c *coverage) tokens(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	ci := must(a.CreateToken(ctx, client.NewToken{Name: "pipeline", Role: freight.RolePublisher, Products: []string{w.product.ID}})).in(t)
	if ci.Secret == "" || !slices.Equal(ci.Products, []string{w.product.ID}) {
		t.Errorf("CreateToken = %+v", ci)
	}
	if me := must(client.New(c.url, ci.Secret).Me(ctx)).in(t); me.Role != freight.RolePublisher || !slices.Equal(me.Products, []string{w.product.ID}) {
		t.Errorf("the pipeline's Me = %+v", me)
	}
	if tok := must(a.Token(ctx, ci.ID)).in(t); tok.Name != "pipeline" || tok.LastUsedAt == nil {
		t.Errorf("Token = %+v, want it named and used", tok)
	}
	if l := must(a.Tokens(ctx, client.TokenFilter{}, freight.Page{})).in(t); !slices.ContainsFunc(l.Items, func(x *freight.Token) bool { return x.ID == ci.ID }) {
		t.Errorf("Tokens lacks %s", ci.ID)
	}
	if tok := must(a.RevokeToken(ctx, ci.ID)).in(t); tok.RevokedAt == nil {
		t.Errorf("RevokeToken = %+v", tok)
	}
	_, err := client.New(c.url, ci.Secret).Me(ctx)
	wantCode(t, "revoked token", err, freight.EUNAUTHORIZED)

	sa := must(a.CreateOrganizationToken(ctx, "acme", "build farm", time.Time{})).in(t)
	if sa.Role != freight.RoleMember || sa.OrgID != w.acme.ID || sa.UserID != "" || sa.Secret == "" {
		t.Errorf("CreateOrganizationToken = %+v", sa)
	}
	w.member = client.New(c.url, sa.Secret)
	old := must(a.CreateOrganizationToken(ctx, "acme", "old farm", c.clock.Now().Add(time.Hour))).in(t)
	if tok := must(a.RevokeOrganizationToken(ctx, "acme", old.ID)).in(t); tok.ID != old.ID || tok.RevokedAt == nil {
		t.Errorf("RevokeOrganizationToken = %+v", tok)
	}
	l := must(a.OrganizationTokens(ctx, "acme", freight.Page{})).in(t)
	if len(l.Items) != 2 || !slices.ContainsFunc(l.Items, func(x *freight.Token) bool { return x.ID == sa.ID && x.RevokedAt == nil }) {
		t.Errorf("OrganizationTokens = %+v", l.Items)
	}
}

// entitlements, and what they let an organization see.
func (c *coverage) entitlements(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	draft := &freight.Entitlement{ProductID: w.product.ID, Channels: []freight.Channel{freight.ChannelStable}}
	if p := must(a.PreviewCatalog(ctx, "globex", draft, "")).in(t); len(p) != 1 || p[0].Change != client.PreviewAdded || p[0].Release.Version != "1.0.0" {
		t.Errorf("PreviewCatalog(new) = %+v", p)
	}
	e := must(a.CreateEntitlement(ctx, &freight.Entitlement{OrgID: w.acme.ID, ProductID: w.product.ID, Channels: []freight.Channel{freight.ChannelStable},
		Limits: freight.DownloadLimits{Downloads: 50, Period: freight.LimitMonth}})).in(t)
	if e.Limits.Downloads != 50 || e.OrgID != w.acme.ID {
		t.Errorf("CreateEntitlement = %+v", e)
	}
	if p := must(a.PreviewCatalog(ctx, "acme", nil, e.ID)).in(t); len(p) != 1 || p[0].Change != client.PreviewRemoved {
		t.Errorf("PreviewCatalog(deletion) = %+v", p)
	}
	e.VersionRange = ">= 1.0.0"
	e.Limits = freight.DownloadLimits{}
	if got := must(a.UpdateEntitlement(ctx, e)).in(t); got.VersionRange != ">= 1.0.0" || got.Limits.Downloads != 0 {
		t.Errorf("UpdateEntitlement = %+v, want the range set and the limit cleared", got)
	}
	if got := must(a.Entitlement(ctx, e.ID)).in(t); got.VersionRange != ">= 1.0.0" {
		t.Errorf("Entitlement = %+v", got)
	}
	gone := must(a.CreateEntitlement(ctx, &freight.Entitlement{OrgID: w.globex.ID, ProductID: w.product.ID, Channels: []freight.Channel{freight.ChannelStable}})).in(t)
	check(t, a.DeleteEntitlement(ctx, gone.ID))
	_, err := a.Entitlement(ctx, gone.ID)
	wantCode(t, "deleted entitlement", err, freight.ENOTFOUND)
	if l := must(a.Entitlements(ctx, client.EntitlementFilter{ProductID: w.product.ID}, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].ID != e.ID {
		t.Errorf("Entitlements = %+v", l.Items)
	}
	if l := must(a.OrganizationCatalog(ctx, "acme", client.CatalogFilter{}, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].Release.ID != w.release.ID || len(l.Items[0].Artifacts) != 1 {
		t.Errorf("OrganizationCatalog = %+v", l.Items)
	}
}

// delivery: the catalog, a download, and what records it.
func (c *coverage) delivery(w *world) {
	t, ctx, a, m := c.t, c.ctx, c.admin, w.member
	if l := must(m.Catalog(ctx, client.CatalogFilter{Platform: "windows"}, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].Artifacts[0].ID != w.artifact.ID {
		t.Errorf("Catalog = %+v", l.Items)
	}
	if u := must(m.Upgrade(ctx, "cad", "0.9.0", "", "", "")).in(t); u == nil || u.Release.Version != "1.0.0" {
		t.Errorf("Upgrade = %+v", u)
	}
	g := must(m.Download(ctx, w.artifact.ID)).in(t)
	if g.Size != int64(len(w.content)) || g.Filename != "cad.msi" {
		t.Errorf("Download = %+v", g)
	}
	resp := c.handRequest(http.DefaultClient, "GET", g.URL, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, w.content) {
		t.Fatalf("downloaded %q, want the file", body)
	}
	ds := must(a.Downloads(ctx, freight.DownloadFilter{OrgID: w.acme.ID, Since: c.clock.Now().Add(-time.Hour)})).in(t)
	if len(ds.Items) != 1 || !ds.Items[0].Completed || ds.Items[0].GrantID != g.GrantID || ds.Items[0].Bytes != int64(len(w.content)) {
		t.Errorf("Downloads = %+v", ds.Items)
	}
	f := must(a.DownloadFigures(ctx, client.FiguresQuery{Group: freight.GroupArtifact, Org: "acme", Product: "cad"})).in(t)
	if f.Total.Downloads != 1 || f.Total.Completed != 1 || f.Total.CompletionRate != 1 || len(f.Rows) != 1 ||
		f.Rows[0].Key != w.artifact.ID || f.Rows[0].Label != "cad.msi" || f.OrgID != w.acme.ID {
		t.Errorf("DownloadFigures = %+v", f)
	}
	if q := must(a.SetQuota(ctx, "acme", freight.Quota{DailyDownloads: 100, MonthlyBytes: 1 << 40})).in(t); q.DailyDownloads != 100 || q.MonthlyBytes != 1<<40 {
		t.Errorf("SetQuota = %+v", q)
	}
	u := must(a.Usage(ctx, "acme")).in(t)
	if u.OrgID != w.acme.ID || u.Quota.DailyDownloads != 100 || u.Day.Downloads != 1 || u.Day.Bytes != int64(len(w.content)) || !u.Day.ResetsAt.After(c.clock.Now()) {
		t.Errorf("Usage = %+v", u)
	}
}

// licenses: issue, read, verify the file, amend and revoke.
func (c *coverage) licenses(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	limit := int64(4)
	l := must(a.IssueLicense(ctx, client.LicenseTerms{OrgID: w.acme.ID, ProductID: w.product.ID, Seats: 5,
		Features: []freight.LicenseFeature{{Name: "render", Limit: &limit}}, HardwareIDs: []string{"dongle-17"}})).in(t)
	if l.State != freight.LicenseActive || l.Seats != 5 {
		t.Errorf("IssueLicense = %+v", l)
	}
	if got := must(w.member.License(ctx, l.ID)).in(t); got.ID != l.ID || got.OrgID != w.acme.ID {
		t.Errorf("License (as the organization) = %+v", got)
	}
	file := must(w.member.LicenseFile(ctx, l.ID)).in(t)
	keys := map[string]ed25519.PublicKey{}
	for _, k := range must(a.PublicKeys(ctx, freight.KeyLicenses)).in(t) {
		keys[k.ID] = k.Key
	}
	lf, err := licensefile.Verify(file, keys)
	if err != nil || lf.ID != l.ID || lf.Seats != 5 || !lf.BoundTo("dongle-17") {
		t.Errorf("the license file verifies as %+v, %v", lf, err)
	}
	terms := client.TermsOf(l)
	terms.Seats = 10
	amended := must(a.AmendLicense(ctx, l.ID, terms)).in(t)
	if amended.SupersedesID != l.ID || amended.Seats != 10 || len(amended.Features) != 1 || amended.NotBefore != l.NotBefore {
		t.Errorf("AmendLicense = %+v", amended)
	}
	if got := must(a.License(ctx, l.ID)).in(t); got.State != freight.LicenseSuperseded {
		t.Errorf("the amended license is %s, want superseded", got.State)
	}
	if ls := must(w.member.Licenses(ctx, freight.LicenseFilter{State: freight.LicenseActive})).in(t); len(ls.Items) != 1 || ls.Items[0].ID != amended.ID {
		t.Errorf("Licenses(active) = %+v", ls.Items)
	}
	if r := must(a.RevokeLicense(ctx, amended.ID, "contract ended")).in(t); r.State != freight.LicenseRevoked || r.RevokeReason != "contract ended" {
		t.Errorf("RevokeLicense = %+v", r)
	}
	rv := must(client.New(c.url, "").LicenseRevocations(ctx)).in(t)
	if len(rv.Revoked) != 1 || rv.Revoked[0].ID != amended.ID || rv.GeneratedAt.IsZero() {
		t.Errorf("LicenseRevocations = %+v", rv)
	}
}

// edges: registration, listing and removal.
func (c *coverage) edges() {
	t, ctx, a := c.t, c.ctx, c.admin
	e := must(a.CreateEdge(ctx, "fra-1", "eu-west")).in(t)
	if !strings.HasPrefix(e.Credential, "fre_") || e.Name != "fra-1" || e.Region != "eu-west" || e.Healthy {
		t.Errorf("CreateEdge = %+v", e)
	}
	if got := must(a.Edge(ctx, e.ID)).in(t); got.Name != "fra-1" || got.Healthy || got.LastSeenAt != nil {
		t.Errorf("Edge = %+v", got)
	}
	if l := must(a.Edges(ctx, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].ID != e.ID {
		t.Errorf("Edges = %+v", l.Items)
	}
	check(t, a.DeleteEdge(ctx, e.ID))
	_, err := a.Edge(ctx, e.ID)
	wantCode(t, "deleted edge", err, freight.ENOTFOUND)
}

// webhooks of both scopes: every route, a delivery that succeeds and one
// that fails, and the background jobs behind them.
func (c *coverage) webhooks(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	for _, scope := range []struct{ org, path string }{{"", "/vendor2"}, {"acme", "/fail"}} {
		org := scope.org
		h := must(a.CreateWebhook(ctx, org, client.NewWebhook{URL: c.hooks.URL + scope.path, Events: []string{freight.EventLicenseIssued}})).in(t)
		if l := must(a.Webhooks(ctx, org, freight.Page{})).in(t); !slices.ContainsFunc(l.Items, func(x *freight.Webhook) bool { return x.ID == h.ID }) {
			t.Errorf("Webhooks(%q) lacks %s", org, h.ID)
		}
		desc, events := "licenses and yanks", []string{freight.EventReleaseYanked, freight.EventLicenseIssued}
		if u := must(a.UpdateWebhook(ctx, org, h.ID, client.WebhookUpdate{Description: &desc, Events: &events})).in(t); u.Description != desc || len(u.Events) != 2 {
			t.Errorf("UpdateWebhook(%q) = %+v", org, u)
		}
		if got := must(a.Webhook(ctx, org, h.ID)).in(t); got.Description != desc || got.URL != h.URL {
			t.Errorf("Webhook(%q) = %+v", org, got)
		}
		rot := must(a.RotateWebhookSecret(ctx, org, h.ID, client.DefaultGrace)).in(t)
		if rot.Secret == h.Secret || rot.PreviousSecretExpiresAt == nil || !rot.PreviousSecretExpiresAt.After(c.clock.Now()) {
			t.Errorf("RotateWebhookSecret(default grace) = %+v", rot)
		}
		rot = must(a.RotateWebhookSecret(ctx, org, h.ID, 0)).in(t)
		if rot.PreviousSecretExpiresAt != nil {
			t.Errorf("RotateWebhookSecret(0) kept the old secret until %v", rot.PreviousSecretExpiresAt)
		}
		d := must(a.TestWebhook(ctx, org, h.ID)).in(t)
		if d.State != freight.DeliveryPending || d.EventType != freight.EventWebhookTest {
			t.Errorf("TestWebhook(%q) = %+v", org, d)
		}
		c.srv.Wait()
		got := c.hooks.of(scope.path, freight.EventWebhookTest)
		if len(got) != 1 || got[0].eventID != d.EventID || webhook.Verify(rot.Secret, got[0].signature, got[0].body, c.clock.Now()) != nil {
			t.Fatalf("the receiver got %d test events, want one signed with the new secret", len(got))
		}
		view := must(a.WebhookDelivery(ctx, org, h.ID, d.ID)).in(t)
		want, status := freight.DeliverySucceeded, http.StatusOK
		if org != "" {
			want, status = freight.DeliveryFailed, http.StatusInternalServerError
		}
		if view.State != want || len(view.AttemptLog) != 1 || view.AttemptLog[0].StatusCode != status {
			t.Errorf("WebhookDelivery(%q) = %+v, attempts %+v", org, view.WebhookDelivery, view.AttemptLog)
		}
		if l := must(a.WebhookDeliveries(ctx, org, h.ID, want, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].ID != d.ID {
			t.Errorf("WebhookDeliveries(%q, %s) = %+v", org, want, l.Items)
		}
		if r := must(a.RetryWebhookDelivery(ctx, org, h.ID, d.ID)).in(t); r.State != freight.DeliveryPending {
			t.Errorf("RetryWebhookDelivery(%q) = %+v", org, r)
		}
		c.srv.Wait()
		if got := c.hooks.of(scope.path, freight.EventWebhookTest); len(got) != 2 || got[1].eventID != d.EventID {
			t.Errorf("after a retry the receiver got %d test events, want the same event twice", len(got))
		}
		if org == "" {
			check(t, a.DeleteWebhook(ctx, org, h.ID))
			_, err := a.Webhook(ctx, org, h.ID)
			wantCode(t, "deleted webhook", err, freight.ENOTFOUND)
			continue
		}
		// The failed delivery's job is dead; an admin sends it again.
		dead := must(a.Jobs(ctx, freight.JobFilter{State: freight.JobDead, Kind: "webhook"})).in(t)
		if len(dead.Items) != 1 || dead.Items[0].ID != view.JobID || dead.Items[0].LastError == "" {
			t.Fatalf("Jobs(dead) = %+v, want the failed delivery's job %s", dead.Items, view.JobID)
		}
		if j := must(a.RetryJob(ctx, view.JobID)).in(t); j.State != freight.JobQueued || j.Attempts != 0 {
			t.Errorf("RetryJob = %+v", j)
		}
		// A license issued to acme now reaches the organization's webhook.
		must(a.IssueLicense(ctx, client.LicenseTerms{OrgID: w.acme.ID, ProductID: w.product.ID})).in(t)
		c.srv.Wait()
		if got := c.hooks.of(scope.path, freight.EventLicenseIssued); len(got) != 1 {
			t.Errorf("acme's webhook got %d license.issued events, want 1", len(got))
		}
		check(t, a.DeleteWebhook(ctx, org, h.ID))
		if l := must(a.Webhooks(ctx, org, freight.Page{})).in(t); len(l.Items) != 0 {
			t.Errorf("Webhooks(%q) after the deletion = %+v", org, l.Items)
		}
	}
}

// account: a person's own account through a password sign-in, the links
// sent by mail, and the command line's browser sign-in.
func (c *coverage) account(w *world) {
	t, ctx := c.t, c.ctx
	email := w.olga.Email
	si, s := c.signIn(email, w.olgaPassword)
	me := must(s.Me(ctx)).in(t)
	if me.SessionID == "" || me.TokenID != "" || me.OrgID != w.acme.ID || me.Role != freight.RoleOrgAdmin || len(me.Memberships) != 2 {
		t.Errorf("Me with a session = %+v", me)
	}
	off := false
	if u := must(s.SetPreferences(ctx, client.Preferences{NotifyReleases: &off})).in(t); !u.NoReleaseMail || u.ID != w.olga.ID {
		t.Errorf("SetPreferences = %+v, want release mail off", u)
	}
	if ss := must(s.Sessions(ctx)).in(t); len(ss) != 1 || !ss[0].Current || ss[0].ID != me.SessionID {
		t.Errorf("Sessions = %+v", ss)
	}

	// Personal tokens, at most the person's role.
	pt := must(s.CreatePersonalToken(ctx, client.NewPersonalToken{Name: "laptop", Role: freight.RoleMember})).in(t)
	if pt.Role != freight.RoleMember || pt.OrgID != w.acme.ID || pt.UserID != w.olga.ID {
		t.Errorf("CreatePersonalToken = %+v", pt)
	}
	if l := must(s.PersonalTokens(ctx, freight.Page{})).in(t); len(l.Items) != 1 || l.Items[0].ID != pt.ID {
		t.Errorf("PersonalTokens = %+v", l.Items)
	}
	if tok := must(s.RevokePersonalToken(ctx, pt.ID)).in(t); tok.RevokedAt == nil {
		t.Errorf("RevokePersonalToken = %+v", tok)
	}
	cli := must(si.Token(ctx, "freight command line", time.Hour)).in(t)
	if me := must(client.New(c.url, cli.Secret).Me(ctx)).in(t); me.TokenID != cli.ID || me.Role != freight.RoleOrgAdmin {
		t.Errorf("the sign-in's token acts as %+v", me)
	}
	_, err := client.New(c.url, cli.Secret).Sessions(ctx)
	wantCode(t, "an API token on an account route", err, freight.EFORBIDDEN)

	// The command line's browser sign-in: the person allows it in the
	// browser (by hand: the page's form), the program exchanges the code.
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:5599/callback"
	resp := c.handRequest(s.HTTPClient(), "POST", c.url+"/api/v1/auth/cli/authorize", map[string]string{"redirect_uri": redirect, "state": "st4te",
		"code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]), "code_challenge_method": "S256", "name": "build-box"})
	var allow struct {
		RedirectTo string `json:"redirect_to"`
	}
	check(t, json.NewDecoder(resp.Body).Decode(&allow))
	resp.Body.Close()
	to, err := url.Parse(allow.RedirectTo)
	if err != nil || to.Query().Get("code") == "" {
		t.Fatalf("the Allow answered %q, %v", allow.RedirectTo, err)
	}
	ex := must(client.ExchangeCLICode(ctx, c.url, "freight/test", to.Query().Get("code"), verifier, redirect)).in(t)
	if ex.Name != "freight command line on build-box" || ex.UserID != w.olga.ID || ex.Secret == "" {
		t.Errorf("ExchangeCLICode = %+v", ex)
	}

	sess := must(s.SwitchOrganization(ctx, w.globex.ID)).in(t)
	if sess.OrgID != w.globex.ID || sess.ID == me.SessionID {
		t.Errorf("SwitchOrganization = %+v", sess)
	}
	if me := must(s.Me(ctx)).in(t); me.OrgID != w.globex.ID || me.Role != freight.RoleMember {
		t.Errorf("Me after the switch = %+v", me)
	}

	// A second session, ended from the first.
	_, s2 := c.signIn(email, w.olgaPassword)
	ss := must(s.Sessions(ctx)).in(t)
	i := slices.IndexFunc(ss, func(x client.Session) bool { return !x.Current })
	if len(ss) != 2 || i < 0 {
		t.Fatalf("Sessions with two sign-ins = %+v", ss)
	}
	check(t, s.EndSession(ctx, ss[i].ID))
	_, err = s2.Me(ctx)
	wantCode(t, "an ended session", err, freight.EUNAUTHORIZED)

	// The password, changed and then reset by mail.
	pw2 := "Harbor-Violet-93k"
	check(t, s.ChangePassword(ctx, w.olgaPassword, pw2))
	_, err = client.NewSignIn(c.url).Password(ctx, email, w.olgaPassword)
	wantCode(t, "the old password", err, freight.EUNAUTHORIZED)
	anon := client.New(c.url, "")
	check(t, anon.ForgotPassword(ctx, email))
	pw3 := "Orchard-Copper-58z"
	check(t, anon.ResetPassword(ctx, c.link(email), pw3))
	_, err = s.Me(ctx)
	wantCode(t, "a session after a password reset", err, freight.EUNAUTHORIZED)
	_, s = c.signIn(email, pw3)

	// A second factor: enrolled, used, its recovery codes renewed, turned
	// off.
	en := must(s.BeginTOTP(ctx, pw3)).in(t)
	secret, err := mfa.DecodeSecret(en.Secret)
	if err != nil || !strings.HasPrefix(en.URI, "otpauth://totp/") {
		t.Fatalf("BeginTOTP = %+v, %v", en, err)
	}
	codes := must(s.ConfirmTOTP(ctx, mfa.Code(secret, c.clock.Now()))).in(t)
	if len(codes) != 10 {
		t.Errorf("ConfirmTOTP answered %d recovery codes, want 10", len(codes))
	}
	c.clock.Add(30 * time.Second)
	si = client.NewSignIn(c.url)
	if asked, err := si.Password(ctx, email, pw3); err != nil || !asked {
		t.Fatalf("sign-in with a second factor: asked %v, %v", asked, err)
	}
	check(t, si.Code(ctx, mfa.Code(secret, c.clock.Now())))
	s = si.Client()
	renewed := must(s.RenewRecoveryCodes(ctx, pw3)).in(t)
	if len(renewed) != 10 || slices.Equal(renewed, codes) {
		t.Errorf("RenewRecoveryCodes = %v", renewed)
	}
	c.clock.Add(30 * time.Second)
	check(t, s.DisableMFA(ctx, pw3, mfa.Code(secret, c.clock.Now())))
	if asked, err := client.NewSignIn(c.url).Password(ctx, email, pw3); err != nil || asked {
		t.Errorf("sign-in after DisableMFA: asked %v, %v; want no second factor", asked, err)
	}

	// Every session ends at once; then the sign-in's own sign-out.
	if n := must(s.SignOutEverywhere(ctx)).in(t); n < 2 {
		t.Errorf("SignOutEverywhere ended %d sessions, want at least 2", n)
	}
	_, err = s.Me(ctx)
	wantCode(t, "after SignOutEverywhere", err, freight.EUNAUTHORIZED)
	si, s = c.signIn(email, pw3)
	check(t, si.SignOut(ctx))
	_, err = s.Me(ctx)
	wantCode(t, "after SignOut", err, freight.EUNAUTHORIZED)

	// An address verified by its link: a user whose password was set
	// outside the API, as an import would.
	vera := must(c.admin.CreateUser(ctx, "vera@acme.example", "Vera", "")).in(t)
	must(c.admin.PutMember(ctx, "acme", vera.ID, freight.RoleMember)).in(t)
	hash := must(password.Hash(ctx, "Meadow-Signal-31v", passwordParams)).in(t)
	must(c.db.UpdateUser(ctx, vera.ID, func(u *freight.User) error { u.PasswordHash = hash; return nil })).in(t)
	_, vs := c.signIn("vera@acme.example", "Meadow-Signal-31v")
	check(t, vs.RequestVerification(ctx))
	if u := must(anon.VerifyEmail(ctx, c.link("vera@acme.example"))).in(t); !u.EmailVerified || u.ID != vera.ID {
		t.Errorf("VerifyEmail = %+v", u)
	}
}

// audit: the log of what the sections did.
func (c *coverage) audit(w *world) {
	t, ctx, a := c.t, c.ctx, c.admin
	l := must(a.AuditEvents(ctx, freight.AuditFilter{Action: "organization.create", Since: c.clock.Now().Add(-time.Hour)})).in(t)
	var ids []string
	for _, e := range l.Items {
		ids = append(ids, e.TargetID)
	}
	if !slices.Contains(ids, w.acme.ID) || !slices.Contains(ids, w.globex.ID) {
		t.Errorf("AuditEvents(organization.create) names %v, want acme and globex", ids)
	}
}
