package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/edge"
	"github.com/freight-portal/freight/internal/realip"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/webhook"
)

// TestGrantChecks applies the origin's rules at the edge, offline.
func TestGrantChecks(t *testing.T) {
	p := newPortal(t)
	a, content := p.artifact("g.bin", 1<<20, 11)
	dir := t.TempDir()
	n := startEdge(t, p, dir)
	url := func(tok string) string { return n.url + "/d/" + tok + "/" + a.Filename }
	refused := func(name, u, rng, want string) {
		t.Helper()
		code, body, _ := get(t, u, rng)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.Unmarshal(body, &e)
		if code != http.StatusForbidden || e.Error.Message != want {
			t.Errorf("%s: status %d, message %q; want 403 %q", name, code, e.Error.Message, want)
		}
	}
	past := func(g *freight.Grant) {
		g.StartBy, g.ResumeUntil = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	}
	refused("expired", url(p.grantOf(a, past)), "", "link expired")
	startOver := func(g *freight.Grant) { g.StartBy = time.Now().Add(-time.Minute) }
	tok := p.grantOf(a, startOver)
	refused("start window closed", url(tok), "", "download window closed")
	if code, body, _ := get(t, url(tok), "bytes=1000-1999"); code != http.StatusPartialContent || string(body) != string(content[1000:2000]) {
		t.Errorf("a resume inside the resume window: status %d", code)
	}
	good := p.grantOf(a)
	i := strings.IndexByte(good, '.') + 5
	tampered := good[:i] + string("AB"[good[i]%2]) + good[i+1:]
	refused("tampered", url(tampered), "", "bad signature")
	refused("garbage", url("not-a-token"), "", "malformed token")
	refused("wrong name", n.url+"/d/"+good+"/other.bin", "", "wrong file name")
	bound := func(g *freight.Grant) { g.BindIP, g.IP = true, "10.1.2.3" }
	refused("wrong address", url(p.grantOf(a, bound)), "", "wrong client address")
	here := func(g *freight.Grant) { g.BindIP, g.IP = true, "127.0.0.1" }
	if code, _, _ := get(t, url(p.grantOf(a, here)), ""); code != http.StatusOK {
		t.Errorf("bound to the client's address: status %d", code)
	}

	// A budget of one file: one download, then no more, even after the
	// edge restarts.
	once := p.grantOf(a, func(g *freight.Grant) { g.ByteBudget = g.Size })
	if code, body, _ := get(t, url(once), ""); code != http.StatusOK || sha(body) != sha(content) {
		t.Fatalf("first download on a one-file budget: %d", code)
	}
	refused("budget spent", url(once), "bytes=0-0", "this link's byte budget is used up; ask for a new one")
	n.stop()
	n2 := startEdge(t, p, dir)
	code, _, _ := get(t, n2.url+"/d/"+once+"/"+a.Filename, "bytes=10-20")
	if code != http.StatusForbidden {
		t.Errorf("spent budget after a restart: status %d, want 403", code)
	}
}

// TestKeysSurvivePortalDown restarts an edge while the portal is down: it
// verifies with the keys it kept. A key the portal adds later is fetched
// when a token names it.
func TestKeysSurvivePortalDown(t *testing.T) {
	p := newPortal(t)
	a, content := p.artifact("k.bin", 1<<20, 12)
	dir := t.TempDir()
	n := startEdge(t, p, dir)
	if code, _, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, ""); code != 200 {
		t.Fatalf("warm-up download: %d", code)
	}
	n.stop()
	p.down.Store(true)
	n2 := startEdge(t, p, dir)
	code, body, _ := get(t, n2.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != 200 || sha(body) != sha(content) {
		t.Fatalf("cached download with the portal down: status %d", code)
	}
	p.down.Store(false)
	if _, err := p.keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The portal publishes the new key once its keyring reads the keys
	// again (signing.RefreshInterval); the edge then learns it from the
	// first token that names it.
	tok := p.grantOf(a)
	p.ahead.Store(int64(signing.RefreshInterval + time.Second))
	waitFor(t, "the new key to verify", func() bool {
		code, _, _ := get(t, n2.url+"/d/"+tok+"/"+a.Filename, "")
		return code == 200
	})
}

