package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// serve sends one request straight to the handler, without a network.
func (e *env) serve(method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://freight.test/", strings.NewReader(body))
	// Set the raw target by hand: httptest.NewRequest panics on a target
	// that is not a valid request URI, and the fuzzer makes many.
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil
	}
	req.URL, req.RequestURI = u, target
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer holds for every answer: never a server error for bad input,
// always JSON, and an error answer always says what is wrong.
func checkAnswer(t *testing.T, method, target, body string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec == nil {
		return
	}
	if rec.Code >= 500 {
		t.Fatalf("%s %s with body %q: status %d: %s", method, target, body, rec.Code, rec.Body)
	}
	if rec.Code == http.StatusNoContent {
		return
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", method, target, rec.Body)
	}
	if rec.Code >= 400 {
		var b struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(rec.Body.Bytes(), &b)
		if b.Error.Code == "" || b.Error.Message == "" {
			t.Fatalf("%s %s: error answer without code or message: %s", method, target, rec.Body)
		}
	}
}

func FuzzRequestBody(f *testing.F) {
	e := newEnv(f)
	var prod freight.Product
	var org freight.Organization
	ctx := f.Context()
	org = freight.Organization{Slug: "acme", Name: "Acme"}
	prod = freight.Product{Slug: "cad", Name: "CAD"}
	if err := e.store.CreateOrganization(ctx, &org); err != nil {
		f.Fatal(err)
	}
	if err := e.store.CreateProduct(ctx, &prod); err != nil {
		f.Fatal(err)
	}
	ent := freight.Entitlement{OrgID: org.ID, ProductID: prod.ID, Channels: []freight.Channel{freight.ChannelStable}}
	if err := e.store.CreateEntitlement(ctx, &ent); err != nil {
		f.Fatal(err)
	}
	targets := []struct{ method, path string }{
		{"POST", "/api/v1/organizations"},
		{"PATCH", "/api/v1/organizations/acme"},
		{"POST", "/api/v1/users"},
		{"POST", "/api/v1/products/cad/releases"},
		{"POST", "/api/v1/entitlements"},
		{"PATCH", "/api/v1/entitlements/" + ent.ID},
		{"POST", "/api/v1/tokens"},
		{"PUT", "/api/v1/organizations/acme/members/usr_00000000000000000000000000"},
		{"POST", "/api/v1/organizations/acme/catalog/preview"},
	}
	for i, seed := range []string{
		`{"slug":"globex","name":"Globex"}`,
		`{"name":"Acme Corp"}`,
		`{"email":"a@b.example","vendor_role":"support"}`,
		`{"version":"1.2.3-rc.1","channel":"rc","notes":"x"}`,
		`{"org_id":"` + org.ID + `","product_id":"` + prod.ID + `","channels":["beta"],"version_range":"~1.2"}`,
		`{"maintenance_until":null,"limits":{"downloads":3,"period":"day"},"not_before":"2026-01-01T00:00:00Z"}`,
		`{"name":"ci","role":"member","org_id":"` + org.ID + `"}`,
		`{"role":"member"}`,
		`{"replaces":"` + ent.ID + `","entitlement":{"channels":["rc"],"not_after":"2026-01-01T00:00:00Z","limits":{"bytes":5}}}`,
		`{"slug":`, `[]`, `null`, `{"a":1}{}`, "\x00", `{"name":"\u0000"}`,
	} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		tg := targets[int(which)%len(targets)]
		checkAnswer(t, tg.method, tg.path, body, e.serve(tg.method, tg.path, body))
	})
}

func FuzzListQuery(f *testing.F) {
	e := newEnv(f)
	paths := []string{
		"/api/v1/organizations", "/api/v1/users", "/api/v1/products", "/api/v1/entitlements",
		"/api/v1/tokens", "/api/v1/audit", "/api/v1/organizations/acme/members",
	}
	for i, q := range []string{
		"limit=10&after=org_01m7zgrt35cxrfv0ercaan1n9y",
		"after=2026-11-21T16:59:25.669495Z/evt_01m7zgrt35cxrfv0ercaan1n9y",
		"after=usr_01m7zgrt35cxrfv0ercaan1n9y/org_01m7zgrt35cxrfv0ercaan1n9y",
		"since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z&action=x",
		"limit=-1", "limit=999999999999999999999", "after=%00", "org_id=org_&product_id=%ff",
		"vendor=true&org=acme", "after=/", "after=9999-99-99T99:99:99.999999Z/evt_x",
	} {
		f.Add(uint8(i), q)
	}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		target := paths[int(which)%len(paths)] + "?" + query
		checkAnswer(t, "GET", target, "", e.serve("GET", target, ""))
	})
}

// FuzzEdgeHeartbeat sends heartbeats of any shape as one edge. The answer
// is never a server error, and whatever the edge reports, the prefetch
// rows of another edge stay pending: an edge reports for itself only.
func FuzzEdgeHeartbeat(f *testing.F) {
	e := newEnv(f)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD", "prefetch_edges": true})
	a, b := e.registerEdge("fra-1"), e.registerEdge("nyc-1")
	_, art := e.publishFile("cad", "1.0.0", 1)
	_, held := e.publishFile("cad", "1.0.1", 2)
	e.srv.Wait()
	// Edge b holds one of the files: edge a's reports, of either, must
	// leave b's rows as they are, the one pending and the other done.
	if n, err := e.store.MarkEdgePrefetched(f.Context(), b.ID, []string{held.SHA256}, e.clock.Now()); err != nil || n != 1 {
		f.Fatalf("MarkEdgePrefetched(b) = %d, %v", n, err)
	}
	for _, seed := range []string{
		`{"public_url":"https://a.example","cached":["` + art.SHA256 + `"]}`,
		`{"public_url":"https://a.example","region":"eu-west","stats":{"hits":1},"cached":[]}`,
		`{"public_url":"https://a.example","cached":["` + strings.ToUpper(art.SHA256) + `"]}`,
		`{"public_url":"https://a.example","cached":[null]}`,
		`{"public_url":"https://a.example","cached":"` + art.SHA256 + `"}`,
		`{"public_url":"https://a.example","cached":["` + art.SHA256 + `","` + art.SHA256 + `"]}`,
		`{"cached":["` + art.SHA256 + `"]}`, `{"public_url":`, `[]`, `null`, "\x00",
		`{"public_url":"https://a.example","evicted":["` + held.SHA256 + `"]}`,
		`{"public_url":"https://a.example","cached":["` + held.SHA256 + `"],"evicted":["` + held.SHA256 + `","` + art.SHA256 + `"]}`,
		`{"public_url":"https://a.example","evicted":["` + strings.ToUpper(held.SHA256) + `"]}`,
		`{"public_url":"https://a.example","evicted":[""]}`,
		`{"public_url":"https://a.example","evicted":{}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "http://freight.test/api/v1/edge/heartbeat", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.Credential)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		checkAnswer(t, "POST", "/api/v1/edge/heartbeat", body, rec)
		row, err := e.store.EdgePrefetch(t.Context(), b.ID, art.SHA256)
		if err != nil || row.DoneAt != nil {
			t.Fatalf("edge b's row after edge a's heartbeat %q: %+v, %v; want it pending", body, row, err)
		}
		row, err = e.store.EdgePrefetch(t.Context(), b.ID, held.SHA256)
		if err != nil || row.DoneAt == nil {
			t.Fatalf("edge b's row of the file it holds after edge a's heartbeat %q: %+v, %v; want it done", body, row, err)
		}
	})
}
