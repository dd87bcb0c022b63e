package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/freight-portal/freight/web"
)

func TestNew(t *testing.T) {
	u, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"accept-invitation", "account", "admin-audit", "admin-edges", "admin-licenses", "admin-organization",
		"admin-organizations", "admin-users", "analytics", "catalog", "cli-authorize", "console", "console-product",
		"console-release", "error", "forgot-password", "licenses", "org", "org-downloads", "product", "reset-password",
		"sign-in", "sign-in-mfa", "verify-email", "webhooks"}
	if got := u.Pages(); !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}

func TestRender(t *testing.T) {
	u := web.MustNew()
	t.Run("Error", func(t *testing.T) {
		rec := httptest.NewRecorder()
		body := struct{ Message, RequestID string }{"<b>nope</b>", "R1"}
		if err := u.Render(rec, http.StatusTeapot, "error", web.Page{Title: "Oops", Body: body}); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusTeapot {
			t.Errorf("status %d, want %d", rec.Code, http.StatusTeapot)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("CSP = %q", got)
		}
		if s := rec.Body.String(); strings.Contains(s, "<b>nope</b>") || !strings.Contains(s, "&lt;b&gt;nope&lt;/b&gt;") {
			t.Error("the message is not escaped")
		}
	})
	t.Run("UnknownPage", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if err := u.Render(rec, http.StatusOK, "nothing", web.Page{}); err == nil {
			t.Error("rendering an unknown page succeeded")
		}
		if rec.Body.Len() != 0 {
			t.Error("a failed rendering wrote a body")
		}
	})
	t.Run("BrokenData", func(t *testing.T) {
		// A page given data of the wrong shape fails whole, without
		// writing half a page.
		rec := httptest.NewRecorder()
		if err := u.Render(rec, http.StatusOK, "product", web.Page{Body: 42}); err == nil {
			t.Error("rendering with the wrong data succeeded")
		}
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Error("a failed rendering wrote an answer")
		}
	})
}

func TestServeAsset(t *testing.T) {
	u := web.MustNew()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/{name}", u.ServeAsset)
	for _, name := range []string{"app.css", "app.js", "icon.svg"} {
		url := u.AssetURL(name)
		m := regexp.MustCompile(`^/assets/[a-z]+\.([0-9a-f]{16})\.[a-z]+$`).FindStringSubmatch(url)
		if m == nil {
			t.Fatalf("%s: URL %q has no content hash", name, url)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", url, rec.Code)
		}
		sum := sha256.Sum256(rec.Body.Bytes())
		if got := hex.EncodeToString(sum[:])[:16]; got != m[1] {
			t.Errorf("%s: served content hashes to %s, the URL says %s", name, got, m[1])
		}
		h := rec.Header()
		if h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", name, h)
		}
		wantType := map[string]string{"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}[name]
		if got := h.Get("Content-Type"); got != wantType {
			t.Errorf("%s: Content-Type %q, want %q", name, got, wantType)
		}
		req := httptest.NewRequest("GET", url, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag: status %d, %d bytes", url, rec.Code, rec.Body.Len())
		}
	}
	for _, path := range []string{"/assets/app.css", "/assets/app.0123456789abcdef.css", "/assets/..%2fweb.go"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
	}
}

func TestMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		never    []string
	}{
		{"Formatting", "Some **bold**, `code` and a list:\n\n- one\n- two", []string{"<strong>bold</strong>", "<code>code</code>", "<li>one</li>"}, nil},
		{"HeadingsShift", "# One\n## Two\n##### Five", []string{"<h3", "<h4", "<h6"}, []string{"<h1", "<h2"}},
		{"RawHTML", "<script>alert(1)</script><iframe src=x></iframe>", nil, []string{"<script", "<iframe", "alert(1)"}},
		{"InlineHTML", "text <img src=x onerror=alert(1)> <b onclick=y()>b</b>", nil, []string{"<img", "onerror", "onclick"}},
		{"JavaScriptLink", "[x](javascript:alert(1)) [y](JaVaScRiPt:alert(2)) [z](data:text/html;base64,PHNjcmlwdD4=)", nil, []string{"javascript:", "JaVaScRiPt", "data:text"}},
		{"LinksAreMarked", "[docs](https://docs.example/a)", []string{`href="https://docs.example/a"`, "nofollow", "noopener", `target="_blank"`}, nil},
		{"Autolink", "see https://docs.example/b", []string{`href="https://docs.example/b"`}, nil},
		{"Table", "| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
		{"EscapedText", "1 < 2 & 3 > 2", []string{"1 &lt; 2 &amp; 3 &gt; 2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(web.Markdown(tc.in))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Markdown(%q) = %q, lacks %q", tc.in, got, w)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(got, n) {
					t.Errorf("Markdown(%q) = %q, has %q", tc.in, got, n)
				}
			}
		})
	}
}

// unsafeHTML finds what must never come out of Markdown: elements that
// run or embed, event handler attributes, and script URLs.
// Text is escaped, so attributes only count inside a tag.
var unsafeHTML = regexp.MustCompile(`(?i)<\s*(script|iframe|object|embed|style|form|input|svg|math|link|meta|base)\b|<[^>]*\son[a-z]+\s*=|<[^>]*(href|src)\s*=\s*"?\s*(javascript|vbscript|data):`)

// FuzzMarkdown renders any text as release notes and checks that nothing
// unsafe survives.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{
		"# Title\n\nSome *notes*.",
		"<script>alert(1)</script>",
		"[a](javascript:alert(1))",
		"<a href=\"javascript:x\">y</a>",
		"![i](data:image/svg+xml;base64,PHN2Zz4=)",
		"<svg onload=alert(1)>",
		"```html\n<script>x</script>\n```",
		"<<script>script>alert(1)<</script>/script>",
		"[x](&#106;avascript:alert(1))",
		"<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := string(web.Markdown(in))
		if m := unsafeHTML.FindString(out); m != "" {
			t.Errorf("Markdown(%q) = %q: has %q", in, out, m)
		}
	})
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"}, {1, "1 byte"}, {999, "999 bytes"}, {1000, "1.0 kB"}, {1500, "1.5 kB"},
		{52_428_800, "52 MB"}, {4_700_000_000, "4.7 GB"}, {12_300_000_000_000, "12 TB"}, {5e18, "5000 PB"},
	} {
		if got := web.FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
