package edge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/edge"
	"github.com/freight-portal/freight/grant"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/sqlstore"
	"github.com/freight-portal/freight/webhook"
)

// portal is a real Freight portal (server.Server on SQLite and a file blob
// store) behind an instrumented front: it counts the blob bytes it sends
// to edges, and can be made to fail in the ways the tests need.
type portal struct {
	t      testing.TB
	store  *sqlstore.DB
	blobs  *fsblob.Store
	keys   *signing.Keyring
	server *server.Server // runs its background jobs when a test asks: webhooks, prefetch reconciles
	srv    *httptest.Server
	url    string
	logger *slog.Logger

	edgeID, credential string
	product            *freight.Product
	release            *freight.Release

	blobBytes    atomic.Int64 // blob body bytes sent to edges
	blobRequests atomic.Int64
	down         atomic.Bool  // every request fails with 503
	dieAfter     atomic.Int64 // > 0: abort a blob answer after this many bytes, then go down
	corrupt      atomic.Bool  // flip a byte in blob answers
	slow         atomic.Int64 // > 0: pause this many microseconds per 64 KiB of blob answers
	ahead        atomic.Int64 // the portal's clock runs this many nanoseconds ahead
	refuse       atomic.Value // string: the digest whose blob requests fail with 503
	// stallEvents holds each batch of download events, its body read,
	// until its client goes away, and then lets the portal handle it.
	stallEvents atomic.Bool
	// cutEvents lets the portal record each batch of download events and
	// drops the connection instead of its answer.
	cutEvents  atomic.Bool
	eventPosts atomic.Int64 // batches of download events posted
	answered   atomic.Int64 // batches of download events answered in full
	stalled    atomic.Int64 // stalled batches the portal has handled
	logs       lockedBuffer // the portal's log
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// discardAnswer is a ResponseWriter whose answer goes nowhere.
type discardAnswer struct{ h http.Header }

func (d *discardAnswer) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardAnswer) WriteHeader(int)             {}

func newPortal(t testing.TB) *portal {
	t.Helper()
	ctx := context.Background()
	p := &portal{t: t}
	logger := slog.New(server.LogHandler(slog.NewTextHandler(io.MultiWriter(t.Output(), &p.logs), &slog.HandlerOptions{Level: slog.LevelWarn})))
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
	p.store, p.blobs, p.logger, p.keys = db, blobs, logger, signing.NewKeyring(db, freight.KeyGrants, time.Now)
	// The signing key exists before the portal starts, as after its first
	// grant: the portal's keyring caches what it loaded for a while.
	if _, err := p.keys.Current(ctx); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Now().Add(time.Duration(p.ahead.Load())) }
	// Webhooks may reach the tests' receivers on 127.0.0.1.
	h := server.New(db, blobs, logger, server.Config{DeliveryMode: server.DeliveryEdge, Now: now,
		Webhooks: server.WebhookConfig{Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}}})
	p.server = h
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "portal down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/api/v1/edge/events" {
			p.eventPosts.Add(1)
		}
		if r.URL.Path == "/api/v1/edge/events" && p.stallEvents.Load() {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			<-r.Context().Done()
			h.ServeHTTP(w, r)
			p.stalled.Add(1)
			return
		}
		if r.URL.Path == "/api/v1/edge/events" && p.cutEvents.Load() {
			h.ServeHTTP(&discardAnswer{}, r)
			panic(http.ErrAbortHandler)
		}
		if !strings.HasPrefix(r.URL.Path, "/api/v1/edge/blobs/") {
			h.ServeHTTP(w, r)
			if r.URL.Path == "/api/v1/edge/events" {
				p.answered.Add(1)
			}
			return
		}
		p.blobRequests.Add(1)
		if d, _ := p.refuse.Load().(string); d != "" && strings.HasSuffix(r.URL.Path, "/"+d) {
			http.Error(w, "blob refused", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(&instrumented{ResponseWriter: w, p: p, limit: p.dieAfter.Load()}, r)
	}))
	t.Cleanup(p.srv.Close)
	p.url = p.srv.URL

	id, secret, hash := freight.NewEdgeSecret(time.Now())
	if err := db.CreateEdge(ctx, &freight.Edge{ID: id, Name: "edge-1", SecretHash: hash}); err != nil {
		t.Fatal(err)
	}
	p.edgeID, p.credential = id, secret
	p.product = &freight.Product{Slug: "cad", Name: "CAD"}
	if err := db.CreateProduct(ctx, p.product); err != nil {
		t.Fatal(err)
	}
	p.release = &freight.Release{ProductID: p.product.ID, Version: "1.0.0", Channel: freight.ChannelStable}
	if err := db.CreateRelease(ctx, p.release); err != nil {
		t.Fatal(err)
	}
	return p
}

// adminToken creates a vendor admin and returns an API token of theirs.
// prefetchOn turns prefetch_edges on for the portal's product.
func (p *portal) prefetchOn() {
	p.t.Helper()
	if _, err := p.store.UpdateProduct(context.Background(), p.product.ID, func(pr *freight.Product) error { pr.PrefetchEdges = true; return nil }); err != nil {
		p.t.Fatal(err)
	}
}

// prefetchCounts returns the counts of the edge's prefetch rows.
func (p *portal) prefetchCounts() freight.EdgePrefetchCounts {
	p.t.Helper()
	c, err := p.store.EdgePrefetchCounts(context.Background(), []string{p.edgeID})
	if err != nil {
		p.t.Fatal(err)
	}
	return c[p.edgeID]
}

