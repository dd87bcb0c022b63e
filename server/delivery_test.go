package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// shop is a published release with one file, and two customers: acme is
// entitled to it, globex is not.
type shop struct {
	*env
	content       []byte
	artifact      freight.Artifact
	acme, globex  freight.Organization
	acmeTok       string // member of acme
	acmeAdminTok  string // org-admin of acme
	globexTok     string // member of globex
	entitlementID string
}

func newShop(t testing.TB) *shop {
	t.Helper()
	return newShopSized(t, 6<<20+77)
}

func newShopSized(t testing.TB, size int) *shop {
	t.Helper()
	return newShopOn(t, newEnv(t), size)
}

// newShopOn is newShopSized on a given environment, for tests that need
// another blob store or configuration (newEnvWith).
func newShopOn(t testing.TB, e *env, size int) *shop {
	t.Helper()
	s := &shop{env: e, content: fileOf(42, size)}
	relID := e.draft("1.0.0")
	c := e.startUpload(relID, "cad-1.0.0-setup.exe", s.content, sha(s.content))
	e.sendAll(e.partURLs(c.Upload.ID), s.content)
	s.artifact = e.mustComplete(c.Upload.ID)
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "acme", "name": "Acme"}).decode(t, &s.acme)
	e.must(http.StatusCreated, "POST", "/api/v1/organizations", e.token, map[string]any{"slug": "globex", "name": "Globex"}).decode(t, &s.globex)
	var ent freight.Entitlement
	e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": s.acme.ID, "product_id": mustProductID(t, e), "channels": []string{"stable"}}).decode(t, &ent)
	s.entitlementID = ent.ID
	exp := e.clock.Now().AddDate(1, 0, 0)
	s.acmeTok = e.mustToken(&freight.Token{Name: "a", Role: freight.RoleMember, OrgID: s.acme.ID, ExpiresAt: &exp})
	s.acmeAdminTok = e.mustToken(&freight.Token{Name: "aa", Role: freight.RoleOrgAdmin, OrgID: s.acme.ID, ExpiresAt: &exp})
	s.globexTok = e.mustToken(&freight.Token{Name: "g", Role: freight.RoleMember, OrgID: s.globex.ID, ExpiresAt: &exp})
	return s
}

func mustProductID(t testing.TB, e *env) string {
	var p freight.Product
	e.must(http.StatusOK, "GET", "/api/v1/products/cad", e.token, nil).decode(t, &p)
	return p.ID
}

