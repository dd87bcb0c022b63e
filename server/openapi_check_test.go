package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/freight-portal/freight/server"
)

// specURL names the embedded description for the schema compiler.
const specURL = "https://freight.test/openapi.json"

// spec is the OpenAPI description compiled for checking answers: the
// operations, found with a ServeMux of the document's paths (the server's
// own pattern syntax), and a compiled JSON Schema per body.
type spec struct {
	doc map[string]any
	mux *http.ServeMux
	ops map[string]*specOperation // by "METHOD /path"
}

type specOperation struct {
	pattern      string
	permission   string
	security     []any
	hasSecurity  bool
	request      map[string]*jsonschema.Schema // media type → schema; nil schema for non-JSON
	bodyRequired bool
	responses    map[string]*specResponse // "200", "4XX", "default"
}

type specResponse struct {
	content map[string]*jsonschema.Schema // media type → schema; nil schema for non-JSON
}

// loadSpec compiles the embedded description once for all tests.
var loadSpec = sync.OnceValues(func() (*spec, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(server.OpenAPIDocument))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(specURL, doc); err != nil {
		return nil, err
	}
	root := doc.(map[string]any)
	components, _ := root["components"].(map[string]any)
	sp := &spec{doc: root, mux: http.NewServeMux(), ops: map[string]*specOperation{}}
	compile := func(ptr []string) (*jsonschema.Schema, error) {
		esc := make([]string, len(ptr))
		for i, p := range ptr {
			esc[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
		}
		return c.Compile(specURL + "#/" + strings.Join(esc, "/"))
	}
	// contents compiles the schemas of a content map found at ptr.
	contents := func(ptr []string, content map[string]any) (map[string]*jsonschema.Schema, error) {
		out := map[string]*jsonschema.Schema{}
		for media := range content {
			out[media] = nil
			if media != "application/json" {
				continue
			}
			sch, err := compile(append(slices.Clone(ptr), media, "schema"))
			if err != nil {
				return nil, err
			}
			out[media] = sch
		}
		return out, nil
	}
	paths, _ := root["paths"].(map[string]any)
	for path, item := range paths {
		for method, v := range item.(map[string]any) {
			o := v.(map[string]any)
			op := &specOperation{pattern: strings.ToUpper(method) + " " + path, responses: map[string]*specResponse{}}
			op.permission, _ = o["x-permission"].(string)
			op.security, op.hasSecurity = o["security"].([]any)
			if b, ok := o["requestBody"].(map[string]any); ok {
				op.bodyRequired, _ = b["required"].(bool)
				if op.request, err = contents([]string{"paths", path, method, "requestBody", "content"}, b["content"].(map[string]any)); err != nil {
					return nil, fmt.Errorf("%s: request: %w", op.pattern, err)
				}
			}
			for code, rv := range o["responses"].(map[string]any) {
				ptr := []string{"paths", path, method, "responses", code}
				r := rv.(map[string]any)
				if ref, ok := r["$ref"].(string); ok {
					name := strings.TrimPrefix(ref, "#/components/responses/")
					if r, ok = components["responses"].(map[string]any)[name].(map[string]any); !ok {
						return nil, fmt.Errorf("%s: no response %s", op.pattern, ref)
					}
					ptr = []string{"components", "responses", name}
				}
				content, _ := r["content"].(map[string]any)
				m, err := contents(append(ptr, "content"), content)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", op.pattern, code, err)
				}
				op.responses[code] = &specResponse{content: m}
			}
			sp.ops[op.pattern] = op
			sp.mux.HandleFunc(op.pattern, func(http.ResponseWriter, *http.Request) {})
		}
	}
	// Collect the compiler's garbage now rather than in the middle of the
	// first test that happens to time its requests.
	runtime.GC()
	return sp, nil
})

// mustSpec returns the compiled description or fails the test.
func mustSpec(t testing.TB) *spec {
	t.Helper()
	sp, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return sp
}