func (p *portal) adminToken() string {
	p.t.Helper()
	ctx := context.Background()
	u := &freight.User{Email: "root@vendor.example", VendorRole: freight.RoleAdmin}
	if err := p.store.CreateUser(ctx, u); err != nil {
		p.t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	tok, err := freight.IssueToken(ctx, p.store, &freight.Token{Name: "admin", UserID: u.ID, Role: freight.RoleAdmin, ExpiresAt: &exp}, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// call sends an API request with token and fails the test unless the
// answer has the status want.
func (p *portal) call(method, path, token string, want int) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		p.t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, body)
	}
}

// instrumented counts, slows, corrupts or cuts blob answers.
type instrumented struct {
	http.ResponseWriter
	p     *portal
	limit int64
	sent  int64
}

func (w *instrumented) Write(b []byte) (int, error) {
	if w.limit > 0 && w.sent+int64(len(b)) > w.limit {
		n, _ := w.ResponseWriter.Write(b[:w.limit-w.sent])
		w.sent += int64(n)
		w.p.blobBytes.Add(int64(n))
		w.p.down.Store(true)
		w.p.dieAfter.Store(0)
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // the connection drops mid-answer
	}
	if w.p.corrupt.Load() && len(b) > 0 {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0xff
	}
	if us := w.p.slow.Load(); us > 0 {
		time.Sleep(time.Duration(us) * time.Microsecond * time.Duration(1+len(b)/(64<<10)))
	}
	n, err := w.ResponseWriter.Write(b)
	w.sent += int64(n)
	w.p.blobBytes.Add(int64(n))
	return n, err
}

// ReadFrom is hidden so that every byte passes through Write.
func (w *instrumented) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, r, make([]byte, 32<<10))
}

// artifact stores a blob of size random bytes as an available artifact
// of the portal's release and returns it with its content.
func (p *portal) artifact(name string, size int, seed uint64) (*freight.Artifact, []byte) {
	p.t.Helper()
	return p.artifactIn(p.release.ID, name, size, seed)
}

// artifactIn is artifact in another release.
func (p *portal) artifactIn(releaseID, name string, size int, seed uint64) (*freight.Artifact, []byte) {
	p.t.Helper()
	content := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1})
	rng.Read(content)
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	ctx := context.Background()
	if err := p.blobs.Put(ctx, digest, int64(size), bytes.NewReader(content)); err != nil {
		p.t.Fatal(err)
	}
	a := &freight.Artifact{ReleaseID: releaseID, Filename: name, Platform: "linux", Arch: "x86_64",
		Size: int64(size), SHA256: digest, State: freight.ArtifactAvailable}
	if err := p.store.CreateArtifact(ctx, a); err != nil {
		p.t.Fatal(err)
	}
	return a, content
}

// grantOf issues a grant for a and returns its signed token; adjust
// changes the grant before it is stored.
func (p *portal) grantOf(a *freight.Artifact, adjust ...func(*freight.Grant)) string {
	p.t.Helper()
	now := time.Now()
	g := &freight.Grant{ArtifactID: a.ID, Actor: "usr_test", IP: "127.0.0.1", Digest: a.SHA256, Size: a.Size,
		Filename: a.Filename, StartBy: now.Add(5 * time.Minute), ResumeUntil: now.Add(time.Hour), ByteBudget: 3 * a.Size}
	for _, f := range adjust {
		f(g)
	}
	ctx := context.Background()
	if err := p.store.CreateGrant(ctx, g); err != nil {
		p.t.Fatal(err)
	}
	tok, err := grant.Encode(ctx, p.keys, grant.ClaimsOf(g))
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// node is an edge under test, served on its own HTTP server.
type node struct {
	*edge.Edge
	url    string
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// startEdge opens an edge on dir against the portal and runs it; adjust
// changes its configuration. It stops at the end of the test unless
// stopped before.
func startEdge(t testing.TB, p *portal, dir string, adjust ...func(*edge.Config)) *node {
	t.Helper()
	cfg := edge.Config{Origin: p.url, Credential: p.credential, CacheDir: dir, CacheSize: 1 << 30,
		Region: "eu-west", PublicURL: "http://edge.invalid", FillRetries: 2, RetryDelay: 20 * time.Millisecond,
		Heartbeat: time.Hour, EventFlush: time.Hour, KeyRefresh: time.Hour,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, f := range adjust {
		f(&cfg)
	}
	e, err := edge.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Edge: e, done: make(chan struct{})}
	n.srv = httptest.NewServer(e)
	n.url = n.srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { e.Run(ctx); close(n.done) }()
	t.Cleanup(n.stop)
	return n
}

var stopMu sync.Mutex

// stop shuts the edge down as a process would: the server, the background
// work, then the cache and state.
func (n *node) stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	if n.cancel == nil {
		return
	}
	n.srv.CloseClientConnections()
	n.srv.Close()
	n.cancel()
	<-n.done
	n.Edge.Close()
	n.cancel = nil
}

// get downloads url with an optional Range header and returns the status
// and body.
func get(t testing.TB, url, rng string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return -1, body, res.Header
	}
	return res.StatusCode, body, res.Header
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitFor polls cond until it holds or half a minute passed (the machine
// may be busy).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
