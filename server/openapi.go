package server

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// openAPIDocument is the OpenAPI 3.1 description of every route. It is
// written by hand; the server tests check that it names every route with
// its permission and that every answer they receive matches it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the description as it is embedded.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(openAPIDocument)
	return nil
}

// docs serves the description as a page for people, rendered once at
// start-up. It has no script, and its policy allows no other resource than
// its own style sheet.
func (s *Server) docs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", docsPolicy)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(docsPage)
	return nil
}

// docsStyle is the page's style sheet, inline and allowed by its hash.
const docsStyle = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header,main,nav{max-width:60rem;margin:0 auto;padding:0 1.5rem}
header{padding-top:1.5rem}
h1{margin:0 0 .5rem}h2{margin-top:2.5rem;border-bottom:2px solid #d8dde6}
h3{font-size:1rem;margin:1.75rem 0 .25rem;font-family:ui-monospace,monospace}
code,pre,.m,.p{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{background:#eef1f5;padding:.75rem;overflow:auto}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#116329}.post{color:#0550ae}.put,.patch{color:#8a4600}.delete{color:#a40e26}.head{color:#6e7781}
.perm{font-size:.8rem;background:#e7ecf3;border-radius:3px;padding:0 .4rem;margin-left:.5rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{text-align:left;vertical-align:top;padding:.2rem .6rem .2rem 0;border-bottom:1px solid #e3e7ee}
th{font-weight:600;font-size:.85rem}
nav ul{columns:2;padding-left:1.2rem}
a{color:#0550ae}
`

var (
	docsPage   []byte
	docsPolicy string
)

func init() {
	sum := sha256.Sum256([]byte(docsStyle))
	docsPolicy = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	page, err := renderDocs(openAPIDocument)
	if err != nil {
		// The document is embedded: a broken one fails every test and
		// every start, never a request.
		panic("server: openapi.json: " + err.Error())
	}
	docsPage = page
}

// The parts of an OpenAPI document the page shows.
type (
	apiDoc struct {
		Info struct {
			Title       string `json:"title"`
			Version     string `json:"version"`
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"info"`
		Tags []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"tags"`
		Paths      map[string]map[string]*apiOperation `json:"paths"`
		Components struct {
			Schemas    map[string]*apiSchema    `json:"schemas"`
			Responses  map[string]*apiResponse  `json:"responses"`
			Parameters map[string]*apiParameter `json:"parameters"`
		} `json:"components"`
	}
	apiOperation struct {
		Tags        []string                `json:"tags"`
		OperationID string                  `json:"operationId"`
		Summary     string                  `json:"summary"`
		Description string                  `json:"description"`
		Permission  string                  `json:"x-permission"`
		Parameters  []*apiParameter         `json:"parameters"`
		RequestBody *apiBody                `json:"requestBody"`
		Responses   map[string]*apiResponse `json:"responses"`
	}
	apiParameter struct {
		Ref         string     `json:"$ref"`
		Name        string     `json:"name"`
		In          string     `json:"in"`
		Required    bool       `json:"required"`
		Description string     `json:"description"`
		Schema      *apiSchema `json:"schema"`
	}
	apiBody struct {
		Required bool                                   `json:"required"`
		Content  map[string]struct{ Schema *apiSchema } `json:"content"`
	}
	apiResponse struct {
		Ref         string                                 `json:"$ref"`
		Description string                                 `json:"description"`
		Content     map[string]struct{ Schema *apiSchema } `json:"content"`
	}
	apiSchema struct {
		Ref                  string                `json:"$ref"`
		Type                 any                   `json:"type"`
		Format               string                `json:"format"`
		Pattern              string                `json:"pattern"`
		Enum                 []any                 `json:"enum"`
		Description          string                `json:"description"`
		Items                *apiSchema            `json:"items"`
		Properties           map[string]*apiSchema `json:"properties"`
		Required             []string              `json:"required"`
		AdditionalProperties any                   `json:"additionalProperties"`
	}
)

// Views of the page.
type (
	docsView struct {
		Title, Version, Summary string
		Description             []template.HTML
		Tags                    []docsTag
		Schemas                 []docsSchema
	}
	docsTag struct {
		Name, Description string
		Operations        []docsOperation
	}
	docsOperation struct {
		ID, Method, Path, Summary, Description, Permission string
		Parameters                                         []docsField
		Body                                               template.HTML
		BodyMedia                                          string
		Responses                                          []docsField
	}
	docsField struct {
		Name, In, Description string
		Required              bool
		Type                  template.HTML
	}
	docsSchema struct {
		Name, Description string
		Type              template.HTML
		Fields            []docsField
	}
)

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} API</title><style>{{.Style}}</style></head><body>
<header><h1>{{.View.Title}} API <small>v{{.View.Version}}</small></h1><p>{{.View.Summary}}</p>
{{range .View.Description}}<p>{{.}}</p>{{end}}
<p>The machine-readable description: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p></header>
<nav><h2>Contents</h2><ul>{{range .View.Tags}}<li><a href="#tag-{{.Name}}">{{.Name}}</a></li>{{end}}<li><a href="#schemas">Schemas</a></li></ul></nav>
<main>
{{range .View.Tags}}<section id="tag-{{.Name}}"><h2>{{.Name}}</h2><p>{{.Description}}</p>
{{range .Operations}}<article id="op-{{.ID}}"><h3><span class="m {{.Method}}">{{.Method}}</span> {{.Path}}<span class="perm">{{.Permission}}</span></h3>
<p><strong>{{.Summary}}</strong>{{with .Description}}<br>{{.}}{{end}}</p>
{{with .Parameters}}<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>
{{range .}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<p>Body (<code>{{.BodyMedia}}</code>): {{.Body}}</p>{{end}}
<table><tr><th>Status</th><th>Answer</th><th>Description</th></tr>
{{range .Responses}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table></article>
{{end}}</section>{{end}}
<section id="schemas"><h2>Schemas</h2>
{{range .View.Schemas}}<article id="schema-{{.Name}}"><h3>{{.Name}}</h3>{{with .Description}}<p>{{.}}</p>{{end}}
{{if .Fields}}<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>
{{else}}<p>{{.Type}}</p>{{end}}</article>
{{end}}</section>
<p>* required</p>
</main></body></html>
`))

// renderDocs renders the page of an OpenAPI document.
func renderDocs(doc []byte) ([]byte, error) {
	var d apiDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	v := docsView{Title: d.Info.Title, Version: d.Info.Version, Summary: d.Info.Summary}
	for _, p := range strings.Split(d.Info.Description, "\n\n") {
		v.Description = append(v.Description, codeSpans(p))
	}
	byTag := map[string][]docsOperation{}
	paths := make([]string, 0, len(d.Paths))
	for p := range d.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		for _, method := range []string{"get", "head", "post", "put", "patch", "delete"} {
			op := d.Paths[path][method]
			if op == nil {
				continue
			}
			if len(op.Tags) == 0 {
				return nil, fmt.Errorf("%s %s has no tag", method, path)
			}
			o := docsOperation{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: op.Description, Permission: op.Permission}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
					if p = d.Components.Parameters[name]; p == nil {
						return nil, fmt.Errorf("%s %s: no parameter %s", method, path, name)
					}
				}
				o.Parameters = append(o.Parameters, docsField{Name: p.Name, In: p.In, Required: p.Required, Description: p.Description, Type: typeOf(p.Schema)})
			}
			if b := op.RequestBody; b != nil {
				for media, c := range b.Content {
					o.BodyMedia, o.Body = media, typeOf(c.Schema)
				}
			}
			codes := make([]string, 0, len(op.Responses))
			for c := range op.Responses {
				codes = append(codes, c)
			}
			slices.Sort(codes)
			for _, code := range codes {
				r := op.Responses[code]
				if r.Ref != "" {
					name := strings.TrimPrefix(r.Ref, "#/components/responses/")
					if r = d.Components.Responses[name]; r == nil {
						return nil, fmt.Errorf("%s %s: no response %s", method, path, name)
					}
				}
				var types []string
				for media, c := range r.Content {
					t := string(typeOf(c.Schema))
					if media != "application/json" {
						t = template.HTMLEscapeString(media) + ": " + t
					}
					types = append(types, t)
				}
				slices.Sort(types)
				o.Responses = append(o.Responses, docsField{Name: code, Description: r.Description, Type: template.HTML(strings.Join(types, "<br>"))})
			}
			for _, t := range op.Tags[:1] {
				byTag[t] = append(byTag[t], o)
			}
		}
	}
	for _, t := range d.Tags {
		v.Tags = append(v.Tags, docsTag{Name: t.Name, Description: t.Description, Operations: byTag[t.Name]})
		delete(byTag, t.Name)
	}
	for t := range byTag {
		return nil, fmt.Errorf("tag %q is not declared", t)
	}
	names := make([]string, 0, len(d.Components.Schemas))
	for n := range d.Components.Schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sch := d.Components.Schemas[n]
		ds := docsSchema{Name: n, Description: sch.Description, Type: typeOf(sch)}
		props := make([]string, 0, len(sch.Properties))
		for p := range sch.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		for _, p := range props {
			ps := sch.Properties[p]
			ds.Fields = append(ds.Fields, docsField{Name: p, Required: slices.Contains(sch.Required, p), Description: ps.Description, Type: typeOf(ps)})
		}
		v.Schemas = append(v.Schemas, ds)
	}
	var b bytes.Buffer
	err := docsTemplate.Execute(&b, struct {
		Title string
		Style template.CSS
		View  docsView
	}{v.Title, template.CSS(docsStyle), v})
	return b.Bytes(), err
}

// typeOf describes a schema in a few words, linking to named schemas.
func typeOf(s *apiSchema) template.HTML {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		name := template.HTMLEscapeString(strings.TrimPrefix(s.Ref, "#/components/schemas/"))
		return template.HTML(`<a href="#schema-` + name + `">` + name + `</a>`)
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		t = strings.Join(parts, " or ")
	}
	out := template.HTMLEscapeString(t)
	if s.Items != nil {
		out += " of " + string(typeOf(s.Items))
	}
	if s.Format != "" {
		out += " (" + template.HTMLEscapeString(s.Format) + ")"
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, "<code>"+template.HTMLEscapeString(fmt.Sprint(e))+"</code>")
		}
		out += ": " + strings.Join(vals, ", ")
	}
	if s.Pattern != "" {
		out += " matching <code>" + template.HTMLEscapeString(s.Pattern) + "</code>"
	}
	return template.HTML(out)
}

// codeSpans escapes text and sets `quoted` parts as code.
func codeSpans(s string) template.HTML {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		p = template.HTMLEscapeString(p)
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString("<code>" + p + "</code>")
		} else {
			if i%2 == 1 {
				b.WriteString("`")
			}
			b.WriteString(p)
		}
	}
	return template.HTML(b.String())
}
