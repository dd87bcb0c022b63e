package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/freight-portal/freight/server"
)

// TestOpenAPIRoutes checks that the description and the server agree on
// the routes: every route has an operation and every operation is a route,
// with the same permission and the credentials that permission takes.
func TestOpenAPIRoutes(t *testing.T) {
	sp := mustSpec(t)
	e := newEnv(t)
	routes := map[string]server.Route{}
	for _, r := range e.srv.Routes() {
		if r.Page {
			continue // HTML pages are not part of the API
		}
		routes[r.Pattern] = r
		op := sp.ops[r.Pattern]
		if op == nil {
			t.Errorf("route %s (permission %s) has no operation in server/openapi.json", r.Pattern, r.Permission)
			continue
		}
		if op.permission != r.Permission {
			t.Errorf("%s: x-permission %q, but the route needs %q", r.Pattern, op.permission, r.Permission)
		}
		if !op.hasSecurity {
			t.Errorf("%s: no security requirement of its own", r.Pattern)
			continue
		}
		var schemes []string
		for _, alt := range op.security {
			for name := range alt.(map[string]any) {
				schemes = append(schemes, name)
			}
		}
		slices.Sort(schemes)
		var want []string
		switch r.Permission {
		case "public":
		case "session", "enroll":
			want = []string{"session"}
		case "edge":
			// An edge's own credential; API tokens and sessions are refused.
			want = []string{"edge"}
		default:
			want = []string{"bearer", "session"}
		}
		if !slices.Equal(schemes, want) {
			t.Errorf("%s (permission %s): security %v, want %v", r.Pattern, r.Permission, schemes, want)
		}
	}
	ids := map[string]string{}
	for pattern, op := range sp.ops {
		if _, ok := routes[pattern]; !ok {
			// HEAD is served by the GET route of the same path.
			get, isHead := strings.CutPrefix(pattern, "HEAD ")
			if _, ok := routes["GET "+get]; !isHead || !ok {
				t.Errorf("server/openapi.json describes %s, which is not a route", pattern)
			}
		}
		o := sp.doc["paths"].(map[string]any)[strings.SplitN(pattern, " ", 2)[1]].(map[string]any)[strings.ToLower(strings.SplitN(pattern, " ", 2)[0])].(map[string]any)
		id, _ := o["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", pattern)
		} else if other, dup := ids[id]; dup {
			t.Errorf("operationId %s names both %s and %s", id, other, pattern)
		}
		ids[id] = pattern
		if s, _ := o["summary"].(string); s == "" {
			t.Errorf("%s has no summary", pattern)
		}
		if len(op.responses) == 0 {
			t.Errorf("%s declares no response", pattern)
		}
		for name := range regexpPathParams(pattern) {
			if !declaresParam(sp.doc, o, name) {
				t.Errorf("%s does not declare its path parameter %s", pattern, name)
			}
		}
	}
}

var pathParamRE = regexp.MustCompile(`\{(\w+)\}`)

func regexpPathParams(pattern string) map[string]bool {
	out := map[string]bool{}
	for _, m := range pathParamRE.FindAllStringSubmatch(pattern, -1) {
		out[m[1]] = true
	}
	return out
}

func declaresParam(doc, op map[string]any, name string) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		pm := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			pm, _ = doc["components"].(map[string]any)["parameters"].(map[string]any)[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
		}
		if pm["in"] == "path" && pm["name"] == name && pm["required"] == true {
			return true
		}
	}
	return false
}

// TestOpenAPIDocument checks the description against the OpenAPI 3.1
// schema, and that every schema it defines is used.
func TestOpenAPIDocument(t *testing.T) {
	meta, err := os.ReadFile("testdata/oas-3.1-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := jsonschema.UnmarshalJSON(bytes.NewReader(meta))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const metaURL = "https://spec.openapis.org/oas/3.1/schema/2021-04-15"
	if err := c.AddResource(metaURL, m); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(metaURL)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(server.OpenAPIDocument))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("server/openapi.json is not a valid OpenAPI 3.1 document: %v", err)
	}
	if v := doc.(map[string]any)["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}

	sp := mustSpec(t) // compiles every schema an operation names
	for _, kind := range []string{"schemas", "parameters", "responses"} {
		for name := range sp.doc["components"].(map[string]any)[kind].(map[string]any) {
			ref := fmt.Sprintf(`"#/components/%s/%s"`, kind, name)
			if !bytes.Contains(server.OpenAPIDocument, []byte(ref)) {
				t.Errorf("components.%s.%s is never used", kind, name)
			}
		}
	}
}