type grantAnswer struct {
	ID          string    `json:"grant_id"`
	URL         string    `json:"url"`
	ExpiresAt   time.Time `json:"expires_at"`
	ResumeUntil time.Time `json:"resume_until"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
}

func (s *shop) grant(token string) grantAnswer {
	s.t.Helper()
	var g grantAnswer
	s.must(http.StatusOK, "POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", token, nil).decode(s.t, &g)
	return g
}

// fetch GETs (or HEADs) a download URL with optional headers.
func (s *shop) fetch(method, rawURL string, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestDownload(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	if g.SHA256 != sha(s.content) || g.Size != int64(len(s.content)) || g.Filename != "cad-1.0.0-setup.exe" || !strings.Contains(g.URL, "/d/") {
		t.Fatalf("grant = %+v", g)
	}
	if got, want := g.ExpiresAt, s.clock.Now().Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("expires_at = %v, want %v (the default start window)", got, want)
	}

	t.Run("Full", func(t *testing.T) {
		r := s.fetch("GET", g.URL)
		if r.status != http.StatusOK || sha(r.body) != sha(s.content) {
			t.Fatalf("status %d, %d bytes; want 200 and the file", r.status, len(r.body))
		}
		sum := sha256.Sum256(s.content)
		for k, want := range map[string]string{
			"ETag":          `"` + sha(s.content) + `"`,
			"Repr-Digest":   "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":",
			"Accept-Ranges": "bytes",
			"Content-Type":  "application/octet-stream",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
		if err != nil || params["filename"] != "cad-1.0.0-setup.exe" {
			t.Errorf("Content-Disposition = %q (%v), want the artifact's filename", r.header.Get("Content-Disposition"), err)
		}
	})
	t.Run("Head", func(t *testing.T) {
		r := s.fetch("HEAD", g.URL)
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != "6291533" {
			t.Errorf("HEAD: status %d, %d body bytes, length %q", r.status, len(r.body), r.header.Get("Content-Length"))
		}
	})
	t.Run("Range", func(t *testing.T) {
		r := s.fetch("GET", g.URL, "Range", "bytes=1000-1999")
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, s.content[1000:2000]) {
			t.Errorf("status %d, %d bytes; want 206 with bytes 1000-1999", r.status, len(r.body))
		}
		r = s.fetch("GET", g.URL, "Range", "bytes=-10")
		if !bytes.Equal(r.body, s.content[len(s.content)-10:]) {
			t.Error("suffix range: wrong bytes")
		}
	})
	t.Run("MultipleRanges", func(t *testing.T) {
		r := s.fetch("GET", g.URL, "Range", "bytes=0-9,100-109")
		mt, params, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
		if r.status != http.StatusPartialContent || mt != "multipart/byteranges" {
			t.Fatalf("status %d, type %q", r.status, mt)
		}
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		var parts [][]byte
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, b)
		}
		if len(parts) != 2 || !bytes.Equal(parts[0], s.content[0:10]) || !bytes.Equal(parts[1], s.content[100:110]) {
			t.Errorf("parts %q", parts)
		}
	})
	t.Run("IfRange", func(t *testing.T) {
		r := s.fetch("GET", g.URL, "Range", "bytes=10-19", "If-Range", `"`+sha(s.content)+`"`)
		if r.status != http.StatusPartialContent {
			t.Errorf("matching If-Range: status %d, want 206", r.status)
		}
		r = s.fetch("GET", g.URL, "Range", "bytes=10-19", "If-Range", `"0000"`)
		if r.status != http.StatusOK || len(r.body) != len(s.content) {
			t.Errorf("stale If-Range: status %d, want 200 with the whole file", r.status)
		}
	})
	t.Run("Unsatisfiable", func(t *testing.T) {
		r := s.fetch("GET", g.URL, "Range", "bytes=99999999-")
		if r.status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("status %d, want 416", r.status)
		}
	})
}

func TestDownloadTenancy(t *testing.T) {
	s := newShop(t)
	// globex is not entitled: the artifact does not exist for it.
	r := s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.globexTok, nil)
	wantError(t, r, http.StatusNotFound, freight.ENOTFOUND, "")
	if _, msg, _ := r.err(); msg != "artifact not found" {
		t.Errorf("message %q must not differ from a missing artifact's", msg)
	}
	wantError(t, s.do("POST", "/api/v1/artifacts/art_00000000000000000000000000/download", s.globexTok, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	// Vendor staff may download.
	s.grant(s.token)
	// The catalogs differ accordingly.
	var cat struct {
		Items []struct {
			Release   freight.Release
			Artifacts []freight.Artifact
		}
	}
	s.must(http.StatusOK, "GET", "/api/v1/catalog", s.acmeTok, nil).decode(t, &cat)
	if len(cat.Items) != 1 || len(cat.Items[0].Artifacts) != 1 || cat.Items[0].Artifacts[0].SHA256 != sha(s.content) {
		t.Errorf("acme's catalog = %+v, want the release with its file", cat.Items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/catalog", s.globexTok, nil).decode(t, &cat)
	if len(cat.Items) != 0 {
		t.Errorf("globex's catalog = %+v, want nothing", cat.Items)
	}
	s.must(http.StatusOK, "GET", "/api/v1/products/cad/upgrade?from=0.9.0", s.acmeTok, nil)
	if r := s.do("GET", "/api/v1/products/cad/upgrade?from=1.0.0", s.acmeTok, nil); r.status != http.StatusNoContent {
		t.Errorf("upgrade from the newest: status %d, want 204", r.status)
	}
	wantError(t, s.do("GET", "/api/v1/products/cad/upgrade?from=0.9.0", s.globexTok, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	wantError(t, s.do("GET", "/api/v1/products/cad/upgrade?from=v1", s.acmeTok, nil), http.StatusBadRequest, freight.EINVALID, "from")
}

func TestDownloadURLTampering(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	i := strings.Index(g.URL, "/d/") + len("/d/")
	for pos := i; pos < len(g.URL); pos++ {
		for _, c := range []byte{'A', '0', '_', '.'} {
			if g.URL[pos] == c {
				continue
			}
			u := g.URL[:pos] + string(c) + g.URL[pos+1:]
			if r := s.fetch("GET", u); r.status < 400 {
				t.Fatalf("URL with byte %d changed to %q answered %d", pos, c, r.status)
			}
		}
	}
	// Truncated, and a token moved to another file name.
	if r := s.fetch("GET", g.URL[:len(g.URL)-30]); r.status < 400 {
		t.Errorf("truncated URL answered %d", r.status)
	}
	wrong := strings.Replace(g.URL, "/cad-1.0.0-setup.exe", "/other.exe", 1)
	r := s.fetch("GET", wrong)
	wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
}

func TestDownloadWindows(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	s.fetch("GET", g.URL, "Range", "bytes=0-99")
	s.clock.Add(6 * time.Minute)
	// A new download after the start window is refused...
	r := s.fetch("GET", g.URL)
	wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
	if r2 := s.fetch("GET", g.URL, "Range", "bytes=0-"); r2.status != http.StatusForbidden {
		t.Errorf("a Range from byte 0 is a new download: status %d, want 403", r2.status)
	}
	// ...but resuming, and new segments, work until the resume window ends.
	if r := s.fetch("GET", g.URL, "Range", "bytes=100-"); r.status != http.StatusPartialContent || !bytes.Equal(r.body, s.content[100:]) {
		t.Errorf("resume after the start window: status %d", r.status)
	}
	s.clock.Add(24 * time.Hour)
	wantError(t, s.fetch("GET", g.URL, "Range", "bytes=100-"), http.StatusForbidden, freight.EFORBIDDEN, "")
}

func TestDownloadBudget(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	for i := range 3 {
		if r := s.fetch("GET", g.URL); r.status != http.StatusOK {
			t.Fatalf("download %d: status %d", i+1, r.status)
		}
	}
	r := s.fetch("GET", g.URL, "Range", "bytes=0-0")
	wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
	// A fresh grant has its own budget.
	if r := s.fetch("GET", s.grant(s.acmeTok).URL); r.status != http.StatusOK {
		t.Errorf("a new grant: status %d", r.status)
	}
}

func TestDownloadLimits(t *testing.T) {
	s := newShop(t)
	s.must(http.StatusOK, "PATCH", "/api/v1/entitlements/"+s.entitlementID, s.token, map[string]any{"limits": map[string]any{"downloads": 2, "period": "day"}})
	s.grant(s.acmeTok)
	s.grant(s.acmeTok)
	r := s.do("POST", "/api/v1/artifacts/"+s.artifact.ID+"/download", s.acmeTok, nil)
	wantError(t, r, http.StatusForbidden, freight.EFORBIDDEN, "")
	s.clock.Add(24 * time.Hour)
	s.grant(s.acmeTok)
}

func TestKeyRotation(t *testing.T) {
	s := newShop(t)
	old := s.grant(s.acmeTok)
	var keys struct{ Keys []struct{ Kid string } }
	s.must(http.StatusOK, "GET", "/.well-known/freight-keys.json", "", nil).decode(t, &keys)
	if len(keys.Keys) != 1 {
		t.Fatalf("public keys %+v, want one", keys.Keys)
	}
	oldKid := keys.Keys[0].Kid
	var k freight.SigningKey
	s.must(http.StatusOK, "POST", "/api/v1/keys/rotate", s.token, nil).decode(t, &k)
	if k.ID == oldKid {
		t.Fatal("rotation kept the key id")
	}
	fresh := s.grant(s.acmeTok)
	if !strings.Contains(fresh.URL, "/d/"+k.ID+".") || !strings.Contains(old.URL, "/d/"+oldKid+".") {
		t.Errorf("tokens do not name their keys: %s, %s", old.URL, fresh.URL)
	}
	for _, u := range []string{old.URL, fresh.URL} {
		if r := s.fetch("GET", u); r.status != http.StatusOK {
			t.Errorf("after rotation %s answered %d", u, r.status)
		}
	}
	wantError(t, s.do("POST", "/api/v1/keys/rotate", s.acmeTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	s.must(http.StatusOK, "POST", "/api/v1/keys/"+oldKid+"/retire", s.token, nil)
	s.clock.Add(time.Minute) // past the keyring's cache
	wantError(t, s.fetch("GET", old.URL), http.StatusForbidden, freight.EFORBIDDEN, "")
	if r := s.fetch("GET", fresh.URL); r.status != http.StatusOK {
		t.Errorf("the current key's URL answered %d after retiring the old key", r.status)
	}
}

func TestDownloadLog(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	s.fetch("GET", g.URL)
	s.fetch("GET", g.URL, "Range", "bytes=0-99")
	s.fetch("GET", s.grant(s.token).URL)
	var l struct{ Items []freight.Download }
	s.must(http.StatusOK, "GET", "/api/v1/downloads", s.token, nil).decode(t, &l)
	if len(l.Items) != 3 {
		t.Fatalf("%d downloads, want 3: %+v", len(l.Items), l.Items)
	}
	full := l.Items[2]
	if full.Bytes != int64(len(s.content)) || !full.Completed || full.OrgID != s.acme.ID || full.Via != "origin" || full.FinishedAt == nil {
		t.Errorf("the full download is recorded as %+v", full)
	}
	if ranged := l.Items[1]; ranged.Bytes != 100 || !ranged.Completed || ranged.Range != "bytes=0-99" {
		t.Errorf("the ranged download is recorded as %+v", ranged)
	}
	// An org-admin sees its organization's downloads only.
	s.must(http.StatusOK, "GET", "/api/v1/downloads", s.acmeAdminTok, nil).decode(t, &l)
	if len(l.Items) != 2 {
		t.Errorf("acme's org-admin sees %d downloads, want its 2", len(l.Items))
	}
	wantError(t, s.do("GET", "/api/v1/downloads?org_id="+s.globex.ID, s.acmeAdminTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	wantError(t, s.do("GET", "/api/v1/downloads", s.acmeTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
	r := s.must(http.StatusOK, "GET", "/api/v1/downloads?format=csv", s.token, nil)
	if lines := strings.Count(string(r.body), "\n"); lines != 4 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("CSV export: %d lines, type %q:\n%s", lines, r.header.Get("Content-Type"), r.body)
	}
}

// sendfileRecorder is a ResponseWriter that, like net/http's own, has a
// ReadFrom; it records what it was handed.
type sendfileRecorder struct {
	*httptest.ResponseRecorder
	from []io.Reader
}

func (w *sendfileRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.from = append(w.from, r)
	return io.Copy(w.ResponseRecorder, r)
}

// TestDownloadSendfile checks that the origin hands the ResponseWriter the
// blob's *os.File (inside an *io.LimitedReader): that is the form for which
// net/http's ReadFrom uses sendfile(2). No middleware in between hides it.
func TestDownloadSendfile(t *testing.T) {
	s := newShop(t)
	g := s.grant(s.acmeTok)
	for _, rng := range []string{"", "bytes=500-"} {
		req := httptest.NewRequest("GET", g.URL, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		w := &sendfileRecorder{ResponseRecorder: httptest.NewRecorder()}
		s.h.ServeHTTP(w, req)
		if w.Code/100 != 2 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if len(w.from) != 1 {
			t.Fatalf("Range %q: ReadFrom called %d times, want once", rng, len(w.from))
		}
		lr, ok := w.from[0].(*io.LimitedReader)
		if !ok {
			t.Fatalf("Range %q: ReadFrom got a %T, want *io.LimitedReader", rng, w.from[0])
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Errorf("Range %q: the LimitedReader wraps a %T, want *os.File", rng, lr.R)
		}
	}
}

var _ = context.Background
var _ = hex.EncodeToString
