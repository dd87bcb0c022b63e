package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/password"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// withLimits sets the rate limits of some groups; the others keep their
// defaults.
func withLimits(specs map[string]string) func(*server.Config) {
	return func(c *server.Config) {
		c.RateLimits = map[string]freight.RateLimit{}
		for g, spec := range specs {
			l, err := freight.ParseRateLimit(spec)
			if err != nil {
				panic(err)
			}
			c.RateLimits[g] = l
		}
	}
}

// wantRateLimited checks a refusal by a rate limit: 429, the API's error
// JSON with code rate_limited, and Retry-After in whole seconds.
func wantRateLimited(t testing.TB, r response, retryAfter string) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, freight.ERATELIMIT, "")
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

// TestRateLimit drains a token's bucket of reads (1 a second, burst 3):
// three pass with the remaining count going down, the fourth is refused
// with Retry-After 1, a second minus a millisecond later still (the wait
// rounds up), and a second later one passes again.
func TestRateLimit(t *testing.T) {
	e := newEnvWith(t, nil, withLimits(map[string]string{server.GroupAPI: "1/s burst 3"}))
	for i, want := range []string{`"api";r=2;t=1`, `"api";r=1;t=1`, `"api";r=0;t=1`} {
		r := e.must(http.StatusOK, "GET", "/api/v1/products", e.token, nil)
		if got := r.header.Get("RateLimit"); got != want {
			t.Errorf("request %d: RateLimit = %q, want %q", i+1, got, want)
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"api";q=3;w=3` {
			t.Errorf("request %d: RateLimit-Policy = %q, want \"api\";q=3;w=3", i+1, got)
		}
	}
	r := e.do("GET", "/api/v1/products", e.token, nil)
	wantRateLimited(t, r, "1")
	if got := r.header.Get("RateLimit"); got != `"api";r=0;t=1` {
		t.Errorf("refused: RateLimit = %q", got)
	}
	if _, msg, _ := r.err(); !strings.Contains(msg, "try again in 1 seconds") || !strings.Contains(msg, "1/s burst 3") {
		t.Errorf("refusal message %q names neither the wait nor the limit", msg)
	}
	e.clock.Add(time.Second - time.Millisecond)
	r = e.do("GET", "/api/v1/products", e.token, nil)
	wantRateLimited(t, r, "1")
	if got := r.header.Get("RateLimit"); got != `"api";r=0;t=1` {
		t.Errorf("a millisecond before: RateLimit = %q, want the wait rounded up to 1", got)
	}
	e.clock.Add(time.Millisecond)
	r = e.must(http.StatusOK, "GET", "/api/v1/products", e.token, nil)
	if got := r.header.Get("RateLimit"); got != `"api";r=0;t=1` {
		t.Errorf("after the wait: RateLimit = %q", got)
	}
	// Other groups have buckets of their own.
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "acme", "name": "Acme"})
	// Long after, the bucket is full: the field leaves out t.
	e.clock.Add(time.Hour)
	if got := e.must(http.StatusOK, "GET", "/api/v1/products", e.token, nil).header.Get("RateLimit"); got != `"api";r=2;t=1` {
		t.Errorf("an hour later: RateLimit = %q", got)
	}
	if !strings.Contains(metricsText(t, e), `freight_rate_limited_total{group="api"} 2`) {
		t.Error("the refusals are not counted in freight_rate_limited_total")
	}
}

func metricsText(t testing.TB, e *env) string {
	t.Helper()
	r := e.must(http.StatusOK, "GET", "/metrics", "", nil)
	return string(r.body)
}

// TestRateLimitPerCaller: each token and each signed-in user has its own
// bucket; requests without a credential count per address, an IPv6 /64
// being one address.
func TestRateLimitPerCaller(t *testing.T) {
	e := newEnvWith(t, nil, withLimits(map[string]string{server.GroupAPI: "1/m burst 2", server.GroupAuth: "1/m burst 2"}))
	exp := e.clock.Now().Add(24 * time.Hour)
	other := e.mustToken(&freight.Token{Name: "other", UserID: e.admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp})
	for range 2 {
		e.must(http.StatusOK, "GET", "/api/v1/products", e.token, nil)
	}
	wantRateLimited(t, e.do("GET", "/api/v1/products", e.token, nil), "60")
	// Another token of the same user, and anonymous callers, still pass.
	e.must(http.StatusOK, "GET", "/api/v1/products", other, nil)
	e.must(http.StatusOK, "GET", "/api/openapi.json", "", nil)

	// A browser session counts per user.
	e.mustUser("ann@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	b := e.browser()
	b.must(http.StatusOK, "POST", "/api/v1/auth/signin", map[string]any{"email": "ann@vendor.example", "password": goodPassword})
	b.must(http.StatusOK, "GET", "/api/v1/products", nil)
	b.must(http.StatusOK, "GET", "/api/v1/products", nil)
	if r := b.do("GET", "/api/v1/products", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("third read of a session: status %d, want 429", r.status)
	}

	// Anonymous requests, by address: straight into the handler, to set
	// the peer's address.
	from := func(addr string) int {
		req := httptest.NewRequest("GET", "/api/v1/auth/providers", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		e.checked.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		addr string
		want int
	}{
		{"192.0.2.1:1000", 200}, {"192.0.2.1:1001", 200}, {"192.0.2.1:1002", 429},
		{"192.0.2.2:1000", 200},
		{"[2001:db8:1:2::1]:1000", 200}, {"[2001:db8:1:2::ffff]:1000", 200}, {"[2001:db8:1:2:aaaa::1]:1000", 429},
		{"[2001:db8:1:3::1]:1000", 200},
		// An IPv4-mapped IPv6 address is the IPv4 address.
		{"[::ffff:192.0.2.2]:1000", 200}, {"192.0.2.2:1000", 429},
	} {
		if got := from(c.addr); got != c.want {
			t.Errorf("GET /api/v1/auth/providers from %s: %d, want %d", c.addr, got, c.want)
		}
	}
}

// TestRateLimitSpares: the download URLs themselves are never counted, so
// a segmented downloader's many ranged requests all pass while the grant
// requests are limited; and groups whose limit is off send no fields.
func TestRateLimitSpares(t *testing.T) {
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	s := newShopOn(t, newEnvWith(t, blobs, withLimits(map[string]string{server.GroupDownload: "1/h burst 1"})), 1<<20)
	g := s.grant(s.acmeTok)
	r := s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil)
	wantRateLimited(t, r, "3600")
	for i := range 40 {
		off := i * 1000
		r := s.fetch("GET", g.URL, "Range", fmt.Sprintf("bytes=%d-%d", off, off+999))
		if r.status != http.StatusPartialContent {
			t.Fatalf("ranged request %d: status %d, want 206", i+1, r.status)
		}
		if r.header.Get("RateLimit") != "" {
			t.Fatalf("a download answer carries RateLimit %q", r.header.Get("RateLimit"))
		}
	}
	off := newEnvWith(t, nil, func(c *server.Config) { c.RateLimits = server.NoRateLimits() })
	for range 500 {
		r := off.must(http.StatusOK, "GET", "/api/v1/me", off.token, nil)
		if r.header.Get("RateLimit") != "" || r.header.Get("RateLimit-Policy") != "" {
			t.Fatalf("limits off, yet the answer carries RateLimit %q", r.header.Get("RateLimit"))
		}
	}
}

func TestCheckRateLimits(t *testing.T) {
	if err := server.CheckRateLimits(map[string]freight.RateLimit{"api": {Count: 1, Per: time.Second, Burst: 1}}); err != nil {
		t.Errorf("a valid configuration: %v", err)
	}
	for _, m := range []map[string]freight.RateLimit{
		{"reads": {Count: 1, Per: time.Second, Burst: 1}},
		{"api": {Count: 1, Per: time.Second}},
	} {
		if err := server.CheckRateLimits(m); err == nil {
			t.Errorf("CheckRateLimits(%v) = nil, want an error", m)
		}
	}
}

// TestRouteGroups: every route the server limits declares the 429 answer
// and the RateLimit fields in the OpenAPI description, the routes outside
// every group are the ones that must never count, and the declared groups
// name real routes.
func TestRouteGroups(t *testing.T) {
	e := newEnv(t)
	sp := mustSpec(t)
	unlimited := []string{
		"GET /d/{token}/{name}", "GET /api/v1/edge/blobs/{sha256}", "GET /.well-known/freight-keys.json",
		"GET /.well-known/freight-license-keys.json", "GET /healthz", "GET /readyz", "GET /metrics",
	}
	groups := map[string]string{}
	for _, r := range e.srv.Routes() {
		groups[r.Pattern] = r.Group
		if r.Page {
			if r.Group != "" {
				t.Errorf("page %s counts in group %q", r.Pattern, r.Group)
			}
			continue
		}
		if r.Group == "" {
			if !slices.Contains(unlimited, r.Pattern) {
				t.Errorf("route %s is in no rate-limit group", r.Pattern)
			}
			continue
		}
		if !slices.Contains(server.RateGroups, r.Group) {
			t.Errorf("route %s is in an unknown group %q", r.Pattern, r.Group)
		}
		op := sp.ops[r.Pattern]
		if op == nil {
			continue // TestOpenAPIRoutes reports it
		}
		if _, ok := op.responses["429"]; !ok {
			t.Errorf("%s (group %s) declares no 429 answer", r.Pattern, r.Group)
		}
		for code := range op.responses {
			if code[0] != '2' {
				continue
			}
			h := specHeaders(sp, r.Pattern, code)
			if !h["RateLimit"] || !h["RateLimit-Policy"] {
				t.Errorf("%s: answer %s declares no RateLimit and RateLimit-Policy fields", r.Pattern, code)
			}
		}
	}
	for pattern, g := range server.RouteGroups {
		if got, ok := groups[pattern]; !ok || got != g {
			t.Errorf("routeGroups names %s in group %s; the route is %q (exists: %v)", pattern, g, got, ok)
		}
	}
	for _, want := range []struct{ pattern, group string }{
		{"POST /api/v1/auth/signin", server.GroupAuth}, {"GET /auth/oidc/{provider}/start", server.GroupAuth},
		{"GET /api/v1/catalog", server.GroupAPI}, {"PATCH /api/v1/settings", server.GroupWrite},
		{"POST /api/v1/artifacts/{artifact}/download", server.GroupDownload},
		{"PUT /api/v1/uploads/{upload}/parts/{part}", server.GroupUpload},
	} {
		if groups[want.pattern] != want.group {
			t.Errorf("%s is in group %q, want %q", want.pattern, groups[want.pattern], want.group)
		}
	}
	tmr := specHeaders(sp, "POST /api/v1/auth/signin", "429")
	if !tmr["Retry-After"] || !tmr["RateLimit"] {
		t.Errorf("the 429 answer declares the fields %v, want Retry-After and RateLimit", tmr)
	}
}

// specHeaders returns the header names an operation's answer declares,
// following a $ref to a shared answer.
func specHeaders(sp *spec, pattern, code string) map[string]bool {
	method, path, _ := strings.Cut(pattern, " ")
	op := sp.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	r := op["responses"].(map[string]any)[code].(map[string]any)
	if ref, ok := r["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/responses/")
		r = sp.doc["components"].(map[string]any)["responses"].(map[string]any)[name].(map[string]any)
	}
	out := map[string]bool{}
	h, _ := r["headers"].(map[string]any)
	for k := range h {
		out[k] = true
	}
	return out
}

type usageAnswer struct {
	OrgID string        `json:"org_id"`
	Quota freight.Quota `json:"quota"`
	Day   struct {
		Start     time.Time `json:"start"`
		ResetsAt  time.Time `json:"resets_at"`
		Downloads int64     `json:"downloads"`
		Bytes     int64     `json:"bytes"`
	} `json:"day"`
	Month struct {
		Start     time.Time `json:"start"`
		ResetsAt  time.Time `json:"resets_at"`
		Downloads int64     `json:"downloads"`
		Bytes     int64     `json:"bytes"`
	} `json:"month"`
}

// TestOrgQuota: an organization capped at 2 grants a day gets 429 with
// Retry-After up to the next UTC midnight on the third, sees its usage, and
// downloads again the next day; a monthly byte cap holds until the first
// of the next month; a file larger than the cap by itself is forbidden.
func TestOrgQuota(t *testing.T) {
	s := newShopSized(t, 1000)
	// 22:30 UTC on the last day of a month, so that the day and the month
	// end at the same midnight and 90 minutes away.
	s.clock.mu.Lock()
	s.clock.now = time.Date(2027, 3, 31, 22, 30, 0, 0, time.UTC)
	s.clock.mu.Unlock()
	usagePath := "/api/v1/organizations/" + s.acme.Slug + "/usage"
	var u usageAnswer
	s.must(http.StatusOK, "GET", usagePath, s.acmeAdminTok, nil).decode(t, &u)
	if u.Quota != (freight.Quota{}) || u.Day.Downloads != 0 || !u.Day.ResetsAt.Equal(time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("usage before anything: %+v", u)
	}
	s.must(http.StatusOK, "PUT", "/api/v1/organizations/"+s.acme.ID+"/quota", s.token, map[string]any{"daily_downloads": 2})
	// Customers may not set their own quota, and members may not see it.
	wantError(t, s.do("PUT", "/api/v1/organizations/"+s.acme.ID+"/quota", s.acmeAdminTok, map[string]any{}), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, s.do("GET", usagePath, s.acmeTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, s.do("GET", "/api/v1/organizations/"+s.acme.Slug+"/usage", s.globexTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, s.do("PUT", "/api/v1/organizations/"+s.acme.ID+"/quota", s.token, map[string]any{"daily_bytes": -1}), http.StatusBadRequest, freight.EINVALID, "daily_bytes")

	evs, _, err := s.store.AuditEvents(context.Background(), freight.AuditFilter{Action: "organization.quota"})
	if err != nil || len(evs) != 1 || evs[0].OrgID != s.acme.ID || !strings.Contains(string(evs[0].Details), `"daily_downloads":2`) {
		t.Errorf("audit of the quota change: %v, %v", evs, err)
	}

	s.grant(s.acmeTok)
	s.grant(s.acmeAdminTok) // the quota is the organization's, whoever asks
	r := s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil)
	wantRateLimited(t, r, strconv.Itoa(90*60))
	if _, msg, _ := r.err(); !strings.Contains(msg, "daily") || !strings.Contains(msg, "2027-04-01T00:00:00Z") {
		t.Errorf("quota refusal %q does not say which quota and when it resets", msg)
	}
	// The refusal charged nothing.
	s.must(http.StatusOK, "GET", usagePath, s.token, nil).decode(t, &u)
	if u.Day.Downloads != 2 || u.Day.Bytes != 2000 || u.Month.Downloads != 2 || u.Quota.DailyDownloads != 2 {
		t.Errorf("usage after two grants and a refusal: %+v", u)
	}
	// Other organizations are not concerned; a minute before midnight is
	// still the same day.
	s.clock.Add(89 * time.Minute)
	wantRateLimited(t, s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil), "60")
	s.clock.Add(time.Minute)
	s.grant(s.acmeTok)

	// A month's bytes: 2.5 files.
	s.must(http.StatusOK, "PUT", "/api/v1/organizations/"+s.acme.ID+"/quota", s.token, map[string]any{"monthly_bytes": 2500})
	s.grant(s.acmeTok)
	r = s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil)
	wantRateLimited(t, r, strconv.Itoa(30*24*3600)) // April has 30 days
	s.must(http.StatusOK, "GET", usagePath, s.acmeAdminTok, nil).decode(t, &u)
	if u.Month.Bytes != 2000 || u.Day.Downloads != 2 || !u.Month.ResetsAt.Equal(time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("usage in April: %+v", u)
	}
	s.must(http.StatusOK, "PUT", "/api/v1/organizations/"+s.acme.ID+"/quota", s.token, map[string]any{"monthly_bytes": 999})
	wantError(t, s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	// Vendor staff have no organization and no quota.
	s.grant(s.token)

	// The janitor drops the windows that ended.
	s.clock.Add(31 * 24 * time.Hour)
	s.srv.Sweep(context.Background(), time.Minute, time.Hour)
	s.srv.Wait()
	n, err := s.store.PruneUsage(context.Background(), freight.LimitDay, s.clock.Now())
	if err != nil || n != 0 {
		t.Errorf("after a sweep, %d past day windows were left (%v)", n, err)
	}
	if !strings.Contains(metricsText(t, s.env), `freight_grants_total{reason="org_quota",result="refused"} 4`) {
		t.Error("the quota refusals are not counted in freight_grants_total")
	}
}

// replicas are servers on one database, as replicas behind a load
// balancer are: each has its own process state, all share the store and a
// clock.
type replicas struct {
	t     testing.TB
	clock *clock
	envs  []*env
	token string
}

// newReplicas starts n servers on the database at url, with the rate
// limits kept in the database.
func newReplicas(t testing.TB, url string, n int, opts ...func(*server.Config)) *replicas {
	ctx := context.Background()
	rs := &replicas{t: t, clock: &clock{now: time.Now().UTC().Truncate(time.Microsecond)}}
	keys := testdb.SealKeys(t) // replicas share their keys as they share the database
	for i := range n {
		logger := slog.New(server.LogHandler(slog.NewTextHandler(t.Output(), nil))).With("replica", i)
		db, err := sqlstore.Open(ctx, url, logger)
		if err != nil {
			t.Fatal(err)
		}
		db.SealWith(keys)
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		cfg := server.Config{Now: rs.clock.Now, PasswordParams: password.Params{Memory: 64, Time: 1, Threads: 1}, SharedRateLimits: true}
		for _, o := range opts {
			o(&cfg)
		}
		h := server.New(db, nil, logger, cfg)
		srv := httptest.NewServer(checked(t, h))
		t.Cleanup(srv.Close)
		rs.envs = append(rs.envs, &env{t: t, h: h, srv: h, url: srv.URL, store: db, clock: rs.clock, client: srv.Client()})
	}
	e := rs.envs[0]
	e.admin = &freight.User{Email: "root@vendor.example", VendorRole: freight.RoleAdmin}
	if err := e.store.CreateUser(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	exp := rs.clock.Now().AddDate(1, 0, 0)
	rs.token = e.mustToken(&freight.Token{Name: "admin", UserID: e.admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp})
	return rs
}

// TestRateLimitAcrossReplicas: two servers on one PostgreSQL database give
// a token one bucket. Requests alternating between them pass until their
// combined count reaches the burst, and the next one is refused, whichever
// server gets it; the refusal is the same on both, and another token is
// not concerned. The janitor's sweep jobs are enqueued by one replica per interval.
func TestRateLimitAcrossReplicas(t *testing.T) {
	rs := newReplicas(t, testdb.Postgres(t), 2, withLimits(map[string]string{server.GroupAPI: "1/m burst 7"}))
	for i := range 7 {
		e := rs.envs[i%2]
		r := e.must(http.StatusOK, "GET", "/api/v1/products", rs.token, nil)
		if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"api";r=%d;t=60`, 6-i); got != want {
			t.Errorf("request %d on replica %d: RateLimit = %q, want %q", i+1, i%2, got, want)
		}
	}
	for i := range 2 {
		wantRateLimited(t, rs.envs[i].do("GET", "/api/v1/products", rs.token, nil), "60")
	}
	exp := rs.clock.Now().Add(time.Hour)
	other := rs.envs[1].mustToken(&freight.Token{Name: "other", UserID: rs.envs[0].admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp})
	rs.envs[1].must(http.StatusOK, "GET", "/api/v1/products", other, nil)
	rs.clock.Add(time.Minute)
	rs.envs[1].must(http.StatusOK, "GET", "/api/v1/products", rs.token, nil)
	wantRateLimited(t, rs.envs[0].do("GET", "/api/v1/products", rs.token, nil), "60")

	// Sweeps: the first replica to come enqueues them all, the other
	// none; once they ran, an interval later the sweeps are due again, the
	// blob collection not.
	ctx := context.Background()
	all := server.SweepKinds
	if got := rs.envs[1].srv.Sweep(ctx, time.Minute, time.Hour); !slices.Equal(got, all) {
		t.Errorf("first replica's sweeps: %v, want %v", got, all)
	}
	if got := rs.envs[0].srv.Sweep(ctx, time.Minute, time.Hour); len(got) != 0 {
		t.Errorf("second replica enqueued %v in the same interval", got)
	}
	rs.envs[0].srv.Wait()
	rs.clock.Add(time.Minute)
	if got := rs.envs[0].srv.Sweep(ctx, time.Minute, time.Hour); !slices.Equal(got, all[:5]) {
		t.Errorf("a minute later: %v, want %v", got, all[:5])
	}
	rs.envs[1].srv.Wait()
	// The sweep dropped the full buckets only: the drained one kept its
	// state, and has one request back after the minute.
	if got := rs.envs[1].must(http.StatusOK, "GET", "/api/v1/products", rs.token, nil).header.Get("RateLimit"); got != `"api";r=0;t=60` {
		t.Errorf("after the sweep: RateLimit = %q, want the drained bucket's \"api\";r=0;t=60", got)
	}
}