// TestEventSpool serves downloads while the portal is down, restarts the
// edge, and brings the portal back: every download is recorded once.
func TestEventSpool(t *testing.T) {
	p := newPortal(t)
	a, _ := p.artifact("e.bin", 256<<10, 13)
	dir := t.TempDir()
	fast := func(c *edge.Config) { c.EventFlush = 20 * time.Millisecond }
	n := startEdge(t, p, dir, fast)
	if code, _, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, ""); code != 200 {
		t.Fatal("warm-up download failed")
	}
	waitFor(t, "the first event to be recorded", func() bool { return countDownloads(t, p) == 1 })
	p.down.Store(true)
	for range 5 {
		if code, _, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, ""); code != 200 {
			t.Fatal("download with the portal down failed")
		}
	}
	time.Sleep(100 * time.Millisecond) // a few failed sends
	n.stop()
	if got := countDownloads(t, p); got != 1 {
		t.Fatalf("downloads recorded while the portal was down: %d, want 1", got)
	}
	p.down.Store(false)
	n2 := startEdge(t, p, dir, fast)
	waitFor(t, "the spooled events to be recorded", func() bool { return countDownloads(t, p) == 6 })
	time.Sleep(100 * time.Millisecond)
	if got := countDownloads(t, p); got != 6 {
		t.Errorf("downloads recorded = %d, want 6 (no duplicates)", got)
	}
	ds, _, err := p.store.Downloads(context.Background(), freight.DownloadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Via != "edge-1" || d.Bytes != a.Size || !d.Completed || d.ArtifactID != a.ID {
			t.Errorf("recorded download %+v", d)
		}
	}
	_ = n2
}

// TestEventsCutOff stops an edge while it posts its download events,
// then has the portal record a batch whose answer never reaches the edge:
// a client that went away is no error of the portal's, and the edge sends
// what was not acknowledged again, each download recorded once.
func TestEventsCutOff(t *testing.T) {
	p := newPortal(t)
	a, _ := p.artifact("e.bin", 256<<10, 23)
	dir := t.TempDir()
	fast := func(c *edge.Config) { c.EventFlush = 20 * time.Millisecond }
	p.stallEvents.Store(true)
	n := startEdge(t, p, dir, fast)
	for range 3 {
		if code, _, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, ""); code != 200 {
			t.Fatal("download failed")
		}
	}
	waitFor(t, "a batch of events to be posted", func() bool { return p.eventPosts.Load() > 0 })
	n.stop()
	waitFor(t, "the portal to handle the batch whose client went away", func() bool { return p.stalled.Load() > 0 })
	if logs := p.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("the portal logged an error for a client that went away:\n%s", logs)
	}

	// The portal records the batch, but the answer is lost.
	p.stallEvents.Store(false)
	p.cutEvents.Store(true)
	n = startEdge(t, p, dir, fast)
	waitFor(t, "the spooled events to be recorded", func() bool { return countDownloads(t, p) == 3 })
	p.cutEvents.Store(false)
	waitFor(t, "the events to be sent again and answered", func() bool { return p.answered.Load() > 0 })
	time.Sleep(100 * time.Millisecond) // the edge deletes what the answer acknowledged
	n.stop()
	if got := countDownloads(t, p); got != 3 {
		t.Errorf("downloads recorded = %d, want 3 (no duplicates)", got)
	}
	// Acknowledged, they are sent no more.
	posts := p.eventPosts.Load()
	startEdge(t, p, dir, fast)
	time.Sleep(200 * time.Millisecond)
	if got := p.eventPosts.Load() - posts; got != 0 {
		t.Errorf("a restarted edge posted %d batches of events, want none: its spool should be empty", got)
	}
	if logs := p.logs.String(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("the portal logged an error:\n%s", logs)
	}
}

