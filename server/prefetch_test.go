package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/sqlstore"
)

// registerEdge registers an edge through the admin API.
func (e *env) registerEdge(name string) edgeAnswer {
	e.t.Helper()
	var a edgeAnswer
	e.must(http.StatusCreated, "POST", "/api/v1/edges", e.token, map[string]any{"name": name}).decode(e.t, &a)
	return a
}

// beat sends a heartbeat as the edge, reporting the digests as cached,
// and returns what the portal asks it to prefetch.
func (e *env) beat(a edgeAnswer, cached ...string) []freight.EdgeBlob {
	e.t.Helper()
	var ans freight.EdgeHeartbeatAnswer
	body := map[string]any{"region": "eu-west", "public_url": "https://" + a.Name + ".edge.example"}
	if len(cached) > 0 {
		body["cached"] = cached
	}
	e.must(http.StatusOK, "POST", "/api/v1/edge/heartbeat", a.Credential, body).decode(e.t, &ans)
	if ans.Prefetch == nil {
		e.t.Fatalf("heartbeat answer without a prefetch list")
	}
	return ans.Prefetch
}

// edgeFetch fetches a blob as the edge, without a download's grant, and
// returns the status.
func (e *env) edgeFetch(a edgeAnswer, digest string) int {
	e.t.Helper()
	return e.do("GET", "/api/v1/edge/blobs/"+digest, a.Credential, nil).status
}