// errorSchema checks the answers of requests outside every operation.
func (sp *spec) errorSchema() *jsonschema.Schema {
	return sp.ops["GET /healthz"].responses["5XX"].content["application/json"]
}

// response finds the declared response for a status: the code, its range
// (4XX), or the default.
func (op *specOperation) response(status int) *specResponse {
	code := strconv.Itoa(status)
	for _, k := range []string{code, code[:1] + "XX", "default"} {
		if r, ok := op.responses[k]; ok {
			return r
		}
	}
	return nil
}

// checked wraps h so that every answer is checked against the description:
// its status is declared for the operation, its JSON body validates against
// the declared schema, and a JSON request that succeeded validates against
// the declared request body. Each mismatch fails t.
func checked(t testing.TB, h http.Handler) http.Handler {
	sp := mustSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody *bytes.Buffer
		if isJSON(r.Header.Get("Content-Type")) && r.Body != nil {
			reqBody = &bytes.Buffer{}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(r.Body, reqBody), r.Body}
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if err := sp.check(r, reqBody, rec); err != nil {
			t.Errorf("openapi: %s %s: status %d: %v\nbody: %.600s", r.Method, r.URL.RequestURI(), rec.status, err, rec.body.Bytes())
		}
	})
}

// check checks one exchange.
func (sp *spec) check(r *http.Request, reqBody *bytes.Buffer, rec *recorder) error {
	_, pattern := sp.mux.Handler(r)
	op := sp.ops[pattern]
	if op == nil {
		// The web interface's pages and assets are not part of the API.
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			return nil
		}
		// Outside every operation: a redirect to a clean path by the
		// server's own ServeMux, or the JSON 404 of an unknown route.
		if rec.status/100 == 3 {
			return nil
		}
		if rec.status != http.StatusNotFound {
			return fmt.Errorf("a request outside every operation answers %d, want 404", rec.status)
		}
		return validateJSON(sp.errorSchema(), rec.body.Bytes())
	}
	resp := op.response(rec.status)
	if resp == nil {
		return fmt.Errorf("%s declares no response %d", op.pattern, rec.status)
	}
	if rec.status/100 == 2 && reqBody != nil && reqBody.Len() > 0 {
		sch, ok := op.request["application/json"]
		if !ok {
			return fmt.Errorf("%s succeeded with a JSON body it does not declare", op.pattern)
		}
		if err := validateJSON(sch, reqBody.Bytes()); err != nil {
			return fmt.Errorf("%s succeeded with a request body that does not match its schema: %w", op.pattern, err)
		}
	}
	if r.Method == http.MethodHead || rec.status == http.StatusNoContent || rec.status == http.StatusNotModified {
		return nil
	}
	ct := rec.Header().Get("Content-Type")
	if len(resp.content) == 0 {
		if rec.body.Len() > 0 && rec.status/100 != 3 {
			return fmt.Errorf("%s declares no body for %d, and the answer has one (%s)", op.pattern, rec.status, ct)
		}
		return nil
	}
	media, _, _ := mime.ParseMediaType(ct)
	sch, ok := resp.content[media]
	if !ok {
		return fmt.Errorf("%s answers %s, not declared for %d", op.pattern, ct, rec.status)
	}
	if sch == nil {
		return nil
	}
	return validateJSON(sch, rec.body.Bytes())
}

func validateJSON(sch *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(v)
}

func isJSON(ct string) bool {
	media, _, _ := mime.ParseMediaType(ct)
	return media == "application/json"
}

// recorder passes an answer through and keeps a copy of JSON bodies. It
// keeps the writer's ReadFrom, so that file answers still use sendfile,
// and its Flush and Hijack.
type recorder struct {
	http.ResponseWriter
	status int
	keep   bool
	body   bytes.Buffer
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		w.keep = isJSON(w.Header().Get("Content-Type"))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.keep {
		w.body.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !w.keep {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w}, src)
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