// TestDownloadedEventOnce: a download in segments through an edge is one
// download to the vendor's webhook. The edge reports each range it
// served; the portal sends artifact.downloaded once, when the reports
// complete the download, and not again for more requests on its URL.
func TestDownloadedEventOnce(t *testing.T) {
	p := newPortal(t)
	var mu sync.Mutex
	var events []webhook.Event
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev webhook.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("a delivery that is not an event: %v", err)
		}
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer rc.Close()
	hook := &freight.Webhook{URL: rc.URL, Events: []string{freight.EventArtifactDownloaded}, Enabled: true, Secret: freight.NewWebhookSecret()}
	if err := p.store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	received := func() []webhook.Event {
		p.server.Wait()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}

	const size, segments = 1 << 20, 4
	a, content := p.artifact("segments.bin", size, 21)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.EventFlush = 20 * time.Millisecond })
	url := n.url + "/d/" + p.grantOf(a) + "/" + a.Filename
	segment := func(k int) {
		from, to := k*size/segments, (k+1)*size/segments-1
		if code, body, _ := get(t, url, fmt.Sprintf("bytes=%d-%d", from, to)); code != http.StatusPartialContent || !bytes.Equal(body, content[from:to+1]) {
			t.Fatalf("segment %d: status %d, %d bytes", k, code, len(body))
		}
	}
	for k := range segments - 1 {
		segment(k)
	}
	waitFor(t, "the edge to report three segments", func() bool { return countDownloads(t, p) == segments-1 })
	if got := received(); len(got) != 0 {
		t.Fatalf("three segments of four sent %d events, want none", len(got))
	}
	segment(segments - 1)
	waitFor(t, "the edge to report the last segment", func() bool { return countDownloads(t, p) == segments })
	got := received()
	if len(got) != 1 || got[0].Type != freight.EventArtifactDownloaded {
		t.Fatalf("a whole download in segments sent %+v, want one artifact.downloaded", got)
	}
	var data struct {
		Via      string           `json:"via"`
		Artifact freight.Artifact `json:"artifact"`
	}
	if err := json.Unmarshal(got[0].Data, &data); err != nil || data.Via != "edge-1" || data.Artifact.ID != a.ID {
		t.Errorf("event data %s (%v), want via edge-1 and the artifact", got[0].Data, err)
	}
	if code, _, _ := get(t, url, ""); code != http.StatusOK {
		t.Fatalf("the whole file again: status %d", code)
	}
	waitFor(t, "the edge to report the whole file", func() bool { return countDownloads(t, p) == segments+1 })
	if got := received(); len(got) != 1 {
		t.Errorf("the same URL downloaded again: %d events, want still 1", len(got))
	}
}

