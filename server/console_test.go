package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// pageWithToken fetches a page with an API token instead of a session.
func (e *env) pageWithToken(token, path string) response {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	io.Copy(&out, resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: out.Bytes()}
}

// wantIn checks that body has every one of want and none of never.
func wantIn(t *testing.T, what, body string, want, never []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	for _, n := range never {
		if strings.Contains(body, n) {
			t.Errorf("%s has %q", what, n)
		}
	}
}

// TestConsolePages checks the console's product pages: what each vendor
// role sees and may do on them, a narrowed publisher token's view, the
// order of releases, the notes' escaping and an unfinished upload's
// progress.
func TestConsolePages(t *testing.T) {
	s := newShop(t) // cad 1.0.0, published, with one file
	e := s.env
	published := s.artifact.ReleaseID
	e.clock.Add(time.Minute)
	var draft freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/cad/releases", e.token, map[string]any{
		"version": "2.0.0-rc.1", "channel": "rc", "notes": "# What changed\n\n<script>alert(1)</script>\n\nIt is **faster**.",
	}).decode(t, &draft)
	// A file of the draft that is half uploaded: part 1 of 2.
	content := fileOf(7, 6<<20)
	c := e.startUpload(draft.ID, "cad-2.0.0-rc.1.tar.gz", content, "")
	e.sendAll(e.partURLs(c.Upload.ID, 1), content)

	var other freight.Product
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "other", "name": "Other Tool"}).decode(t, &other)
	var otherRel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/other/releases", e.token, map[string]any{"version": "0.1.0"}).decode(t, &otherRel)

	e.mustUser("boss@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
	e.mustUser("pub@vendor.example", goodPassword, freight.RolePublisher, nil, "")
	e.mustUser("help@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	as := func(email string) *browser {
		b := e.browser()
		b.signIn(email)
		return b
	}
	admin, publisher, support := as("boss@vendor.example"), as("pub@vendor.example"), as("help@vendor.example")
	cadID := mustProductID(t, e)

	t.Run("Products", func(t *testing.T) {
		body := wantPage(t, admin.page("/console"), http.StatusOK)
		wantIn(t, "the console", body, []string{
			`href="/console/products/cad"`, `href="/console/products/other"`, "Other Tool",
			"Latest: <strong>1.0.0</strong>", "2 releases, 1 draft", `data-api="/api/v1/products"`,
			`<a href="/console" aria-current="page">Products</a>`, `/assets/console.`,
		}, nil)
		// other has only a draft: its newest release stands in for a latest.
		_, otherCard, _ := strings.Cut(body, `href="/console/products/other"`)
		wantIn(t, "other's card", otherCard, []string{"Newest: <strong>0.1.0</strong>", "1 release, 1 draft"}, nil)
		// Other pages do not load the console's script.
		wantIn(t, "the catalog", wantPage(t, admin.page("/"), http.StatusOK), nil, []string{"/assets/console."})
	})

	t.Run("ProductPage", func(t *testing.T) {
		body := wantPage(t, publisher.page("/console/products/cad"), http.StatusOK)
		wantIn(t, "cad's page", body, []string{
			`href="/console/releases/` + draft.ID + `"`, `href="/console/releases/` + published + `"`,
			"badge-draft", "badge-published", "badge-rc",
			`data-api="/api/v1/products/` + cadID + `/releases"`, `data-method="PATCH"`, `name="prefetch_edges"`,
		}, []string{`data-delete="/api/v1/products/`})
		// Newest first: the draft was created after 1.0.0 was published.
		if i, j := strings.Index(body, draft.ID), strings.Index(body, published); i < 0 || j < 0 || i > j {
			t.Errorf("the draft (at %d) is not listed before 1.0.0 (at %d)", i, j)
		}
		wantPage(t, publisher.page("/console/products/nothing"), http.StatusNotFound)
	})

	t.Run("DraftRelease", func(t *testing.T) {
		body := wantPage(t, publisher.page("/console/releases/"+draft.ID), http.StatusOK)
		wantIn(t, "the draft's page", body, []string{
			`id="upload"`, `data-release="` + draft.ID + `"`, `type="file"`, "<progress",
			"cad-2.0.0-rc.1.tar.gz", "5.2 MB of 6.3 MB received (83%)", "1 file is not available yet",
			`data-api="/api/v1/releases/` + draft.ID + `/publish"`, `data-delete="/api/v1/releases/` + draft.ID + `"`,
			`data-delete="/api/v1/artifacts/` + c.Artifact.ID + `"`,
			"<h3", "<strong>faster</strong>",
		}, []string{"<script>alert", "/yank"})
		wantPage(t, publisher.page("/console/releases/rel_00000000000000000000000000"), http.StatusNotFound)
		wantPage(t, publisher.page("/console/releases/nonsense"), http.StatusNotFound)
	})

	t.Run("PublishedRelease", func(t *testing.T) {
		body := wantPage(t, publisher.page("/console/releases/"+published), http.StatusOK)
		wantIn(t, "1.0.0's page", body, []string{
			s.artifact.SHA256, s.artifact.Filename, `data-api="/api/v1/releases/` + published + `/yank"`,
		}, []string{`id="upload"`, "/publish", "data-delete"})
	})

	t.Run("Support", func(t *testing.T) {
		// Support reads everything and gets no button that would fail.
		for _, path := range []string{"/console", "/console/products/cad", "/console/releases/" + draft.ID, "/console/releases/" + published} {
			body := wantPage(t, support.page(path), http.StatusOK)
			wantIn(t, "support's "+path, body, nil, []string{"data-api=\"/api/v1/products", "data-api=\"/api/v1/releases", "data-delete", `id="upload"`, "received ("})
		}
		wantIn(t, "support's console", wantPage(t, support.page("/console"), http.StatusOK), []string{"Other Tool", "Latest: <strong>1.0.0</strong>"}, nil)
		wantIn(t, "support's draft page", wantPage(t, support.page("/console/releases/"+draft.ID), http.StatusOK),
			[]string{"cad-2.0.0-rc.1.tar.gz", "<strong>faster</strong>"}, nil)
	})

	t.Run("AdminDeletesEmptyProduct", func(t *testing.T) {
		var empty freight.Product
		e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "empty", "name": "Empty"}).decode(t, &empty)
		wantIn(t, "an empty product's page", wantPage(t, admin.page("/console/products/empty"), http.StatusOK),
			[]string{`data-delete="/api/v1/products/` + empty.ID + `"`, "No releases yet"}, nil)
		// Only an admin may delete a product.
		wantIn(t, "an empty product's page for a publisher", wantPage(t, publisher.page("/console/products/empty"), http.StatusOK),
			nil, []string{`data-delete="/api/v1/products/`})
	})

	t.Run("NarrowedToken", func(t *testing.T) {
		tok := e.mustToken(&freight.Token{Name: "ci", Role: freight.RolePublisher, Products: []string{cadID}})
		body := wantPage(t, e.pageWithToken(tok, "/console"), http.StatusOK)
		wantIn(t, "a narrowed token's console", body, []string{`href="/console/products/cad"`}, []string{"Other Tool", `data-api="/api/v1/products"`})
		wantPage(t, e.pageWithToken(tok, "/console/products/other"), http.StatusNotFound)
		wantPage(t, e.pageWithToken(tok, "/console/products/"+other.ID), http.StatusNotFound)
		wantPage(t, e.pageWithToken(tok, "/console/releases/"+otherRel.ID), http.StatusNotFound)
		wantIn(t, "a narrowed token's draft page", wantPage(t, e.pageWithToken(tok, "/console/releases/"+draft.ID), http.StatusOK),
			[]string{`id="upload"`}, nil)
	})

	t.Run("Customers", func(t *testing.T) {
		e.mustUser("alice@acme.example", goodPassword, "", &s.acme, freight.RoleMember)
		b := as("alice@acme.example")
		for _, path := range []string{"/console", "/console/products/cad", "/console/releases/" + draft.ID} {
			body := wantPage(t, b.page(path), http.StatusForbidden)
			wantIn(t, "a member's "+path, body, nil, []string{"2.0.0-rc.1", "cad-2.0.0-rc.1.tar.gz"})
		}
	})
}

// TestConsoleEmpty checks the console before any product exists.
func TestConsoleEmpty(t *testing.T) {
	e := newEnv(t)
	e.mustUser("boss@vendor.example", goodPassword, freight.RoleAdmin, nil, "")
	e.mustUser("help@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	for _, tc := range []struct {
		email      string
		want, nope []string
	}{
		{"boss@vendor.example", []string{"No products yet", "Create the first product", `data-api="/api/v1/products"`}, nil},
		{"help@vendor.example", []string{"No products yet", "There are no products you can see yet."}, []string{"data-api=\"/api/v1/products\""}},
	} {
		b := e.browser()
		b.signIn(tc.email)
		wantIn(t, tc.email+"'s empty console", wantPage(t, b.page("/console"), http.StatusOK), tc.want, tc.nope)
	}
}
