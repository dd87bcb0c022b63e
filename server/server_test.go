package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/password"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// clock is a settable clock shared by the server and the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a running server on a fresh SQLite database with one vendor admin.
type env struct {
	t testing.TB
	h http.Handler
	// checked is h behind the check of every answer against the OpenAPI
	// description; the test server serves it.
	checked http.Handler
	srv     *server.Server
	blobs   freight.BlobStore
	url     string
	store   *sqlstore.DB
	clock   *clock
	logs    *syncBuffer
	admin   *freight.User
	token   string // the admin's token
	client  *http.Client
	mail    *mailbox
}

// mailbox is a Mailer that keeps what it is sent. Mail goes through the
// job queue; drain, when set, runs the due jobs before the box is read.
type mailbox struct {
	mu    sync.Mutex
	msgs  []freight.Message
	drain func()
}

func (m *mailbox) Send(ctx context.Context, msg *freight.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, *msg)
	return nil
}

// last returns the last message sent to addr, or nil.
func (m *mailbox) last(addr string) *freight.Message {
	if m.drain != nil {
		m.drain()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].To == addr {
			msg := m.msgs[i]
			return &msg
		}
	}
	return nil
}

func (m *mailbox) count() int {
	if m.drain != nil {
		m.drain()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv is newEnvWith on a filesystem blob store in the test's folder.
func newEnv(t testing.TB) *env {
	t.Helper()
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, blobs)
}

// newEnvWith starts a server on blobs; opts adjust its configuration.
func newEnvWith(t testing.TB, blobs freight.BlobStore, opts ...func(*server.Config)) *env {
	t.Helper()
	return newEnvAt(t, testdb.SQLite(t), blobs, opts...)
}

// newEnvAt is newEnvWith on the database at dbURL.
func newEnvAt(t testing.TB, dbURL string, blobs freight.BlobStore, opts ...func(*server.Config)) *env {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuffer{}
	logger := slog.New(server.LogHandler(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil)))
	db, err := sqlstore.Open(ctx, dbURL, logger)
	if err != nil {
		t.Fatal(err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC().Truncate(time.Microsecond)}
	outbox := &mailbox{}
	// Cheap password hashes keep the tests quick; the timing test sets
	// the real parameters.
	cfg := server.Config{Now: clk.Now, MaxBodyBytes: 4096, PartSize: 5 << 20, MaxArtifactSize: 1 << 30,
		PasswordParams: password.Params{Memory: 64, Time: 1, Threads: 1}, Mailer: outbox, SignInBurst: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	h := server.New(db, blobs, logger, cfg)
	outbox.drain = h.Wait
	ch := checked(t, h)
	srv := httptest.NewServer(ch)
	t.Cleanup(srv.Close)
	e := &env{t: t, h: h, checked: ch, srv: h, url: srv.URL, store: db, blobs: blobs, clock: clk, logs: logs, client: srv.Client(), mail: outbox}
	e.admin = &freight.User{Email: "root@vendor.example", VendorRole: freight.RoleAdmin}
	if err := db.CreateUser(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	// The admin's token outlives every clock jump the tests make.
	exp := clk.Now().AddDate(1, 0, 0)
	e.token = e.mustToken(&freight.Token{Name: "admin", UserID: e.admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp})
	return e
}

// mustToken stores t with an expiry an hour from the test clock and returns
// its secret.
func (e *env) mustToken(t *freight.Token) string {
	e.t.Helper()
	if t.ExpiresAt == nil {
		exp := e.clock.Now().Add(time.Hour)
		t.ExpiresAt = &exp
	}
	secret, err := freight.IssueToken(context.Background(), e.store, t, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes the JSON error answer.
func (r response) err() (code, message, field string) {
	var b struct {
		Error struct{ Code, Message, Field string }
	}
	json.Unmarshal(r.body, &b)
	return b.Error.Code, b.Error.Message, b.Error.Field
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// do sends a request. body is marshalled to JSON unless it is a string or
// []byte, which are sent as they are.
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	r, err := e.send(e.request(method, path, token, body))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// request makes the request do sends.
func (e *env) request(method, path, token string, body any) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// send sends req and reads the answer; it may run in any goroutine.
func (e *env) send(req *http.Request) (response, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// runJobs runs the server's job worker until the test ends, as freight
// serve does. Most tests run the due jobs themselves instead (Wait), so
// that they see the effects at a known point.
func (e *env) runJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.srv.RunJobs(ctx); err != nil {
			e.t.Error(err)
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

// must sends a request and fails the test unless the status is want.
func (e *env) must(want int, method, path, token string, body any) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// wantError checks the status, code and (if not empty) field of an error
// answer, and that the message says something.
func wantError(t testing.TB, r response, status int, code, field string) {
	t.Helper()
	gotCode, msg, gotField := r.err()
	if r.status != status || gotCode != code || gotField != field || msg == "" {
		t.Errorf("got status %d code %q field %q message %q, want %d %q %q and a message; body %s", r.status, gotCode, gotField, msg, status, code, field, r.body)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusOK, "GET", "/healthz", "", nil)
	e.must(http.StatusOK, "GET", "/readyz", "", nil)
	e.store.Close()
	r := e.do("GET", "/readyz", "", nil)
	wantError(t, r, http.StatusServiceUnavailable, freight.EUNAVAILABLE, "")
	e.must(http.StatusOK, "GET", "/healthz", "", nil)
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.do("GET", "/api/v1/nothing", e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	wantError(t, e.do("GET", "/nothing", "", nil), http.StatusNotFound, freight.ENOTFOUND, "")
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("Missing", func(t *testing.T) {
		r := e.do("GET", "/api/v1/me", "", nil)
		wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
		}
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, tok := range []string{"x", "frt_", "frt_tok_123", strings.Repeat("a", 5000)} {
			wantError(t, e.do("GET", "/api/v1/me", tok, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		}
	})
	t.Run("WrongScheme", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.url+"/api/v1/me", nil)
		req.SetBasicAuth("admin", "secret")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		// Same id, different random part: must not authenticate.
		forged := e.token[:len(e.token)-4] + "AAAA"
		if forged == e.token {
			forged = e.token[:len(e.token)-4] + "BBBB"
		}
		r := e.do("GET", "/api/v1/me", forged, nil)
		wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		if _, msg, _ := r.err(); msg != "invalid token" {
			t.Errorf("message = %q, want %q: a forged secret must learn nothing", msg, "invalid token")
		}
	})
	t.Run("Valid", func(t *testing.T) {
		var me struct {
			UserID string       `json:"user_id"`
			Role   freight.Role `json:"role"`
		}
		e.must(http.StatusOK, "GET", "/api/v1/me", e.token, nil).decode(t, &me)
		if me.UserID != e.admin.ID || me.Role != freight.RoleAdmin {
			t.Errorf("me = %+v, want user %s role admin", me, e.admin.ID)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		exp := e.clock.Now().Add(time.Minute)
		tok := e.mustToken(&freight.Token{Name: "short", UserID: e.admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp})
		e.must(http.StatusOK, "GET", "/api/v1/me", tok, nil)
		e.clock.Add(time.Minute)
		r := e.do("GET", "/api/v1/me", tok, nil)
		wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		if _, msg, _ := r.err(); msg != "token expired" {
			t.Errorf("message = %q, want %q", msg, "token expired")
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		var created struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.token, map[string]any{"name": "ci", "role": "support"}).decode(t, &created)
		e.must(http.StatusOK, "GET", "/api/v1/me", created.Secret, nil)
		e.must(http.StatusOK, "DELETE", "/api/v1/tokens/"+created.ID, e.token, nil)
		r := e.do("GET", "/api/v1/me", created.Secret, nil)
		wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		if _, msg, _ := r.err(); msg != "token revoked" {
			t.Errorf("message = %q, want %q", msg, "token revoked")
		}
	})
	t.Run("DisabledUser", func(t *testing.T) {
		u := &freight.User{Email: "gone@vendor.example", VendorRole: freight.RoleSupport}
		if err := e.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		tok := e.mustToken(&freight.Token{Name: "t", UserID: u.ID, Role: freight.RoleSupport})
		e.must(http.StatusOK, "GET", "/api/v1/me", tok, nil)
		e.must(http.StatusOK, "PATCH", "/api/v1/users/"+u.ID, e.token, map[string]any{"disabled": true})
		wantError(t, e.do("GET", "/api/v1/me", tok, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})
	t.Run("SecretsNotLogged", func(t *testing.T) {
		if strings.Contains(e.logs.String(), e.token) {
			t.Error("a token secret appears in the log")
		}
		if !strings.Contains(e.logs.String(), "request_id=") {
			t.Error("log lines carry no request_id")
		}
	})
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusOK, "GET", "/healthz", "", nil)
	if id := r.header.Get("X-Request-Id"); len(id) < 16 {
		t.Errorf("X-Request-Id = %q, want a generated id", id)
	}
	req, _ := http.NewRequest("GET", e.url+"/api/v1/me", nil)
	req.Header.Set("X-Request-Id", "trace-42.a_b")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "trace-42.a_b" {
		t.Errorf("X-Request-Id = %q, want the caller's plain id", got)
	}
	if !bytes.Contains(body, []byte(`"request_id":"trace-42.a_b"`)) {
		t.Errorf("error body %s does not carry the request id", body)
	}
	if !strings.Contains(e.logs.String(), "request_id=trace-42.a_b") {
		t.Error("the log has no line with the caller's request id")
	}
	req.Header.Set("X-Request-Id", "bad id\twith spaces")
	resp, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got == "bad id\twith spaces" || got == "" {
		t.Errorf("X-Request-Id = %q, want a fresh id replacing an unsafe one", got)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "acme", "name": "Acme"})
	var prod freight.Product
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"}).decode(t, &prod)

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"MalformedJSON", "POST", "/api/v1/organizations", `{"slug": "x",`, 400, freight.EINVALID, ""},
		{"SyntaxError", "POST", "/api/v1/organizations", `{"slug" "x"}`, 400, freight.EINVALID, ""},
		{"NotAnObject", "POST", "/api/v1/organizations", `[1,2]`, 400, freight.EINVALID, ""},
		{"EmptyBody", "POST", "/api/v1/organizations", ``, 400, freight.EINVALID, ""},
		{"TrailingData", "POST", "/api/v1/organizations", `{"slug":"a","name":"A"} {}`, 400, freight.EINVALID, ""},
		{"UnknownField", "POST", "/api/v1/organizations", `{"slug":"a","name":"A","colour":"red"}`, 400, freight.EINVALID, "colour"},
		{"WrongType", "POST", "/api/v1/organizations", `{"slug":"a","name":7}`, 400, freight.EINVALID, "name"},
		{"Oversize", "POST", "/api/v1/organizations", `{"slug":"a","name":"` + strings.Repeat("x", 5000) + `"}`, 413, freight.ETOOLARGE, ""},
		{"MissingName", "POST", "/api/v1/organizations", `{"slug":"a"}`, 400, freight.EINVALID, "name"},
		{"BadSlug", "POST", "/api/v1/organizations", `{"slug":"Not A Slug","name":"A"}`, 400, freight.EINVALID, "slug"},
		{"DuplicateSlug", "POST", "/api/v1/organizations", `{"slug":"acme","name":"Other"}`, 409, freight.ECONFLICT, ""},
		{"DuplicateEmail", "POST", "/api/v1/users", `{"email":"ROOT@vendor.example"}`, 409, freight.ECONFLICT, ""},
		{"BadEmail", "POST", "/api/v1/users", `{"email":"Root <root@vendor.example>"}`, 400, freight.EINVALID, "email"},
		{"InvalidSemver", "POST", "/api/v1/products/cad/releases", `{"version":"v1.0"}`, 400, freight.EINVALID, "version"},
		{"InvalidChannel", "POST", "/api/v1/products/cad/releases", `{"version":"1.0.0","channel":"nightly"}`, 400, freight.EINVALID, "channel"},
		{"UnknownProduct", "POST", "/api/v1/products/nope/releases", `{"version":"1.0.0"}`, 404, freight.ENOTFOUND, ""},
		{"BadVersionRange", "POST", "/api/v1/entitlements", `{"org_id":"org_00000000000000000000000000","product_id":"` + prod.ID + `","channels":["stable"],"version_range":">>2"}`, 400, freight.EINVALID, "version_range"},
		{"NestedWrongType", "POST", "/api/v1/entitlements", `{"org_id":"x","product_id":"y","channels":["stable"],"limits":{"period":5}}`, 400, freight.EINVALID, "limits.period"},
		{"BadTime", "POST", "/api/v1/entitlements", `{"org_id":"x","product_id":"y","channels":["stable"],"not_after":"tomorrow"}`, 400, freight.EINVALID, ""},
		{"BadLimit", "GET", "/api/v1/organizations?limit=0", nil, 400, freight.EINVALID, "limit"},
		{"BadLimitText", "GET", "/api/v1/organizations?limit=ten", nil, 400, freight.EINVALID, "limit"},
		{"BadAuditSince", "GET", "/api/v1/audit?since=yesterday", nil, 400, freight.EINVALID, "since"},
		{"MissingRelease", "GET", "/api/v1/releases/rel_00000000000000000000000000", nil, 404, freight.ENOTFOUND, ""},
		{"MalformedID", "GET", "/api/v1/releases/../../etc/passwd", nil, 404, freight.ENOTFOUND, ""},
		{"TokenPastLifetime", "POST", "/api/v1/tokens", `{"name":"t","role":"support","expires_at":"2999-01-01T00:00:00Z"}`, 400, freight.EINVALID, "expires_at"},
		{"TokenOrgRoleWithoutOrg", "POST", "/api/v1/tokens", `{"name":"t","role":"member"}`, 400, freight.EINVALID, "org_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(tc.method, tc.path, e.token, tc.body), tc.status, tc.code, tc.field)
		})
	}

	t.Run("WrongContentType", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/organizations", strings.NewReader(`{"slug":"b","name":"B"}`))
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("NothingLost", func(t *testing.T) {
		// None of the bad requests above may have created anything.
		var orgs struct{ Items []freight.Organization }
		e.must(http.StatusOK, "GET", "/api/v1/organizations", e.token, nil).decode(t, &orgs)
		if len(orgs.Items) != 1 || orgs.Items[0].Slug != "acme" {
			t.Errorf("organizations = %+v, want only acme", orgs.Items)
		}
	})
}

// failingBlobs is a blob store whose listing fails while down is set, as a
// store does when its disk or bucket is gone.
type failingBlobs struct {
	freight.BlobStore
	down atomic.Bool
}

func (b *failingBlobs) List(ctx context.Context, after string, limit int) ([]freight.BlobInfo, string, error) {
	if b.down.Load() {
		return nil, "", freight.Internal(errors.New("blob store offline"))
	}
	return b.BlobStore.List(ctx, after, limit)
}

func TestReadyBlobStore(t *testing.T) {
	fsb, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := &failingBlobs{BlobStore: fsb}
	e := newEnvWith(t, blobs)
	e.must(http.StatusOK, "GET", "/readyz", "", nil)
	blobs.down.Store(true)
	r := e.do("GET", "/readyz", "", nil)
	wantError(t, r, http.StatusServiceUnavailable, freight.EUNAVAILABLE, "")
	if _, msg, _ := r.err(); !strings.Contains(msg, "blob store") {
		t.Errorf("message %q does not name the blob store", msg)
	}
	if strings.Contains(string(r.body), "offline") {
		t.Errorf("answer leaks the internal error: %s", r.body)
	}
	e.must(http.StatusOK, "GET", "/healthz", "", nil)
	blobs.down.Store(false)
	e.must(http.StatusOK, "GET", "/readyz", "", nil)
}
