package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	s3blob "github.com/freight-portal/freight/blob/s3"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/server"
)

// fileOf returns size pseudo-random bytes, different for every seed.
func fileOf(seed uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type created struct {
	Artifact freight.Artifact
	Upload   struct {
		freight.Upload
		Parts    int
		Received []freight.UploadedPart
	}
	URLs []struct {
		Number int
		Size   int64
		URL    string
	}
}

type urls struct {
	URLs []struct {
		Number int
		Size   int64
		URL    string
	}
}

// draft makes a product and a draft release and returns the release id.
func (e *env) draft(version string) string {
	e.t.Helper()
	e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
	var rel freight.Release
	e.must(http.StatusCreated, "POST", "/api/v1/products/cad/releases", e.token, map[string]any{"version": version}).decode(e.t, &rel)
	return rel.ID
}

// startUpload creates an artifact for content and returns the answer.
func (e *env) startUpload(relID, filename string, content []byte, declared string) created {
	e.t.Helper()
	var c created
	body := map[string]any{"filename": filename, "platform": "linux", "arch": "x86_64", "size": len(content)}
	if declared != "" {
		body["sha256"] = declared
	}
	e.must(http.StatusCreated, "POST", "/api/v1/releases/"+relID+"/artifacts", e.token, body).decode(e.t, &c)
	return c
}

func (e *env) partURLs(uploadID string, parts ...int) urls {
	e.t.Helper()
	var u urls
	var body any
	if len(parts) > 0 {
		body = map[string]any{"parts": parts}
	}
	e.must(http.StatusOK, "POST", "/api/v1/uploads/"+uploadID+"/urls", e.token, body).decode(e.t, &u)
	return u
}

// put sends a part body to a part URL, without any token.
func (e *env) put(rawURL string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest("PUT", rawURL, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// sendAll sends every part of content to the URLs, in the order given.
func (e *env) sendAll(u urls, content []byte, order ...int) {
	e.t.Helper()
	if len(order) == 0 {
		for i := range u.URLs {
			order = append(order, i)
		}
	}
	for _, i := range order {
		p := u.URLs[i]
		off := int64(p.Number-1) * (5 << 20)
		if r := e.put(p.URL, content[off:off+p.Size]); r.status != http.StatusOK {
			e.t.Fatalf("part %d: status %d: %s", p.Number, r.status, r.body)
		}
	}
}

// complete asks to complete an upload and returns the answer. The test
// server runs no job worker: while the request waits for the
// verification, the test runs the due verify-upload jobs, as the worker of
// a replica would, so that the answer is the outcome.
func (e *env) complete(uploadID string) response {
	e.t.Helper()
	req := e.request("POST", "/api/v1/uploads/"+uploadID+"/complete", e.token, nil)
	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.send(req)
		done <- result{r, err}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			if res.err != nil {
				e.t.Fatal(res.err)
			}
			return res.r
		case <-tick.C:
			if _, err := e.srv.VerifyUploads(context.Background()); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// mustComplete completes an upload and returns its artifact, available.
func (e *env) mustComplete(uploadID string) freight.Artifact {
	e.t.Helper()
	r := e.complete(uploadID)
	if r.status != http.StatusOK {
		e.t.Fatalf("complete %s: status %d, want 200; body %s", uploadID, r.status, r.body)
	}
	var a freight.Artifact
	r.decode(e.t, &a)
	if a.State != freight.ArtifactAvailable {
		e.t.Fatalf("complete %s answered %+v, want an available artifact", uploadID, a)
	}
	return a
}

// blobSHA reads a blob back from the store and hashes it.
func (e *env) blobSHA(digest string) string {
	e.t.Helper()
	rc, err := e.blobs.Open(context.Background(), digest, 0, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestUploadFlow(t *testing.T) {
	t.Run("Filesystem", func(t *testing.T) { testUploadFlow(t, newEnv(t)) })
	t.Run("S3", func(t *testing.T) {
		url := testdb.S3(t)
		blobs, err := s3blob.Open(context.Background(), url, slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		testUploadFlow(t, newEnvWith(t, blobs))
	})
}

// testUploadFlow uploads a file in parts out of order, one twice, and
// publishes it. On S3 the parts go straight to the bucket. The server's
// own job worker runs, as in freight serve: the complete request answers
// the available artifact once the worker's job has verified the file.
func testUploadFlow(t *testing.T, e *env) {
	e.runJobs()
	relID := e.draft("1.0.0")
	content := fileOf(1, 12<<20+123) // three parts of 5 MiB, the last short
	c := e.startUpload(relID, "setup.bin", content, sha(content))
	if c.Artifact.State != freight.ArtifactUploading || c.Upload.Parts != 3 || c.Upload.PartSize != 5<<20 {
		t.Fatalf("created %+v, want an uploading artifact with 3 parts of 5 MiB", c)
	}
	e.must(http.StatusConflict, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)

	if len(c.URLs) != 3 || c.URLs[2].Number != 3 || c.URLs[2].Size != 2<<20+123 {
		t.Fatalf("creation answered part URLs %+v, want 3 with the last of 2 MiB + 123", c.URLs)
	}
	u := e.partURLs(c.Upload.ID)
	if len(u.URLs) != 3 {
		t.Fatalf("%d part URLs, want 3", len(u.URLs))
	}
	// Out of order, and part 2 twice (a client retry).
	e.sendAll(u, content, 2, 0, 1, 1)

	var open struct{ Items []freight.Upload }
	e.must(http.StatusOK, "GET", "/api/v1/uploads?state=open&artifact_id="+c.Artifact.ID, e.token, nil).decode(t, &open)
	if len(open.Items) != 1 || open.Items[0].ID != c.Upload.ID {
		t.Errorf("open uploads of the artifact = %+v, want %s", open.Items, c.Upload.ID)
	}
	wantError(t, e.do("GET", "/api/v1/uploads", e.token, nil), http.StatusBadRequest, freight.EINVALID, "artifact_id")
	var got created
	e.must(http.StatusOK, "GET", "/api/v1/uploads/"+c.Upload.ID, e.token, nil).decode(t, &got.Upload)
	if len(got.Upload.Received) != 3 {
		t.Errorf("received parts %+v, want 3", got.Upload.Received)
	}
	var a freight.Artifact
	began := time.Now()
	e.must(http.StatusOK, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil).decode(t, &a)
	if a.State != freight.ArtifactAvailable || a.SHA256 != sha(content) || a.Size != int64(len(content)) {
		t.Fatalf("after complete: %+v, want available with the file's SHA-256", a)
	}
	// The request answers once the job is done, not when its wait is up.
	if d := time.Since(began); d > server.DefaultUploadCompleteWait/2 {
		t.Errorf("complete took %v: it waited out its wait instead of answering the outcome", d)
	}
	if got := e.blobSHA(a.SHA256); got != sha(content) {
		t.Errorf("stored blob hashes to %s, want %s", got, sha(content))
	}
	// Completing again answers the same artifact.
	e.must(http.StatusOK, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
	// No more parts once completed: the portal refuses them, or on S3 the
	// bucket does (the multipart upload is gone).
	late := e.put(u.URLs[0].URL, content[:5<<20])
	if _, portal := e.blobs.(freight.PartWriter); portal {
		wantError(t, late, http.StatusConflict, freight.ECONFLICT, "")
	} else if late.status < 400 {
		t.Errorf("a part sent to S3 after completion: status %d, want a refusal", late.status)
	}

	e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)
	wantError(t, e.do("POST", "/api/v1/releases/"+relID+"/artifacts", e.token, map[string]any{"filename": "late.bin", "platform": "any", "arch": "any", "size": 1}), http.StatusConflict, freight.ECONFLICT, "")
	wantError(t, e.do("DELETE", "/api/v1/artifacts/"+a.ID, e.token, nil), http.StatusConflict, freight.ECONFLICT, "")

	var log struct{ Items []freight.AuditEvent }
	e.must(http.StatusOK, "GET", "/api/v1/audit?target_id="+a.ID, e.token, nil).decode(t, &log)
	if len(log.Items) != 2 || log.Items[0].Action != "artifact.available" || log.Items[1].Action != "artifact.create" {
		t.Errorf("audit of the artifact = %+v, want create then available", log.Items)
	}
}

func TestUploadBadInput(t *testing.T) {
	e := newEnv(t)
	relID := e.draft("1.0.0")
	content := fileOf(2, 11<<20)
	c := e.startUpload(relID, "tool.bin", content, "")
	u := e.partURLs(c.Upload.ID)

	t.Run("BadFilenames", func(t *testing.T) {
		for _, name := range []string{"a/b.exe", "../x", "..", "nul\x00.exe", "tab\tname", ".hidden", "x\\y", ""} {
			r := e.do("POST", "/api/v1/releases/"+relID+"/artifacts", e.token, map[string]any{"filename": name, "platform": "any", "arch": "any", "size": 10})
			wantError(t, r, http.StatusBadRequest, freight.EINVALID, "filename")
		}
	})
	t.Run("SizeOverLimit", func(t *testing.T) {
		r := e.do("POST", "/api/v1/releases/"+relID+"/artifacts", e.token, map[string]any{"filename": "big.iso", "platform": "any", "arch": "any", "size": 2 << 30})
		wantError(t, r, http.StatusBadRequest, freight.EINVALID, "size")
		r = e.do("POST", "/api/v1/releases/"+relID+"/artifacts", e.token, map[string]any{"filename": "nosize.iso", "platform": "any", "arch": "any"})
		wantError(t, r, http.StatusBadRequest, freight.EINVALID, "size")
	})
	t.Run("DuplicateFilename", func(t *testing.T) {
		r := e.do("POST", "/api/v1/releases/"+relID+"/artifacts", e.token, map[string]any{"filename": "tool.bin", "platform": "any", "arch": "any", "size": 10})
		wantError(t, r, http.StatusConflict, freight.ECONFLICT, "")
	})
	t.Run("WrongPartSize", func(t *testing.T) {
		wantError(t, e.put(u.URLs[0].URL, content[:5<<20-1]), http.StatusBadRequest, freight.EINVALID, "")
		wantError(t, e.put(u.URLs[0].URL, content[:5<<20+1]), http.StatusBadRequest, freight.EINVALID, "")
	})
	t.Run("TamperedURL", func(t *testing.T) {
		for _, mangle := range []func(string) string{
			func(s string) string { return strings.Replace(s, "/parts/1?", "/parts/2?", 1) }, // another part
			func(s string) string { return strings.Replace(s, "expires=", "expires=1", 1) },  // later expiry
			func(s string) string { return s[:len(s)-2] + "AA" },                             // signature
			func(s string) string { return strings.Split(s, "?")[0] },                        // no signature
		} {
			wantError(t, e.put(mangle(u.URLs[0].URL), content[:5<<20]), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		}
	})
	t.Run("PartOfAnotherSession", func(t *testing.T) {
		other := e.startUpload(relID, "other.bin", content, "")
		// Session B's URL with session A's id: the signature is B's.
		ou := e.partURLs(other.Upload.ID)
		mixed := strings.Replace(ou.URLs[0].URL, other.Upload.ID, c.Upload.ID, 1)
		wantError(t, e.put(mixed, content[:5<<20]), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})
	t.Run("BadPartNumbers", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/v1/uploads/"+c.Upload.ID+"/urls", e.token, map[string]any{"parts": []int{0}}), http.StatusBadRequest, freight.EINVALID, "parts")
		wantError(t, e.do("POST", "/api/v1/uploads/"+c.Upload.ID+"/urls", e.token, map[string]any{"parts": []int{4}}), http.StatusBadRequest, freight.EINVALID, "parts")
	})
	t.Run("CompleteWithMissingPart", func(t *testing.T) {
		e.sendAll(u, content, 0, 2)
		r := e.complete(c.Upload.ID)
		wantError(t, r, http.StatusConflict, freight.ECONFLICT, "")
		if _, msg, _ := r.err(); !strings.Contains(msg, "part 2 is missing") {
			t.Errorf("message %q does not name the missing part", msg)
		}
		// The session is open again, with the reason: send the part and
		// complete.
		var up freight.Upload
		e.must(http.StatusOK, "GET", "/api/v1/uploads/"+c.Upload.ID, e.token, nil).decode(t, &up)
		if up.State != freight.UploadOpen || !strings.Contains(up.Error, "part 2 is missing") {
			t.Errorf("upload after a completion with a missing part: %s (%q), want open with the reason", up.State, up.Error)
		}
		// The verification's work is over: its job is done, not retried.
		if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone || js[0].Attempts != 1 {
			t.Errorf("verify-upload jobs: %+v, want one done at its first attempt", js)
		}
		e.sendAll(u, content, 1)
		a := e.mustComplete(c.Upload.ID)
		if a.SHA256 != sha(content) {
			t.Errorf("SHA-256 %s, want %s", a.SHA256, sha(content))
		}
	})
	t.Run("DeclaredDigestMismatch", func(t *testing.T) {
		data := fileOf(3, 6<<20)
		c := e.startUpload(relID, "liar.bin", data, sha([]byte("something else")))
		e.sendAll(e.partURLs(c.Upload.ID), data)
		r := e.complete(c.Upload.ID)
		wantError(t, r, http.StatusBadRequest, freight.EINVALID, "sha256")
		var a freight.Artifact
		e.must(http.StatusOK, "GET", "/api/v1/artifacts/"+c.Artifact.ID, e.token, nil).decode(t, &a)
		if a.State != freight.ArtifactFailed || !strings.Contains(a.Error, sha(data)) {
			t.Errorf("artifact %+v, want failed with a reason naming the received digest", a)
		}
		if _, err := e.blobs.Stat(context.Background(), sha(data)); freight.ErrorCode(err) != freight.ENOTFOUND {
			t.Errorf("Stat of the rejected bytes: %v, want not found: nothing of them may be downloadable", err)
		}
		if js := e.verifyJobs(); len(js) == 0 || js[0].State != freight.JobDone || js[0].Attempts != 1 {
			t.Errorf("verify-upload jobs: %+v, want the newest done at its first attempt", js)
		}
		// Asked again, as a client that was told 202 does, the answer is
		// the same, and nothing is verified again.
		wantError(t, e.do("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil), http.StatusBadRequest, freight.EINVALID, "sha256")
	})
	t.Run("ExpiredSession", func(t *testing.T) {
		data := fileOf(4, 5<<20)
		c := e.startUpload(relID, "slow.bin", data, "")
		pu := e.partURLs(c.Upload.ID)
		e.clock.Add(25 * time.Hour)
		defer e.clock.Add(-25 * time.Hour)
		wantError(t, e.put(pu.URLs[0].URL, data), http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
		wantError(t, e.do("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
		n, err := e.srv.ExpireUploads(context.Background())
		if err != nil || n < 1 {
			t.Fatalf("ExpireUploads = %d, %v; want at least the expired session", n, err)
		}
		var a freight.Artifact
		e.must(http.StatusOK, "GET", "/api/v1/artifacts/"+c.Artifact.ID, e.token, nil).decode(t, &a)
		if a.State != freight.ArtifactFailed {
			t.Errorf("artifact of an expired upload is %s, want failed", a.State)
		}
	})
	t.Run("PublishNeedsAvailableFiles", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/v1/releases/"+relID+"/publish", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
	})
	t.Run("NoTokenNeededForParts", func(t *testing.T) {
		// The URL is the credential; a bearer token adds nothing and a
		// part URL without a valid signature stays refused.
		parsed, _ := url.Parse(u.URLs[0].URL)
		r := e.do("PUT", parsed.Path, e.token, content[:5<<20])
		wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
	})
}

func TestUploadAbortAndDelete(t *testing.T) {
	e := newEnv(t)
	relID := e.draft("1.0.0")
	data := fileOf(5, 5<<20)
	c := e.startUpload(relID, "x.bin", data, "")
	u := e.partURLs(c.Upload.ID)
	e.sendAll(u, data)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/uploads/"+c.Upload.ID, e.token, nil)
	wantError(t, e.put(u.URLs[0].URL, data), http.StatusConflict, freight.ECONFLICT, "")
	wantError(t, e.do("POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
	e.must(http.StatusNoContent, "DELETE", "/api/v1/artifacts/"+c.Artifact.ID, e.token, nil)
	wantError(t, e.do("GET", "/api/v1/uploads/"+c.Upload.ID, e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	// The filename is free again.
	e.startUpload(relID, "x.bin", data, "")
}

func TestDedupeAndGarbageCollection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	relID := e.draft("1.0.0")
	data := fileOf(6, 7<<20)
	upload := func(name string) freight.Artifact {
		c := e.startUpload(relID, name, data, sha(data))
		e.sendAll(e.partURLs(c.Upload.ID), data)
		return e.mustComplete(c.Upload.ID)
	}
	a1, a2 := upload("one.bin"), upload("two.bin")
	if a1.SHA256 != a2.SHA256 {
		t.Fatalf("same bytes, different digests %s %s", a1.SHA256, a2.SHA256)
	}
	infos, _, err := e.blobs.List(ctx, "", 100)
	if err != nil || len(infos) != 1 {
		t.Fatalf("blobs = %+v, %v; want one blob for two identical files", infos, err)
	}
	gc := func() int {
		// The test clock started before the blob was written; move it past
		// the blob's real modification time.
		e.clock.Add(time.Minute)
		n, err := e.srv.CollectGarbage(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/artifacts/"+a1.ID, e.token, nil)
	if n := gc(); n != 0 {
		t.Errorf("GC deleted %d blobs while two.bin still names it", n)
	}
	e.must(http.StatusNoContent, "DELETE", "/api/v1/artifacts/"+a2.ID, e.token, nil)
	// A lock held by an upload committing the same content protects it.
	if err := e.store.LockBlob(ctx, a1.SHA256, "upload:someone", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := gc(); n != 0 {
		t.Errorf("GC deleted %d blobs under an upload's lock", n)
	}
	e.store.UnlockBlob(ctx, a1.SHA256, "upload:someone")
	if n := gc(); n != 1 {
		t.Errorf("GC deleted %d blobs, want the unreferenced one", n)
	}
	if _, err := e.blobs.Stat(ctx, a1.SHA256); freight.ErrorCode(err) != freight.ENOTFOUND {
		t.Errorf("Stat after GC: %v, want not found", err)
	}
	var log struct{ Items []freight.AuditEvent }
	e.must(http.StatusOK, "GET", "/api/v1/audit?action=blob.delete", e.token, nil).decode(t, &log)
	if len(log.Items) != 1 || log.Items[0].TargetID != a1.SHA256 || log.Items[0].Actor != "system" {
		t.Errorf("blob.delete events = %+v, want one by the system", log.Items)
	}
}
