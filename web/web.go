package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every page. Scripts and styles come
// from the portal's own asset files only: no inline script or style, no
// eval, no plugins, no framing, no <base> that could redirect relative
// URLs. Images may also be data: URLs.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// AssetPrefix is the path under which assets are served.
const AssetPrefix = "/assets/"

// UI renders pages and serves assets. It is safe for concurrent use.
type UI struct {
	pages map[string]*template.Template
	// assets by the file name of their URL (app.3f2a….css); urls maps a
	// source name (app.css) to its URL.
	assets map[string]*asset
	urls   map[string]string
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Page is what every page template gets: .Title, .Nav (nil when nobody
// is signed in) and .Body, the page's own data.
type Page struct {
	Title string
	Nav   *Nav
	Body  any
}

// Nav describes the signed-in person for the page header.
type Nav struct {
	Email   string
	Org     string // the organization acted in; "" for vendor staff
	Role    string
	Current string // the section the page belongs to: catalog, licenses, org, console, account
	// Staff is set for vendor staff (admin, publisher, support), who see
	// the console; OrgAdmin for an organization's administrators, who see
	// their organization's page.
	Staff, OrgAdmin bool
	// Orgs lists the organizations the person belongs to, for the
	// header's switcher; it is shown only with more than one.
	Orgs []OrgChoice
}

// OrgChoice is an organization of the header's switcher.
type OrgChoice struct {
	ID, Name string
	Current  bool
}

// New parses every template and hashes every asset. An error means the
// embedded files are broken, which no configuration can fix: callers stop.
func New() (*UI, error) {
	u := &UI{pages: map[string]*template.Template{}, assets: map[string]*asset{}, urls: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:])[:16]
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hash + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			return fmt.Errorf("asset %s: unknown type of %q files", name, ext)
		}
		u.assets[hashed] = &asset{body: b, contentType: ct, etag: `"` + hash + `"`}
		u.urls[name] = AssetPrefix + hashed
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	funcs := template.FuncMap{
		"asset":    u.assetURL,
		"markdown": Markdown,
		"bytes":    FormatBytes,
		"date":     formatDate,
		"datetime": formatDateTime,
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		for _, block := range []string{"title", "main"} {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("web: template %s defines no %q block", base, block)
			}
		}
		u.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return u, nil
}

// MustNew is New for start-up code: the templates are part of the binary,
// so an error is a programming error.
func MustNew() *UI {
	u, err := New()
	if err != nil {
		panic(err)
	}
	return u
}

// Pages lists the names of the page templates.
func (u *UI) Pages() []string {
	var out []string
	for n := range u.pages {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// assetURL is the content-hash URL of a static file, for templates. An
// unknown name fails the rendering rather than linking nowhere.
func (u *UI) assetURL(name string) (string, error) {
	url, ok := u.urls[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return url, nil
}

// AssetURL returns the content-hash URL of a static file, such as
// /assets/app.3f2a9c0b1d2e4f56.css for "app.css", or "" for none.
func (u *UI) AssetURL(name string) string { return u.urls[name] }

// SetPageHeaders sets the headers of every HTML answer: the policy, no
// caching (pages hold a person's data), no framing, no sniffing, and no
// Referer leaving the portal (links in mail carry secrets in their query).
func SetPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// Render writes the named page with the given status. The page is
// rendered into memory first, so that a template error answers a clean
// 500 instead of half a page.
func (u *UI) Render(w http.ResponseWriter, status int, name string, p Page) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return fmt.Errorf("web: rendering %s: %w", name, err)
	}
	SetPageHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(b.Bytes())
	return nil
}

// ServeAsset answers GET /assets/{name}: the file whose content-hash URL
// that is, cached for a year and never revalidated, since a change of
// content is a change of URL.
func (u *UI) ServeAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := u.assets[r.PathValue("name")]
	if !ok {
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.body)
	}
}

// FormatBytes writes a size for people: 1.5 GB, 812 KB, 17 bytes (SI
// units, as download tools and file managers mostly show).
func FormatBytes(n int64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB", "PB"} {
		f /= 1000
		if f < 1000 || unit == "PB" {
			if f < 10 {
				return fmt.Sprintf("%.1f %s", f, unit)
			}
			return fmt.Sprintf("%.0f %s", f, unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// formatDate and formatDateTime show times in UTC: the portal cannot know
// the reader's zone without a script, and UTC says so.
func formatDate(t any) string {
	if tt, ok := timeOf(t); ok {
		return tt.UTC().Format("2 Jan 2006")
	}
	return ""
}

func formatDateTime(t any) string {
	if tt, ok := timeOf(t); ok {
		return tt.UTC().Format("2 Jan 2006 15:04 UTC")
	}
	return ""
}

func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t != nil {
			return *t, !t.IsZero()
		}
	}
	return time.Time{}, false
}