func countDownloads(t testing.TB, p *portal) int {
	ds, _, err := p.store.Downloads(context.Background(), freight.DownloadFilter{Page: freight.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// TestPrefetchOnPublish publishes a release of a product that prefetches:
// once the job the publish enqueued has run, the edge's next heartbeat
// fetches its file, the first customer's download is a hit, and the
// edge's report marks the portal's row done.
func TestPrefetchOnPublish(t *testing.T) {
	p := newPortal(t)
	ctx := context.Background()
	p.prefetchOn()
	a, content := p.artifact("p.bin", 2<<20, 14)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.Heartbeat = 20 * time.Millisecond })
	p.call("POST", "/api/v1/releases/"+p.release.ID+"/publish", p.adminToken(), http.StatusOK)
	p.server.Wait()
	waitFor(t, "the prefetch", func() bool { st := n.Stats(); return st.CacheBlobs == 1 && st.FillsInProgress == 0 })
	code, body, _ := get(t, n.url+"/d/"+p.grantOf(a)+"/"+a.Filename, "")
	if code != 200 || sha(body) != sha(content) {
		t.Fatalf("download after prefetch: %d", code)
	}
	if st := n.Stats(); st.Hits != 1 || st.Misses != 0 || p.blobBytes.Load() != a.Size {
		t.Errorf("after prefetch: %+v, origin bytes %d", st, p.blobBytes.Load())
	}
	// The portal shows the edge with its figures, and the prefetch done.
	waitFor(t, "the heartbeat to report the hit and the prefetch", func() bool {
		e, err := p.store.Edge(ctx, p.edgeID)
		row, rerr := p.store.EdgePrefetch(ctx, p.edgeID, a.SHA256)
		return err == nil && e.Stats.Hits == 1 && e.Region == "eu-west" && e.PublicURL == "http://edge.invalid" &&
			rerr == nil && row.DoneAt != nil
	})
	if c, err := p.store.EdgePrefetchCounts(ctx, []string{p.edgeID}); err != nil || c[p.edgeID] != (freight.EdgePrefetchCounts{Done: 1}) {
		t.Errorf("prefetch counts: %+v, %v; want one done", c, err)
	}
}

// TestPrefetchEvicted: a prefetched blob that the edge's cache evicts
// for a customer's download is pending again on the portal, which asks
// the edge for it again; once fetched again, it is done again.
func TestPrefetchEvicted(t *testing.T) {
	p := newPortal(t)
	ctx := context.Background()
	p.prefetchOn()
	a, _ := p.artifact("a.bin", 2<<20, 21)
	n := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.Heartbeat = 20 * time.Millisecond; c.CacheSize = 4 << 20 })
	p.call("POST", "/api/v1/releases/"+p.release.ID+"/publish", p.adminToken(), http.StatusOK)
	p.server.Wait()
	counts := p.prefetchCounts
	waitFor(t, "the prefetch to be done", func() bool { return counts() == freight.EdgePrefetchCounts{Done: 1} })

	// A file of no prefetched release, downloaded by a customer, needs
	// a's room. Meanwhile the portal refuses a's blob, so that the row
	// stays pending for the test to see.
	p.refuse.Store(a.SHA256)
	draft := &freight.Release{ProductID: p.product.ID, Version: "2.0.0-rc.1", Channel: freight.ChannelRC}
	if err := p.store.CreateRelease(ctx, draft); err != nil {
		t.Fatal(err)
	}
	c, cContent := p.artifactIn(draft.ID, "c.bin", 3<<20, 22)
	if code, body, _ := get(t, n.url+"/d/"+p.grantOf(c)+"/"+c.Filename, ""); code != 200 || sha(body) != sha(cContent) {
		t.Fatalf("downloading c: %d", code)
	}
	waitFor(t, "the evicted prefetch to be pending", func() bool {
		return counts() == freight.EdgePrefetchCounts{Pending: 1, PendingBytes: a.Size}
	})
	before := p.blobBytes.Load()
	p.refuse.Store("")
	waitFor(t, "the prefetch to be done again", func() bool { return counts() == freight.EdgePrefetchCounts{Done: 1} })
	if got := p.blobBytes.Load() - before; got != a.Size {
		t.Errorf("the edge fetched %d bytes from the portal after the eviction, want a's %d", got, a.Size)
	}
}