// TestRateLimitDefaults: the defaults bound nothing a person or the CLI
// does, and configuration reads them back.
func TestRateLimitDefaults(t *testing.T) {
	d := server.DefaultRateLimits()
	for _, g := range server.RateGroups {
		l, ok := d[g]
		if !ok {
			t.Errorf("group %s has no default", g)
			continue
		}
		if err := l.Validate(); err != nil {
			t.Errorf("default of %s: %v", g, err)
		}
	}
	if d[server.GroupEdge] != (freight.RateLimit{}) {
		t.Errorf("edges are limited by default: %v", d[server.GroupEdge])
	}
	if l := d[server.GroupUpload]; l.Burst < 1000 {
		t.Errorf("the upload burst %d would hold back a parallel upload of many parts", l.Burst)
	}
}

// BenchmarkRateLimit measures what the limiter adds to a request (GET
// /api/v1/me with a bearer token, in the handler): without limits, with
// the buckets in process, and with the buckets in PostgreSQL, against the
// same request on PostgreSQL without limits. The limit is too high to
// refuse anything: every request takes its token.
func BenchmarkRateLimit(b *testing.B) {
	huge := withLimits(map[string]string{server.GroupAPI: "1000000/s burst 1000000"})
	run := func(b *testing.B, h http.Handler, token string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("GET", "/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	b.Run("sqlite/off", func(b *testing.B) {
		e := newEnvWith(b, nil, func(c *server.Config) { c.RateLimits = server.NoRateLimits() })
		run(b, e.h, e.token)
	})
	b.Run("sqlite/memory", func(b *testing.B) {
		e := newEnvWith(b, nil, huge)
		run(b, e.h, e.token)
	})
	b.Run("postgres/off", func(b *testing.B) {
		rs := newReplicas(b, testdb.Postgres(b), 1, func(c *server.Config) { c.RateLimits = server.NoRateLimits() })
		run(b, rs.envs[0].h, rs.token)
	})
	b.Run("postgres/database", func(b *testing.B) {
		rs := newReplicas(b, testdb.Postgres(b), 1, huge)
		run(b, rs.envs[0].h, rs.token)
	})
}