// prefetchCounts reads an edge's prefetch counts from the admin API.
func (e *env) prefetchCounts(a edgeAnswer) freight.EdgePrefetchCounts {
	e.t.Helper()
	var v struct {
		Prefetch *freight.EdgePrefetchCounts `json:"prefetch"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/edges/"+a.ID, e.token, nil).decode(e.t, &v)
	if v.Prefetch == nil {
		e.t.Fatalf("GET /api/v1/edges/%s has no prefetch counts", a.ID)
	}
	return *v.Prefetch
}

// prefetchJobs counts the edge-prefetch jobs in a state that are due:
// the follow-ups scheduled for the end of the window are not.
func (e *env) prefetchJobs(state freight.JobState) int {
	e.t.Helper()
	n := 0
	for _, j := range e.sweepJobs(e.token, "edge-prefetch") {
		if j.State == state && !j.RunAt.After(e.clock.Now()) {
			n++
		}
	}
	return n
}

// publishFile publishes a release of the product with one file made from
// seed, and returns the release id and the file. It runs no job.
func (e *env) publishFile(product, version string, seed uint64) (string, freight.Artifact) {
	e.t.Helper()
	var rel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/"+product+"/releases", e.token, map[string]any{"version": version}).decode(e.t, &rel)
	content := fileOf(seed, 1000+int(seed))
	c := e.startUpload(rel.ID, product+"-"+version+".zip", content, sha(content))
	e.sendAll(e.partURLs(c.Upload.ID), content)
	var a freight.Artifact
	if r := e.complete(c.Upload.ID); r.status != http.StatusOK {
		e.t.Fatalf("complete: status %d: %s", r.status, r.body)
	} else {
		r.decode(e.t, &a)
	}
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+rel.ID+"/publish", e.token, nil)
	return rel.ID, a
}

func wantBlobs(t *testing.T, what string, got []freight.EdgeBlob, want ...freight.Artifact) {
	t.Helper()
	ok := len(got) == len(want)
	for i := range want {
		ok = ok && got[i].SHA256 == want[i].SHA256 && got[i].Size == want[i].Size
	}
	if !ok {
		t.Errorf("%s: asked to prefetch %+v, want %d blobs %v", what, got, len(want), want)
	}
}

// TestEdgePrefetch follows the prefetch rows of two edges through the
// changes that enqueue their job: a publish, an edge registered later,
// the edges' reports, a yank, the product's setting, and the end of the
// window. Each edge sees, and may fetch without a grant, only its own
// rows.
func TestEdgePrefetch(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD", "prefetch_edges": true})
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "tools", "name": "Tools"})
	a := e.registerEdge("fra-1")
	e.srv.Wait()
	if got := e.beat(a); len(got) != 0 {
		t.Errorf("nothing published: asked to prefetch %v", got)
	}

	// Publishing enqueues the job in the publish transaction: it is there
	// when the publish answers, before any worker ran. A refused publish
	// enqueues none.
	relID, art := e.publishFile("cad", "1.0.0", 1)
	if n := e.prefetchJobs(freight.JobQueued); n != 1 {
		t.Fatalf("queued edge-prefetch jobs after the publish: %d, want 1", n)
	}
	wantError(t, e.do("POST", "/api/v1/releases/"+relID+"/publish", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
	if n := e.prefetchJobs(freight.JobQueued); n != 1 {
		t.Errorf("queued edge-prefetch jobs after a refused publish: %d, want 1", n)
	}
	wantBlobs(t, "before the job ran", e.beat(a))
	if got := e.edgeFetch(a, art.SHA256); got != http.StatusForbidden {
		t.Errorf("fetch without a grant before the job ran: %d, want 403", got)
	}
	e.srv.Wait()
	wantBlobs(t, "edge a after the job", e.beat(a), art)
	if got := e.edgeFetch(a, art.SHA256); got != http.StatusOK {
		t.Errorf("edge a fetching a blob it was asked to prefetch: %d, want 200", got)
	}

	// A product that does not prefetch enqueues nothing, and its blob
	// is no edge's to fetch without a grant.
	_, tool := e.publishFile("tools", "1.0.0", 2)
	if n := e.prefetchJobs(freight.JobQueued); n != 0 {
		t.Errorf("a release of a product that does not prefetch queued %d edge-prefetch jobs", n)
	}
	if got := e.edgeFetch(a, tool.SHA256); got != http.StatusForbidden {
		t.Errorf("edge a fetching a blob nobody asked for: %d, want 403", got)
	}

	// An edge registered later gets the blob once its own job ran; until
	// then edge a's rows open nothing for it.
	b := e.registerEdge("nyc-1")
	wantBlobs(t, "edge b before its job", e.beat(b))
	if got := e.edgeFetch(b, art.SHA256); got != http.StatusForbidden {
		t.Errorf("edge b fetching a blob asked of edge a only: %d, want 403", got)
	}
	e.srv.Wait()
	wantBlobs(t, "edge b after its job", e.beat(b), art)
	if got := e.edgeFetch(b, art.SHA256); got != http.StatusOK {
		t.Errorf("edge b fetching a blob it was asked to prefetch: %d, want 200", got)
	}

	// Reports: checked, bounded, and each edge's own.
	wantError(t, e.do("POST", "/api/v1/edge/heartbeat", a.Credential, map[string]any{
		"public_url": "https://a.example", "cached": []string{"not a digest"}}), http.StatusBadRequest, freight.EINVALID, "cached")
	many := make([]string, freight.MaxEdgeCached+1)
	for i := range many {
		many[i] = art.SHA256
	}
	wantError(t, e.do("POST", "/api/v1/edge/heartbeat", a.Credential, map[string]any{
		"public_url": "https://a.example", "cached": many}), http.StatusBadRequest, freight.EINVALID, "cached")
	huge := `{"public_url":"https://a.example","region":"` + strings.Repeat(" ", 300<<10) + `"}`
	wantError(t, e.do("POST", "/api/v1/edge/heartbeat", a.Credential, huge), http.StatusRequestEntityTooLarge, freight.ETOOLARGE, "")
	if c := e.prefetchCounts(a); c != (freight.EdgePrefetchCounts{Pending: 1, PendingBytes: art.Size}) {
		t.Errorf("edge a after refused reports: %+v, want one pending", c)
	}
	// A full report is far over --max-body (4 KiB here) and still fits;
	// blobs the edge was never asked for change nothing.
	full := make([]string, freight.MaxEdgeCached)
	for i := range full {
		full[i] = sha([]byte{byte(i), byte(i >> 8)})
	}
	wantBlobs(t, "edge a after a full report of other blobs", e.beat(a, full...), art)
	wantBlobs(t, "edge a after reporting the blob cached", e.beat(a, art.SHA256, tool.SHA256))
	if c := e.prefetchCounts(a); c != (freight.EdgePrefetchCounts{Done: 1}) {
		t.Errorf("edge a after its report: %+v, want one done", c)
	}
	if c := e.prefetchCounts(b); c != (freight.EdgePrefetchCounts{Pending: 1, PendingBytes: art.Size}) {
		t.Errorf("edge b after edge a's report: %+v, want one pending", c)
	}
	var list struct {
		Items []struct {
			ID       string                     `json:"id"`
			Prefetch freight.EdgePrefetchCounts `json:"prefetch"`
		}
	}
	e.must(http.StatusOK, "GET", "/api/v1/edges", e.token, nil).decode(t, &list)
	listed := map[string]freight.EdgePrefetchCounts{}
	for _, x := range list.Items {
		listed[x.ID] = x.Prefetch
	}
	if len(listed) != 2 || listed[a.ID].Done != 1 || listed[b.ID].Pending != 1 {
		t.Errorf("GET /api/v1/edges: %+v", list.Items)
	}
	page := e.do("GET", "/console/edges", e.token, nil)
	if !strings.Contains(string(page.body), "1 cached, 0 pending") || !strings.Contains(string(page.body), "0 cached, 1 pending") {
		t.Errorf("the console's edges page does not show the prefetch counts:\n%s", page.body)
	}
	if got := e.edgeFetch(a, art.SHA256); got != http.StatusOK {
		t.Errorf("edge a fetching a blob it reported cached: %d, want 200", got)
	}

	// A yank takes the rows, done and pending: no edge is asked for the
	// blob, and none fetches it without a grant.
	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/yank", e.token, nil)
	e.srv.Wait()
	for _, x := range []edgeAnswer{a, b} {
		if c := e.prefetchCounts(x); c != (freight.EdgePrefetchCounts{}) {
			t.Errorf("%s after the yank: %+v, want nothing", x.Name, c)
		}
		wantBlobs(t, x.Name+" after the yank", e.beat(x))
		if got := e.edgeFetch(x, art.SHA256); got != http.StatusForbidden {
			t.Errorf("%s fetching a yanked blob without a grant: %d, want 403", x.Name, got)
		}
	}

	// The product's setting: off takes the rows, on brings them back; a
	// change of something else enqueues nothing.
	_, art2 := e.publishFile("cad", "2.0.0", 3)
	e.srv.Wait()
	wantBlobs(t, "2.0.0 published", e.beat(b), art2)
	e.must(http.StatusOK, "PATCH", "/api/v1/products/cad", e.token, map[string]any{"prefetch_edges": false})
	e.srv.Wait()
	wantBlobs(t, "prefetch turned off", e.beat(b))
	e.must(http.StatusOK, "PATCH", "/api/v1/products/cad", e.token, map[string]any{"prefetch_edges": true})
	e.srv.Wait()
	wantBlobs(t, "prefetch turned on again", e.beat(b), art2)
	e.must(http.StatusOK, "PATCH", "/api/v1/products/cad", e.token, map[string]any{"description": "Computer-aided design"})
	if n := e.prefetchJobs(freight.JobQueued); n != 0 {
		t.Errorf("a product change that leaves prefetch_edges queued %d edge-prefetch jobs", n)
	}

	// Past the window the edges are no longer asked, and the follow-up
	// job the reconciliation scheduled takes the rows.
	e.clock.Add(server.DefaultPrefetchWindow + 2*time.Minute)
	wantBlobs(t, "past the window", e.beat(b))
	if c := e.prefetchCounts(b); c.Pending != 1 {
		t.Errorf("edge b past the window, before the follow-up: %+v, want its row still there", c)
	}
	e.srv.Wait()
	for _, x := range []edgeAnswer{a, b} {
		if c := e.prefetchCounts(x); c != (freight.EdgePrefetchCounts{}) {
			t.Errorf("%s after the follow-up job: %+v, want nothing", x.Name, c)
		}
	}
}

// TestEdgePrefetchAfterRestart publishes on one server and runs the
// queued job on another process's server on the same database, as after
// a crash between the publish and the job: the job was committed with the
// publish, and the edge is asked for the blob.
func TestEdgePrefetchAfterRestart(t *testing.T) {
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	dbURL := testdb.SQLite(t)
	e := newEnvAt(t, dbURL, blobs)
	e.must(http.StatusCreated, "POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD", "prefetch_edges": true})
	a := e.registerEdge("fra-1")
	e.srv.Wait()
	_, art := e.publishFile("cad", "1.0.0", 1)

	db, err := sqlstore.Open(context.Background(), dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other := server.New(db, blobs, slog.New(server.LogHandler(slog.NewTextHandler(t.Output(), nil))), server.Config{Now: e.clock.Now})
	other.Wait()
	if n := e.prefetchJobs(freight.JobDone); n != 2 {
		t.Errorf("done edge-prefetch jobs: %d, want the registration's and the publish's", n)
	}
	wantBlobs(t, "after the other server ran the job", e.beat(a), art)
}
