package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/client"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// openStores opens what a server runs on in the tests: a migrated SQLite
// database that seals secrets, and blobs in a temporary folder.
func openStores(t *testing.T) (*slog.Logger, *sqlstore.DB, *fsblob.Store) {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(server.LogHandler(slog.NewTextHandler(t.Output(), nil)))
	db, err := sqlstore.Open(ctx, testdb.SQLite(t), logger)
	if err != nil {
		t.Fatal(err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return logger, db, blobs
}

// newServer starts a real server on SQLite and local files and returns a
// client acting as a vendor admin.
func newServer(t *testing.T) *client.Client {
	t.Helper()
	ctx := context.Background()
	logger, db, blobs := openStores(t)
	h := server.New(db, blobs, logger, server.Config{PartSize: 5 << 20})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// The job worker, as freight serve runs it: it verifies the uploads.
	jctx, stop := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		if err := h.RunJobs(jctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { stop(); <-jobsDone })
	admin := &freight.User{Email: "admin@vendor.example", VendorRole: freight.RoleAdmin}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	secret, err := freight.IssueToken(ctx, db, &freight.Token{Name: "t", UserID: admin.ID, Role: freight.RoleAdmin, ExpiresAt: &exp}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return client.New(srv.URL, secret)
}

func TestPublishAndDownload(t *testing.T) {
	ctx := context.Background()
	c := newServer(t)
	me, err := c.Me(ctx)
	if err != nil || me.Role != freight.RoleAdmin {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	if _, err := c.CreateProduct(ctx, "cad", "CAD", ""); err != nil {
		t.Fatal(err)
	}
	rel, err := c.CreateRelease(ctx, "cad", "1.0.0", freight.ChannelStable, "notes")
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 11<<20+3)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	ca, err := c.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "cad.msi", Platform: "windows", Arch: "x86_64", Size: int64(len(content)), SHA256: digest})
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.URLs) != ca.Upload.Parts || ca.Upload.Parts != 3 {
		t.Fatalf("created %d URLs for %d parts", len(ca.URLs), ca.Upload.Parts)
	}
	for _, p := range ca.URLs {
		off := int64(p.Number-1) * ca.Upload.PartSize
		if err := c.PutPart(ctx, p.URL, io.NewSectionReader(readerAt(content), off, p.Size), p.Size); err != nil {
			t.Fatalf("part %d: %v", p.Number, err)
		}
	}
	up, err := c.Upload(ctx, ca.Upload.ID)
	if err != nil || len(up.Received) != 3 {
		t.Fatalf("Upload = %+v, %v", up, err)
	}
	a, err := c.CompleteUpload(ctx, ca.Upload.ID)
	if err != nil || a.State != freight.ArtifactAvailable || a.SHA256 != digest {
		t.Fatalf("CompleteUpload = %+v, %v", a, err)
	}
	if _, err := c.PublishRelease(ctx, rel.ID); err != nil {
		t.Fatal(err)
	}

	org, err := c.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := c.Product(ctx, "cad")
	if _, err := c.CreateEntitlement(ctx, &freight.Entitlement{OrgID: org.ID, ProductID: prod.ID, Channels: []freight.Channel{freight.ChannelStable}}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateToken(ctx, client.NewToken{Name: "ci", Role: freight.RoleMember, OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	member := client.New(c.BaseURL(), tok.Secret)
	cat, err := member.Catalog(ctx, client.CatalogFilter{}, freight.Page{})
	if err != nil || len(cat.Items) != 1 || len(cat.Items[0].Artifacts) != 1 {
		t.Fatalf("Catalog = %+v, %v", cat, err)
	}
	if up, err := member.Upgrade(ctx, "cad", "0.9.0", "", "windows", ""); err != nil || up == nil || up.Release.Version != "1.0.0" {
		t.Errorf("Upgrade from 0.9.0 = %+v, %v", up, err)
	}
	if up, err := member.Upgrade(ctx, "cad", "1.0.0", "", "", ""); err != nil || up != nil {
		t.Errorf("Upgrade from 1.0.0 = %+v, %v; want nil, nil", up, err)
	}
	g, err := member.Download(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := member.HTTPClient().Get(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, resp.Body)
	resp.Body.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != digest || g.SHA256 != digest {
		t.Errorf("downloaded %s, grant says %s, want %s", got, g.SHA256, digest)
	}
}

type readerAt []byte

func (b readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	c := newServer(t)
	_, err := c.Product(ctx, "nope")
	if freight.ErrorCode(err) != freight.ENOTFOUND || freight.ErrorMessage(err) != "product not found" {
		t.Errorf("missing product: %v (code %q)", err, freight.ErrorCode(err))
	}
	_, err = c.CreateProduct(ctx, "Bad Slug", "x", "")
	if freight.ErrorCode(err) != freight.EINVALID || freight.ErrorField(err) != "slug" {
		t.Errorf("bad slug: %v, field %q", err, freight.ErrorField(err))
	}
	if client.Retryable(err) {
		t.Error("a refusal is not retryable")
	}
	_, err = client.New(c.BaseURL(), "frt_nonsense").Me(ctx)
	if freight.ErrorCode(err) != freight.EUNAUTHORIZED {
		t.Errorf("bad token: %v", err)
	}
	_, err = client.New("http://127.0.0.1:1", "x").Me(ctx)
	if freight.ErrorCode(err) != freight.EUNAVAILABLE || !client.Retryable(err) {
		t.Errorf("unreachable server: %v, retryable %v", err, client.Retryable(err))
	}
}

func TestAll(t *testing.T) {
	ctx := context.Background()
	c := newServer(t)
	for i := range 7 {
		if _, err := c.CreateOrganization(ctx, fmt.Sprintf("org%d", i), "O"); err != nil {
			t.Fatal(err)
		}
	}
	pages := 0
	all, err := client.All(ctx, func(ctx context.Context, p freight.Page) (client.List[*freight.Organization], error) {
		pages++
		p.Limit = 3
		return c.Organizations(ctx, p)
	})
	if err != nil || len(all) != 7 || pages != 3 {
		t.Errorf("All = %d organizations in %d pages, %v; want 7 in 3", len(all), pages, err)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 250 * time.Millisecond, 1: 500 * time.Millisecond, 3: 2 * time.Second, 20: 30 * time.Second} {
		if got := client.Backoff(n, nil); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestEmptyFile uploads a file of zero bytes: one empty part.
func TestEmptyFile(t *testing.T) {
	ctx := context.Background()
	c := newServer(t)
	if _, err := c.CreateProduct(ctx, "cad", "CAD", ""); err != nil {
		t.Fatal(err)
	}
	rel, err := c.CreateRelease(ctx, "cad", "1.0.0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	ca, err := c.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: "EMPTY.txt", Platform: "any", Arch: "any", Size: 0, SHA256: empty})
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.URLs) != 1 || ca.URLs[0].Size != 0 {
		t.Fatalf("URLs = %+v, want one empty part", ca.URLs)
	}
	if err := c.PutPart(ctx, ca.URLs[0].URL, strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	a, err := c.CompleteUpload(ctx, ca.Upload.ID)
	if err != nil || a.SHA256 != empty || a.Size != 0 {
		t.Errorf("CompleteUpload = %+v, %v", a, err)
	}
}

// TestPutPartEmptyBody checks that an empty part goes out with
// Content-Length: 0, not chunked, from the kind of reader publish uses
// (http.NewRequest fixes up only its own few reader types): S3's
// presigned PUTs refuse a body without a length.
func TestPutPartEmptyBody(t *testing.T) {
	var got struct {
		length   int64
		encoding []string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.length, got.encoding = r.ContentLength, r.TransferEncoding
	}))
	defer srv.Close()
	if err := client.New(srv.URL, "").PutPart(context.Background(), srv.URL+"/part", io.NewSectionReader(strings.NewReader(""), 0, 0), 0); err != nil {
		t.Fatal(err)
	}
	if got.length != 0 || len(got.encoding) != 0 {
		t.Errorf("the server saw Content-Length %d, Transfer-Encoding %v; want 0 and none", got.length, got.encoding)
	}
}