// TestRateLimitBrowserRoutes: the sign-in routes of OpenID providers are
// browser navigations, so their refusals, the rate limit's included, are
// the error page rather than JSON.
func TestRateLimitBrowserRoutes(t *testing.T) {
	e := newEnvWith(t, nil, withLimits(map[string]string{server.GroupAuth: "1/m burst 1"}))
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/auth/oidc/nowhere/start", nil)
		req.RemoteAddr = "192.0.2.1:1000"
		rec := httptest.NewRecorder()
		e.checked.ServeHTTP(rec, req)
		return rec
	}
	first := get()
	if first.Code != http.StatusNotFound || !strings.HasPrefix(first.Header().Get("Content-Type"), "text/html") {
		t.Errorf("an unknown provider: %d %s, want 404 as a page", first.Code, first.Header().Get("Content-Type"))
	}
	second := get()
	if second.Code != http.StatusTooManyRequests || !strings.HasPrefix(second.Header().Get("Content-Type"), "text/html") ||
		second.Header().Get("Retry-After") != "60" || !strings.Contains(second.Body.String(), "Too many requests") {
		t.Errorf("over the limit: %d %s, Retry-After %q, want 429 as the error page with Retry-After 60:\n%s",
			second.Code, second.Header().Get("Content-Type"), second.Header().Get("Retry-After"), second.Body.String())
	}
}
