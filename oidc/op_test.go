package oidc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/oidc"
)

// The peer in these tests is a real OpenID provider: the example OP of
// github.com/zitadel/oidc/v3 (its op package with in-memory storage and a
// username/password form), served by httptest. The browser is an
// http.Client with a cookie jar that follows redirects by hand, so tests
// can stop and tamper with any step.

func TestMain(m *testing.M) {
	// The example OP logs every request through the default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

const (
	clientID     = "freight"
	clientSecret = "freight-client-secret"
	otherClient  = "other-app"
)

// users of the test OP; each password is the username reversed.
var testUsers = map[string]*storage.User{
	"u-alice": {ID: "u-alice", Username: "alice", Password: "ecila", FirstName: "Alice", LastName: "Example",
		Email: "Alice@Customer.example", EmailVerified: true},
	"u-bob": {ID: "u-bob", Username: "bob", Password: "bob!", FirstName: "Bob", LastName: "Unverified",
		Email: "bob@customer.example", EmailVerified: false},
}

type userStore struct{}

func (userStore) GetUserByID(id string) *storage.User { return testUsers[id] }
func (userStore) GetUserByUsername(name string) *storage.User {
	for _, u := range testUsers {
		if u.Username == name {
			return u
		}
	}
	return nil
}
func (userStore) ExampleClientID() string { return "service" }

// recorder keeps what the OP received at its authorization and token
// endpoints.
type recorder struct {
	mu          sync.Mutex
	authorize   []url.Values
	token       []url.Values
	tokenStatus []int
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth":
			rec.mu.Lock()
			rec.authorize = append(rec.authorize, r.URL.Query())
			rec.mu.Unlock()
		case "/oauth/token":
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			h.ServeHTTP(sw, r)
			rec.mu.Lock()
			rec.token = append(rec.token, form)
			rec.tokenStatus = append(rec.tokenStatus, sw.status)
			rec.mu.Unlock()
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (rec *recorder) lastAuthorize(t *testing.T) url.Values {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.authorize) == 0 {
		t.Fatal("the OP saw no authorization request")
	}
	return rec.authorize[len(rec.authorize)-1]
}

func (rec *recorder) tokenRequests() ([]url.Values, []int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]url.Values(nil), rec.token...), append([]int(nil), rec.tokenStatus...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// fixture is a test OP, a relying party (the portal's two routes for each
// provider) and a browser.
type fixture struct {
	t       *testing.T
	op      *httptest.Server
	rp      *httptest.Server
	issuer  string
	rec     *recorder
	storage *storage.Storage
	key     []byte
	tls     bool

	mu        sync.Mutex
	providers map[string]*oidc.Provider
}

// newFixture starts the OP and the relying party, over TLS or plain http.
// Client "freight" is registered for provider "test", client "other-app"
// for provider "other".
func newFixture(t *testing.T, useTLS bool) *fixture {
	t.Helper()
	fx := &fixture{t: t, rec: &recorder{}, tls: useTLS, providers: map[string]*oidc.Provider{}}
	fx.key = bytes.Repeat([]byte{7}, oidc.KeySize)

	fx.rp = httptest.NewUnstartedServer(fx.rpHandler())
	var opHandler handlerVar
	fx.op = httptest.NewUnstartedServer(fx.rec.wrap(&opHandler))
	if useTLS {
		fx.rp.StartTLS()
		fx.op.StartTLS()
	} else {
		fx.rp.Start()
		fx.op.Start()
	}
	t.Cleanup(fx.rp.Close)
	t.Cleanup(fx.op.Close)
	fx.issuer = fx.op.URL

	clients := map[string]*storage.Client{
		clientID:    storage.WebClient(clientID, clientSecret, fx.redirectURL("test")),
		otherClient: storage.WebClient(otherClient, "other-secret", fx.redirectURL("other")),
	}
	fx.storage = storage.NewStorageWithClients(userStore{}, clients)
	opHandler.set(exampleop.SetupServer(fx.issuer, fx.storage, nil, false))
	return fx
}

// handlerVar lets a server start before its handler exists: the OP's
// issuer is its own URL.
type handlerVar struct {
	mu sync.Mutex
	h  http.Handler
}

func (v *handlerVar) set(h http.Handler) { v.mu.Lock(); v.h = h; v.mu.Unlock() }
func (v *handlerVar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	h := v.h
	v.mu.Unlock()
	h.ServeHTTP(w, r)
}

func (fx *fixture) redirectURL(name string) string { return fx.rp.URL + oidc.CallbackPath(name) }

// httpClient trusts the test servers' certificate (httptest uses one for all).
func (fx *fixture) httpClient() *http.Client {
	if fx.tls {
		return fx.op.Client()
	}
	return &http.Client{}
}

func (fx *fixture) config(name, client, secret string) oidc.ProviderConfig {
	return oidc.ProviderConfig{
		Name:         name,
		Issuer:       fx.issuer,
		ClientID:     client,
		ClientSecret: secret,
		RedirectURL:  fx.redirectURL(name),
		Rules: []oidc.Rule{
			{EmailDomain: "customer.example", Org: "customer"},
			{Claim: "sub", Value: "u-alice", Org: "vendor-partner", Role: freight.RoleOrgAdmin},
		},
	}
}

func (fx *fixture) options() oidc.Options {
	return oidc.Options{Key: fx.key, HTTPClient: fx.httpClient(), InsecureCookie: !fx.tls}
}

// addProvider makes a Provider with New and serves it at the relying party.
func (fx *fixture) addProvider(cfg oidc.ProviderConfig, opts oidc.Options) *oidc.Provider {
	fx.t.Helper()
	p, err := oidc.New(context.Background(), cfg, opts)
	if err != nil {
		fx.t.Fatalf("New: %v", err)
	}
	fx.mu.Lock()
	fx.providers[cfg.Name] = p
	fx.mu.Unlock()
	return p
}

func (fx *fixture) provider() *oidc.Provider {
	return fx.addProvider(fx.config("test", clientID, clientSecret), fx.options())
}

// result is what the relying party answers at its callback.
type result struct {
	Identity *oidc.Identity    `json:"identity"`
	ReturnTo string            `json:"return_to"`
	Assigned []oidc.Assignment `json:"assigned"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Cause    string            `json:"cause"`

	Raw    string      `json:"-"`
	Status int         `json:"-"`
	Header http.Header `json:"-"`
}

func (fx *fixture) rpHandler() http.Handler {
	mux := http.NewServeMux()
	lookup := func(w http.ResponseWriter, r *http.Request) *oidc.Provider {
		fx.mu.Lock()
		p := fx.providers[r.PathValue("name")]
		fx.mu.Unlock()
		if p == nil {
			http.NotFound(w, r)
		}
		return p
	}
	fail := func(w http.ResponseWriter, status int, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(result{Code: freight.ErrorCode(err), Message: freight.ErrorMessage(err), Cause: err.Error()})
	}
	mux.HandleFunc("GET /auth/oidc/{name}/start", func(w http.ResponseWriter, r *http.Request) {
		if p := lookup(w, r); p != nil {
			if err := p.Start(w, r, r.URL.Query().Get("return_to")); err != nil {
				fail(w, http.StatusBadRequest, err)
			}
		}
	})
	mux.HandleFunc("GET /auth/oidc/{name}/callback", func(w http.ResponseWriter, r *http.Request) {
		p := lookup(w, r)
		if p == nil {
			return
		}
		id, returnTo, err := p.Finish(w, r)
		if err != nil {
			fail(w, http.StatusUnauthorized, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(result{Identity: id, ReturnTo: returnTo, Assigned: p.Assignments(id)})
	})
	return mux
}

// browser is a user agent with a cookie jar that does not follow
// redirects by itself.
type browser struct {
	t  *testing.T
	fx *fixture
	c  *http.Client
}

func (fx *fixture) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	c := fx.httpClient()
	c = &http.Client{Transport: c.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: fx.t, fx: fx, c: c}
}

func (b *browser) do(req *http.Request) *http.Response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	return resp
}

func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// start visits the relying party's start route and returns the
// authorization URL it redirects to.
func (b *browser) start(name, returnTo string) *url.URL {
	b.t.Helper()
	resp := b.get(b.fx.rp.URL + "/auth/oidc/" + name + "/start?return_to=" + url.QueryEscape(returnTo))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("start: status %d, want 302", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), b.fx.issuer+"/") {
		b.t.Fatalf("start redirects to %s, not to the OP", loc)
	}
	return loc
}

var loginIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// login follows the OP from the authorization URL through its login form
// and returns the URL at the relying party it finally redirects to,
// without visiting it.
func (b *browser) login(authURL *url.URL, username, password string) *url.URL {
	b.t.Helper()
	u := authURL.String()
	for range 10 {
		resp := b.get(u)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := resp.Location()
			if err != nil {
				b.t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), b.fx.rp.URL+"/") {
				return loc
			}
			u = loc.String()
		case resp.StatusCode == http.StatusOK && loginIDRE.Match(body):
			id := loginIDRE.FindSubmatch(body)[1]
			form := url.Values{"id": {string(id)}, "username": {username}, "password": {password}}
			req, _ := http.NewRequest(http.MethodPost, authURL.Scheme+"://"+authURL.Host+"/login/username", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp := b.do(req)
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				b.t.Fatalf("login form: status %d", resp.StatusCode)
			}
			loc, err := resp.Location()
			if err != nil {
				b.t.Fatal(err)
			}
			u = loc.String()
		default:
			b.t.Fatalf("OP at %s: status %d: %.300s", u, resp.StatusCode, body)
		}
	}
	b.t.Fatal("too many redirects at the OP")
	return nil
}

// callback visits the relying party's callback URL with the jar's cookies.
func (b *browser) callback(u *url.URL) result {
	b.t.Helper()
	return b.callbackReq(u, nil)
}

// callbackWith visits the callback URL with exactly the given cookie
// header instead of the jar's.
func (b *browser) callbackWith(u *url.URL, cookie *http.Cookie) result {
	b.t.Helper()
	return b.callbackReq(u, cookie)
}

func (b *browser) callbackReq(u *url.URL, cookie *http.Cookie) result {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	c := b.c
	if cookie != nil {
		c = &http.Client{Transport: b.c.Transport, CheckRedirect: b.c.CheckRedirect}
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var res result
	if err := json.Unmarshal(body, &res); err != nil {
		b.t.Fatalf("callback: status %d, body %q: %v", resp.StatusCode, body, err)
	}
	res.Raw, res.Status, res.Header = string(body), resp.StatusCode, resp.Header
	return res
}

// flowCookie returns the flow cookie the jar holds for the relying party.
func (b *browser) flowCookie(p *oidc.Provider) *http.Cookie {
	b.t.Helper()
	u, _ := url.Parse(b.fx.rp.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == p.CookieName() {
			return c
		}
	}
	return nil
}

// wantRefused checks that the callback was refused with EUNAUTHORIZED and
// a message containing msg, and that nothing secret leaked into the answer.
func wantRefused(t *testing.T, res result, msg string, secrets ...string) {
	t.Helper()
	if res.Status != http.StatusUnauthorized || res.Code != freight.EUNAUTHORIZED {
		t.Fatalf("got status %d code %q (%s), want 401 %q", res.Status, res.Code, res.Raw, freight.EUNAUTHORIZED)
	}
	if !strings.Contains(res.Message, msg) {
		t.Errorf("message %q does not contain %q", res.Message, msg)
	}
	if res.Identity != nil {
		t.Errorf("refused callback returned an identity: %+v", res.Identity)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(res.Raw, s) {
			t.Errorf("answer contains a secret %q: %s", s, res.Raw)
		}
	}
}

var errNoCode = errors.New("no code in callback")

func codeOf(u *url.URL) (string, error) {
	c := u.Query().Get("code")
	if c == "" {
		return "", errNoCode
	}
	return c, nil
}