// TestBlobFetchNeedsProof checks that an edge credential alone does not
// open a blob: the fetch needs a grant for it or a prefetch asked of this
// edge.
func TestBlobFetchNeedsProof(t *testing.T) {
	p := newPortal(t)
	a, _ := p.artifact("s.bin", 1<<10, 15)
	try := func(cred, grantTok string) int {
		req, _ := http.NewRequest(http.MethodGet, p.url+"/api/v1/edge/blobs/"+a.SHA256, nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		if grantTok != "" {
			req.Header.Set("Freight-Grant", grantTok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := try(p.credential, ""); got != http.StatusForbidden {
		t.Errorf("credential alone: %d, want 403", got)
	}
	if got := try(p.credential, p.grantOf(a)); got != http.StatusOK {
		t.Errorf("credential and grant: %d, want 200", got)
	}
	_, other, _ := freight.NewEdgeSecret(time.Now())
	if got := try(other, p.grantOf(a)); got != http.StatusUnauthorized {
		t.Errorf("unknown credential: %d, want 401", got)
	}
	b, _ := p.artifact("t.bin", 1<<10, 16)
	if got := try(p.credential, p.grantOf(b)); got != http.StatusForbidden {
		t.Errorf("grant for another blob: %d, want 403", got)
	}

	// A prefetch opens the blob to the edge it was asked of, and to no
	// other.
	ctx := context.Background()
	p.prefetchOn()
	now := time.Now()
	if _, err := p.store.UpdateRelease(ctx, p.release.ID, func(r *freight.Release) error {
		r.State, r.PublishedAt = freight.ReleasePublished, &now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, _, hash := freight.NewEdgeSecret(now)
	second := &freight.Edge{Name: "edge-2", SecretHash: hash}
	if err := p.store.CreateEdge(ctx, second); err != nil {
		t.Fatal(err)
	}
	reconcile := func(edgeID string) {
		if _, _, err := p.store.ReconcileEdgePrefetch(ctx, freight.EdgePrefetchScope{EdgeID: edgeID}, now.Add(-time.Hour), now); err != nil {
			t.Fatal(err)
		}
	}
	reconcile(second.ID)
	if got := try(p.credential, ""); got != http.StatusForbidden {
		t.Errorf("credential alone, the blob asked of another edge: %d, want 403", got)
	}
	reconcile(p.edgeID)
	if got := try(p.credential, ""); got != http.StatusOK {
		t.Errorf("credential alone, the blob asked of this edge: %d, want 200", got)
	}
}

// TestTrustedProxies: behind a proxy the edge trusts, a download URL bound
// to an address works for the client named in X-Forwarded-For; from an
// edge that trusts no proxy, the header counts for nothing.
func TestTrustedProxies(t *testing.T) {
	p := newPortal(t)
	a, _ := p.artifact("p.bin", 64<<10, 14)
	loopback, err := realip.Parse("127.0.0.0/8,::1")
	if err != nil {
		t.Fatal(err)
	}
	behind := startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.TrustedProxies = loopback })
	plain := startEdge(t, p, t.TempDir())
	bound := func(g *freight.Grant) { g.BindIP, g.IP = true, "203.0.113.5" }
	status := func(base, xff string) int {
		req, err := http.NewRequest("GET", base+"/d/"+p.grantOf(a, bound)+"/"+a.Filename, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, base, xff string
		want            int
	}{
		{"the bound client behind a trusted proxy", behind.url, "203.0.113.5", http.StatusOK},
		{"another client behind a trusted proxy", behind.url, "198.51.100.1", http.StatusForbidden},
		{"a forged entry left of the client", behind.url, "203.0.113.5, 198.51.100.1", http.StatusForbidden},
		{"the bound address claimed to an edge that trusts no proxy", plain.url, "203.0.113.5", http.StatusForbidden},
	} {
		if got := status(c.base, c.xff); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
}

// TestPrefetchNoRoom: a cache that holds one of a release's two files
// does not go round in circles, each prefetch evicting the other file and
// the portal asking for it again: the evicted one waits, shown pending,
// and each file is fetched from the portal once.
func TestPrefetchNoRoom(t *testing.T) {
	p := newPortal(t)
	p.prefetchOn()
	a, _ := p.artifact("a.bin", 3<<20, 31)
	b, _ := p.artifact("b.bin", 3<<20, 32)
	startEdge(t, p, t.TempDir(), func(c *edge.Config) { c.Heartbeat = 20 * time.Millisecond; c.CacheSize = 4 << 20 })
	p.call("POST", "/api/v1/releases/"+p.release.ID+"/publish", p.adminToken(), http.StatusOK)
	p.server.Wait()
	// Both get fetched, the second evicting the first.
	waitFor(t, "both files to be fetched", func() bool { return p.blobBytes.Load() >= a.Size+b.Size })
	// Fifty heartbeats later, no more.
	time.Sleep(time.Second)
	if got := p.blobBytes.Load(); got != a.Size+b.Size {
		t.Errorf("the edge fetched %d bytes from the portal, want each file once (%d)", got, a.Size+b.Size)
	}
	if c := p.prefetchCounts(); c.Done != 1 || c.Pending != 1 {
		t.Errorf("prefetch rows %+v, want one done and one pending", c)
	}
}