// TestOpenAPIServed checks the two routes that serve the description.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.must(http.StatusOK, "GET", "/api/openapi.json", "", nil)
	if !bytes.Equal(r.body, server.OpenAPIDocument) {
		t.Error("GET /api/openapi.json does not answer the embedded description")
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}

	r = e.must(http.StatusOK, "GET", "/api/docs", "", nil)
	page := string(r.body)
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none' and no script", csp)
	}
	// The inline style sheet is allowed by its hash, and by nothing else.
	start, end := strings.Index(page, "<style>"), strings.Index(page, "</style>")
	if start < 0 || end < start {
		t.Fatal("the page has no style sheet")
	}
	sum := sha256.Sum256([]byte(page[start+len("<style>") : end]))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy = %q, want %s for the page's style sheet", csp, want)
	}
	// Offline: no script at all, and nothing loaded from elsewhere.
	for _, bad := range []string{"<script", "src=", "<link", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	// Every operation and schema is on the page.
	sp := mustSpec(t)
	for pattern := range sp.ops {
		method, path, _ := strings.Cut(pattern, " ")
		o := sp.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
		if !strings.Contains(page, `id="op-`+o["operationId"].(string)+`"`) {
			t.Errorf("the page does not show %s", pattern)
		}
	}
	for name := range sp.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("the page does not show the schema %s", name)
		}
	}
}

// failures is a testing.TB that keeps the errors it is given.
type failures struct {
	testing.TB
	errs []string
}

func (f *failures) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// TestOpenAPICheck checks the check itself: answers that break the
// description are caught, and answers that keep it pass.
func TestOpenAPICheck(t *testing.T) {
	const (
		orgJSON = `{"id":"org_01k0000000000000000000000a","slug":"acme","name":"Acme","require_mfa":false,` +
			`"created_at":"2026-01-31T12:00:00Z","updated_at":"2026-01-31T12:00:00Z"}`
		errJSON = `{"error":{"code":"not_found","message":"organization not found"}}`
	)
	for _, tc := range []struct {
		name         string
		method, path string
		reqBody      string
		status       int
		ct, body     string
		caught       string // in the error; "" for none
	}{
		{"Good", "GET", "/api/v1/organizations/acme", "", 200, "application/json", orgJSON, ""},
		{"GoodError", "GET", "/api/v1/organizations/acme", "", 404, "application/json", errJSON, ""},
		{"GoodCreate", "POST", "/api/v1/organizations", `{"slug":"acme","name":"Acme"}`, 201, "application/json", orgJSON, ""},
		{"UnknownRoute", "GET", "/api/v1/nothing", "", 404, "application/json", errJSON, ""},
		{"MissingField", "GET", "/api/v1/organizations/acme", "", 200, "application/json", `{"id":"org_01k0000000000000000000000a"}`, "missing propert"},
		{"ExtraField", "GET", "/api/v1/organizations/acme", "", 200, "application/json", strings.Replace(orgJSON, `"slug"`, `"colour":"red","slug"`, 1), "additional"},
		{"WrongType", "GET", "/api/v1/organizations/acme", "", 200, "application/json", strings.Replace(orgJSON, `"Acme"`, `7`, 1), "want string"},
		{"BadTime", "GET", "/api/v1/organizations/acme", "", 200, "application/json", strings.Replace(orgJSON, `2026-01-31T12:00:00Z`, `yesterday`, 1), "date-time"},
		{"UndeclaredStatus", "GET", "/api/v1/organizations/acme", "", 418, "application/json", errJSON, "declares no response 418"},
		{"PlainError", "GET", "/api/v1/organizations/acme", "", 404, "text/plain", "not found", "text/plain"},
		{"ErrorShape", "GET", "/api/v1/organizations/acme", "", 404, "application/json", `{"message":"x"}`, "missing propert"},
		{"UndeclaredSuccess", "DELETE", "/api/v1/organizations/acme", "", 200, "application/json", `{}`, "declares no response 200"},
		{"UnknownRouteNot404", "GET", "/api/v1/nothing", "", 200, "application/json", `{}`, "outside every operation"},
		{"RequestField", "POST", "/api/v1/organizations", `{"slug":"acme","name":"Acme","colour":"red"}`, 201, "application/json", orgJSON, "request body"},
		{"RequestOnBodyless", "POST", "/api/v1/releases/rel_01k0000000000000000000000a/publish", `{"now":true}`, 200, "application/json", `{}`, "does not declare"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &failures{TB: t}
			h := checked(f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
			if tc.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			switch {
			case tc.caught == "" && len(f.errs) > 0:
				t.Errorf("a good answer was refused: %v", f.errs)
			case tc.caught != "" && len(f.errs) == 0:
				t.Errorf("not caught, want an error about %q", tc.caught)
			case tc.caught != "" && !strings.Contains(f.errs[0], tc.caught):
				t.Errorf("caught as %q, want it to say %q", f.errs[0], tc.caught)
			}
		})
	}
}
