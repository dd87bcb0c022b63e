package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/server"
)

// scrape reads GET /metrics into a map from series (name{labels} as the
// text format writes it, labels sorted by name) to value.
func scrape(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	r := e.must(http.StatusOK, "GET", "/metrics", "", nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want text/plain", ct)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(r.body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// series names a series as the text format writes it; labels come in
// name, value pairs, sorted by name.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name + "{")
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i] + `="` + labels[i+1] + `"`)
	}
	return b.String() + "}"
}

// wantDelta checks that each series moved by the given amount between two
// scrapes.
func wantDelta(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for s, d := range want {
		if got := after[s] - before[s]; got != d {
			t.Errorf("%s moved by %v, want %v", s, got, d)
		}
	}
}

func TestMetrics(t *testing.T) {
	s := newShopSized(t, 1000)
	e := s.env
	m0 := scrape(t, e)
	if got := m0[series("freight_uploads_completed_total", "result", "ok")]; got != 1 {
		t.Errorf("uploads completed = %v, want 1 (the shop's file)", got)
	}
	if _, ok := m0[series("freight_jobs_queued")]; !ok {
		t.Error("no freight_jobs_queued gauge")
	}

	// A refused grant, an issued one and its download.
	wantError(t, s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.globexTok, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	g := s.grant(s.acmeTok)
	if r := s.fetch("GET", g.URL); r.status != http.StatusOK || len(r.body) != 1000 {
		t.Fatalf("download: status %d, %d bytes", r.status, len(r.body))
	}
	// Five wrong passwords for an unknown address lock it out; the sixth
	// attempt is refused as locked.
	for range 5 {
		e.must(http.StatusUnauthorized, "POST", "/api/v1/auth/signin", "", map[string]string{"email": "nobody@example.com", "password": "wrong"})
	}
	e.must(http.StatusTooManyRequests, "POST", "/api/v1/auth/signin", "", map[string]string{"email": "nobody@example.com", "password": "wrong"})

	m1 := scrape(t, e)
	wantDelta(t, m0, m1, map[string]float64{
		series("freight_grants_total", "reason", "no_entitlement", "result", "refused"):                                                 1,
		series("freight_grants_total", "reason", "ok", "result", "issued"):                                                              1,
		series("freight_download_bytes_total", "mode", "origin"):                                                                        1000,
		series("freight_signin_failures_total", "kind", "password"):                                                                     5,
		series("freight_signin_failures_total", "kind", "locked"):                                                                       1,
		series("freight_lockouts_total", "kind", "password"):                                                                            1,
		series("freight_http_requests_total", "method", "POST", "route", "POST /api/v1/auth/signin", "status", "401"):                   5,
		series("freight_http_requests_total", "method", "POST", "route", "POST /api/v1/auth/signin", "status", "429"):                   1,
		series("freight_http_requests_total", "method", "POST", "route", "POST /api/v1/artifacts/{artifact}/download", "status", "404"): 1,
		series("freight_http_requests_total", "method", "POST", "route", "POST /api/v1/artifacts/{artifact}/download", "status", "200"): 1,
		series("freight_http_request_duration_seconds_count", "route", "POST /api/v1/artifacts/{artifact}/download"):                    2,
	})
	// Bytes an edge reports are counted under its mode, once per event
	// however often the batch is sent.
	var edge struct {
		Credential string `json:"credential"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/edges", e.token, map[string]any{"name": "fra-1"}).decode(t, &edge)
	now := e.clock.Now()
	ev := map[string]any{"downloads": []*freight.Download{{ID: freight.NewID(freight.PrefixDownload, now), GrantID: g.ID,
		IP: "192.0.2.1", Bytes: 700, Completed: false, StartedAt: now, FinishedAt: &now}}}
	e.must(http.StatusOK, "POST", "/api/v1/edge/events", edge.Credential, ev)
	e.must(http.StatusOK, "POST", "/api/v1/edge/events", edge.Credential, ev)
	m1 = scrape(t, e)
	wantDelta(t, m0, m1, map[string]float64{series("freight_download_bytes_total", "mode", "edge"): 700})

	// Routes are patterns, never paths with ids in them.
	for s := range m1 {
		if strings.Contains(s, `route="`) && (strings.Contains(s, "art_") || strings.Contains(s, "nobody")) {
			t.Errorf("series %s carries a raw path", s)
		}
	}

	// A failing job is counted by kind; the queued gauge reads the store.
	// Run what the steps above queued (the release's notification) first,
	// so that the gauge moves by this job alone.
	q := e.srv.Jobs()
	if _, err := q.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	m1 = scrape(t, e)
	q.Handle("test.fail", func(ctx context.Context, j *freight.Job) error { return errors.New("always fails") })
	if _, err := q.Enqueue(t.Context(), e.store, "test.fail", nil, jobs.Options{MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	m2 := scrape(t, e)
	wantDelta(t, m1, m2, map[string]float64{series("freight_jobs_queued"): 1})
	if _, err := q.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	m3 := scrape(t, e)
	wantDelta(t, m2, m3, map[string]float64{
		series("freight_jobs_queued"):                            -1,
		series("freight_jobs_failed_total", "kind", "test.fail"): 1,
	})
}

// TestMetricsMethods checks that a made-up method does not become a label
// value of its own.
func TestMetricsMethods(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"FOO", "BAR"} {
		e.do(m, "/api/v1/nothing", "", nil)
	}
	m := scrape(t, e)
	var methods []string
	for s := range m {
		if strings.HasPrefix(s, "freight_http_requests_total{") {
			i := strings.Index(s, `method="`) + len(`method="`)
			methods = append(methods, s[i:i+strings.IndexByte(s[i:], '"')])
		}
	}
	if slices.Contains(methods, "FOO") || slices.Contains(methods, "BAR") || !slices.Contains(methods, "other") {
		t.Errorf("methods %v: want made-up methods counted as other", methods)
	}
}

// TestMetricsToken checks that a metrics token, when set, is required.
func TestMetricsToken(t *testing.T) {
	e := newEnvWith(t, nil, func(c *server.Config) { c.MetricsToken = "scrape-secret" })
	r := e.do("GET", "/metrics", "", nil)
	wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	wantError(t, e.do("GET", "/metrics", "scrape-secreT", nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	wantError(t, e.do("GET", "/metrics", e.token, nil), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	r = e.must(http.StatusOK, "GET", "/metrics", "scrape-secret", nil)
	if !strings.Contains(string(r.body), "freight_jobs_queued") {
		t.Errorf("metrics answer lacks freight_jobs_queued:\n%s", r.body)
	}
}
