package server_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
)

// hookedBlobs is a filesystem blob store whose verification steps can be
// held up or made to fail: finish runs before FinishUpload, beforeCommit
// before CommitUpload, afterCommit after a CommitUpload that succeeded; an
// error a hook returns is the call's.
type hookedBlobs struct {
	*fsblob.Store
	dir string

	mu                                sync.Mutex
	finish, beforeCommit, afterCommit func(ctx context.Context) error
	// finishes counts the FinishUpload calls.
	finishes atomic.Int32
}

func newHookedBlobs(t *testing.T) *hookedBlobs {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	fsb, err := fsblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &hookedBlobs{Store: fsb, dir: dir}
}

// hooks sets the three hooks; nil clears one.
func (b *hookedBlobs) hooks(finish, beforeCommit, afterCommit func(ctx context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finish, b.beforeCommit, b.afterCommit = finish, beforeCommit, afterCommit
}

func (b *hookedBlobs) run(ctx context.Context, hook *func(context.Context) error) error {
	b.mu.Lock()
	h := *hook
	b.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(ctx)
}

func (b *hookedBlobs) FinishUpload(ctx context.Context, id string, size, partSize int64) (string, error) {
	b.finishes.Add(1)
	if err := b.run(ctx, &b.finish); err != nil {
		return "", err
	}
	return b.Store.FinishUpload(ctx, id, size, partSize)
}

func (b *hookedBlobs) CommitUpload(ctx context.Context, id, digest string) error {
	if err := b.run(ctx, &b.beforeCommit); err != nil {
		return err
	}
	if err := b.Store.CommitUpload(ctx, id, digest); err != nil {
		return err
	}
	return b.run(ctx, &b.afterCommit)
}

// staging returns how many staging areas the store holds.
func (b *hookedBlobs) staging(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(b.dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// completeWait sets how long a complete request waits for the verification.
func completeWait(d time.Duration) func(*server.Config) {
	return func(c *server.Config) { c.UploadCompleteWait = d }
}

// readyUpload creates an artifact of size pseudo-random bytes in the draft
// release, declaring their SHA-256, and sends every part.
func (e *env) readyUpload(relID, filename string, seed uint64, size int) (created, []byte) {
	e.t.Helper()
	content := fileOf(seed, size)
	c := e.startUpload(relID, filename, content, sha(content))
	e.sendAll(e.partURLs(c.Upload.ID), content)
	return c, content
}

// verifyJobs lists the verify-upload jobs, newest first.
func (e *env) verifyJobs() []freight.Job { return e.sweepJobs(e.token, "verify-upload") }

// upload reads an upload session.
func (e *env) upload(id string) freight.Upload {
	e.t.Helper()
	var up freight.Upload
	e.must(http.StatusOK, "GET", "/api/v1/uploads/"+id, e.token, nil).decode(e.t, &up)
	return up
}

// artifact reads an artifact.
func (e *env) artifact(id string) freight.Artifact {
	e.t.Helper()
	var a freight.Artifact
	e.must(http.StatusOK, "GET", "/api/v1/artifacts/"+id, e.token, nil).decode(e.t, &a)
	return a
}

// auditActions returns the actions of the audit events about a target,
// newest first.
func (e *env) auditActions(targetID string) []string {
	e.t.Helper()
	var log struct{ Items []freight.AuditEvent }
	e.must(http.StatusOK, "GET", "/api/v1/audit?target_id="+targetID, e.token, nil).decode(e.t, &log)
	var out []string
	for _, ev := range log.Items {
		out = append(out, ev.Action)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestUploadVerificationAccepted: a verification that takes longer than
// the request waits. The server's own worker runs the job, held up in the
// hashing. complete answers 202 with the upload, where to find it and when
// to ask again, and asking again queues no second job; meanwhile the
// artifact is verifying and the release cannot be published. Once the
// hashing goes on, complete answers the available artifact.
func TestUploadVerificationAccepted(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		blobs := newHookedBlobs(t)
		release := make(chan struct{})
		entered := make(chan struct{}, 10)
		blobs.hooks(func(ctx context.Context) error {
			entered <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil, nil)
		e := newEnvAt(t, dbURL, blobs, completeWait(200*time.Millisecond))
		e.runJobs()
		relID := e.draft("1.0.0")
		c, content := e.readyUpload(relID, "big.iso", 31, 6<<20)
		path := "/api/v1/uploads/" + c.Upload.ID

		for i := range 2 {
			r := e.must(http.StatusAccepted, "POST", path+"/complete", e.token, nil)
			if got := r.header.Get("Location"); got != path {
				t.Errorf("answer %d: Location %q, want %q", i, got, path)
			}
			if got := r.header.Get("Retry-After"); got != "2" {
				t.Errorf("answer %d: Retry-After %q, want 2", i, got)
			}
			var up freight.Upload
			r.decode(t, &up)
			if up.ID != c.Upload.ID || up.State != freight.UploadCompleting {
				t.Errorf("answer %d: upload %s %s, want %s completing", i, up.ID, up.State, c.Upload.ID)
			}
		}
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the worker did not start the verification")
		}
		if up := e.upload(c.Upload.ID); up.State != freight.UploadCompleting {
			t.Errorf("upload while verified: %s, want completing", up.State)
		}
		if a := e.artifact(c.Artifact.ID); a.State != freight.ArtifactVerifying {
			t.Errorf("artifact while verified: %s, want verifying", a.State)
		}
		if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobRunning || js[0].MaxAttempts < 2 {
			t.Errorf("verify-upload jobs while verifying: %+v, want one running, with retries", js)
		}
		wantError(t, e.do("POST", "/api/v1/releases/"+relID+"/publish", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")

		close(release)
		var r response
		for i := 0; ; i++ {
			r = e.do("POST", path+"/complete", e.token, nil)
			if r.status != http.StatusAccepted || i == 100 {
				break
			}
		}
		if r.status != http.StatusOK {
			t.Fatalf("complete after the hashing went on: status %d, body %s", r.status, r.body)
		}
		var a freight.Artifact
		r.decode(t, &a)
		if a.State != freight.ArtifactAvailable || a.SHA256 != sha(content) {
			t.Errorf("artifact %+v, want available with the file's SHA-256", a)
		}
		if up := e.upload(c.Upload.ID); up.State != freight.UploadCompleted {
			t.Errorf("upload after the verification: %s, want completed", up.State)
		}
		if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone || js[0].Attempts != 1 {
			t.Errorf("verify-upload jobs: %+v, want one done at its first attempt", js)
		}
		if n := blobs.finishes.Load(); n != 1 {
			t.Errorf("the upload was hashed %d times, want once", n)
		}
		e.must(http.StatusOK, "POST", "/api/v1/releases/"+relID+"/publish", e.token, nil)
	})
}

// TestUploadVerificationCrash: the worker verifying an upload dies, its
// handler stopped at a point and nothing recorded, and its lease runs out:
// while hashing, after recording the digest and before the commit, after
// the commit before the transaction that makes the artifact available, and
// after that transaction before the queue heard of it. The next worker runs
// the job again (in the last case the job is done already and nothing
// runs), and the artifact becomes available exactly once: one audit event,
// one blob, the uploads counted once, nothing left of the staging area.
func TestUploadVerificationCrash(t *testing.T) {
	died := errors.New("the worker died")
	fail := func(context.Context) error { return died }
	for _, tc := range []struct {
		point                      string
		finish, before, afterwards func(context.Context) error
		err                        error // what the dying handler returned
		attempts                   int   // of the job in the end
	}{
		{"Hashing", fail, nil, nil, died, 2},
		{"BeforeCommit", nil, fail, nil, died, 2},
		{"AfterCommit", nil, nil, fail, died, 2},
		{"AfterAvailable", nil, nil, nil, nil, 1},
	} {
		t.Run(tc.point, func(t *testing.T) {
			onBackends(t, func(t *testing.T, dbURL string) {
				ctx := context.Background()
				blobs := newHookedBlobs(t)
				e := newEnvAt(t, dbURL, blobs, completeWait(-1))
				m0 := scrape(t, e)
				relID := e.draft("1.0.0")
				c, content := e.readyUpload(relID, "tool.bin", 41, 7<<20)
				e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)

				blobs.hooks(tc.finish, tc.before, tc.afterwards)
				js, err := e.store.ClaimJobs(ctx, "dying-worker", []string{"verify-upload"}, 1, time.Minute, e.clock.Now())
				if err != nil || len(js) != 1 {
					t.Fatalf("claiming the verify-upload job: %v, %v", js, err)
				}
				if err := e.srv.HandleJob(ctx, js[0]); !errors.Is(err, tc.err) {
					t.Fatalf("the handler returned %v, want %v", err, tc.err)
				}
				blobs.hooks(nil, nil, nil)
				e.clock.Add(2 * time.Minute) // past the dead worker's lease
				if n, err := e.srv.VerifyUploads(ctx); err != nil || n != tc.attempts-1 {
					t.Fatalf("the next worker ran %d jobs (%v), want %d", n, err, tc.attempts-1)
				}

				a := e.mustComplete(c.Upload.ID)
				if a.SHA256 != sha(content) || e.blobSHA(a.SHA256) != sha(content) {
					t.Errorf("artifact %+v, want the file's SHA-256 and a blob of it", a)
				}
				if got := e.auditActions(a.ID); count(got, "artifact.available") != 1 || count(got, "artifact.failed") != 0 {
					t.Errorf("audit of the artifact: %v, want one artifact.available", got)
				}
				if infos, _, err := blobs.List(ctx, "", 10); err != nil || len(infos) != 1 {
					t.Errorf("blobs: %+v, %v; want exactly one", infos, err)
				}
				if n := blobs.staging(t); n != 0 {
					t.Errorf("%d staging areas left", n)
				}
				if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone || js[0].Attempts != tc.attempts {
					t.Errorf("verify-upload jobs: %+v, want one done at attempt %d", js, tc.attempts)
				}
				wantDelta(t, m0, scrape(t, e), map[string]float64{
					series("freight_uploads_completed_total", "result", "ok"):     1,
					series("freight_uploads_completed_total", "result", "failed"): 0,
				})
			})
		})
	}
}

// TestUploadVerificationRetries: a verification that fails for a reason
// the client cannot fix (the blob store away) is retried with the queue's
// backoff. Once: the second attempt makes the artifact available. Always:
// the last attempt opens the upload again with the reason, which the
// waiting request answers as a conflict, and the job is dead; retried by an
// admin once the fault is gone, it verifies the upload.
func TestUploadVerificationRetries(t *testing.T) {
	away := freight.Errorf(freight.EUNAVAILABLE, "the blob store is away")
	t.Run("Once", func(t *testing.T) {
		onBackends(t, func(t *testing.T, dbURL string) {
			ctx := context.Background()
			blobs := newHookedBlobs(t)
			var fails atomic.Int32
			fails.Store(1)
			blobs.hooks(func(context.Context) error {
				if fails.Add(-1) >= 0 {
					return away
				}
				return nil
			}, nil, nil)
			e := newEnvAt(t, dbURL, blobs, completeWait(-1))
			relID := e.draft("1.0.0")
			c, content := e.readyUpload(relID, "tool.bin", 51, 5<<20)
			e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
			if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 1 {
				t.Fatalf("ran %d jobs: %v", n, err)
			}
			js := e.verifyJobs()
			if len(js) != 1 || js[0].State != freight.JobQueued || js[0].Attempts != 1 || !strings.Contains(js[0].LastError, "away") {
				t.Fatalf("verify-upload jobs after a failure: %+v, want one queued for a retry, with the error", js)
			}
			if up := e.upload(c.Upload.ID); up.State != freight.UploadCompleting {
				t.Errorf("upload while the verification waits for its retry: %s, want completing", up.State)
			}
			e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
			e.clock.Add(time.Minute) // past the backoff after a first failure
			if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 1 {
				t.Fatalf("ran %d jobs: %v", n, err)
			}
			a := e.mustComplete(c.Upload.ID)
			if a.SHA256 != sha(content) {
				t.Errorf("SHA-256 %s, want %s", a.SHA256, sha(content))
			}
			if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone || js[0].Attempts != 2 {
				t.Errorf("verify-upload jobs: %+v, want one done at its second attempt", js)
			}
		})
	})
	t.Run("LastAttempt", func(t *testing.T) {
		onBackends(t, func(t *testing.T, dbURL string) {
			ctx := context.Background()
			blobs := newHookedBlobs(t)
			var down atomic.Bool
			down.Store(true)
			blobs.hooks(func(context.Context) error {
				if down.Load() {
					return away
				}
				return nil
			}, nil, nil)
			e := newEnvAt(t, dbURL, blobs, completeWait(300*time.Millisecond))
			m0 := scrape(t, e)
			relID := e.draft("1.0.0")
			c, content := e.readyUpload(relID, "tool.bin", 61, 5<<20)
			// The first attempt fails while the request waits.
			if r := e.complete(c.Upload.ID); r.status != http.StatusAccepted {
				t.Fatalf("complete while the blob store is away: status %d, want 202; body %s", r.status, r.body)
			}
			js := e.verifyJobs()
			if len(js) != 1 || js[0].Attempts != 1 || js[0].MaxAttempts < 3 {
				t.Fatalf("verify-upload jobs: %+v, want one, after its first attempt", js)
			}
			job := js[0]
			for range job.MaxAttempts - 2 {
				e.clock.Add(2 * time.Hour) // past any backoff
				if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 1 {
					t.Fatalf("ran %d jobs: %v", n, err)
				}
			}
			if up := e.upload(c.Upload.ID); up.State != freight.UploadCompleting {
				t.Fatalf("upload before the last attempt: %s, want completing", up.State)
			}
			// The last attempt runs while a request waits: it answers the
			// upload open again, with the reason.
			e.clock.Add(2 * time.Hour)
			r := e.complete(c.Upload.ID)
			wantError(t, r, http.StatusConflict, freight.ECONFLICT, "")
			if _, msg, _ := r.err(); !strings.Contains(msg, "open again") || !strings.Contains(msg, "could not verify") {
				t.Errorf("the answer after the last attempt says %q, want the upload open again and why", msg)
			}
			up := e.upload(c.Upload.ID)
			if up.State != freight.UploadOpen || !strings.Contains(up.Error, "could not verify") {
				t.Errorf("upload after the last attempt: %s (%q), want open with the reason", up.State, up.Error)
			}
			if !up.ExpiresAt.After(e.clock.Now()) {
				t.Errorf("the reopened upload expired at %v, before now %v", up.ExpiresAt, e.clock.Now())
			}
			if a := e.artifact(c.Artifact.ID); a.State != freight.ArtifactUploading {
				t.Errorf("artifact after the last attempt: %s, want uploading", a.State)
			}
			js = e.verifyJobs()
			if len(js) != 1 || js[0].State != freight.JobDead || js[0].Attempts != job.MaxAttempts || !strings.Contains(js[0].LastError, "away") {
				t.Fatalf("verify-upload jobs after the last attempt: %+v, want the one dead, with its error", js)
			}
			wantDelta(t, m0, scrape(t, e), map[string]float64{
				series("freight_uploads_completed_total", "result", "ok"):     0,
				series("freight_uploads_completed_total", "result", "failed"): 1,
			})

			// The fault gone, an admin retries the job: it verifies the
			// upload, which nobody completed again.
			down.Store(false)
			e.must(http.StatusOK, "POST", "/api/v1/jobs/"+job.ID+"/retry", e.token, nil)
			if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 1 {
				t.Fatalf("ran %d jobs after the retry: %v", n, err)
			}
			if up := e.upload(c.Upload.ID); up.State != freight.UploadCompleted {
				t.Errorf("upload after the admin's retry: %s, want completed", up.State)
			}
			a := e.mustComplete(c.Upload.ID)
			if a.SHA256 != sha(content) {
				t.Errorf("SHA-256 %s, want %s", a.SHA256, sha(content))
			}
			if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone {
				t.Errorf("verify-upload jobs after the admin's retry: %+v, want the one done", js)
			}
			wantDelta(t, m0, scrape(t, e), map[string]float64{
				series("freight_uploads_completed_total", "result", "ok"): 1,
			})
		})
	})
}

// TestUploadVerificationReplaced: a completing upload whose job died
// without settling it gets a new job when the client completes it again;
// the dead job, retried by an admin afterwards, finds the upload another
// job's and does nothing. The file is hashed once.
func TestUploadVerificationReplaced(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		blobs := newHookedBlobs(t)
		e := newEnvAt(t, dbURL, blobs, completeWait(-1))
		relID := e.draft("1.0.0")
		c, _ := e.readyUpload(relID, "tool.bin", 71, 5<<20)
		e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
		// The job dies without running: a worker that crashed on its last
		// attempt is buried so.
		js, err := e.store.ClaimJobs(ctx, "dying-worker", []string{"verify-upload"}, 1, time.Minute, e.clock.Now())
		if err != nil || len(js) != 1 {
			t.Fatalf("claiming the verify-upload job: %v, %v", js, err)
		}
		old := js[0]
		if err := e.store.FailJob(ctx, old.ID, "dying-worker", "the worker stopped answering", time.Time{}, true); err != nil {
			t.Fatal(err)
		}

		e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
		list := e.verifyJobs()
		if len(list) != 2 || list[0].State != freight.JobQueued || list[1].ID != old.ID {
			t.Fatalf("verify-upload jobs: %+v, want a new one queued besides the dead one", list)
		}
		e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
		if n := len(e.verifyJobs()); n != 2 {
			t.Errorf("%d verify-upload jobs after asking again, want still 2", n)
		}
		e.must(http.StatusOK, "POST", "/api/v1/jobs/"+old.ID+"/retry", e.token, nil)
		if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 2 {
			t.Fatalf("ran %d jobs: %v", n, err)
		}
		a := e.mustComplete(c.Upload.ID)
		if got := e.auditActions(a.ID); count(got, "artifact.available") != 1 {
			t.Errorf("audit of the artifact: %v, want one artifact.available", got)
		}
		for _, j := range e.verifyJobs() {
			if j.State != freight.JobDone {
				t.Errorf("job %s: %s, want done", j.ID, j.State)
			}
		}
		if n := blobs.finishes.Load(); n != 1 {
			t.Errorf("the upload was hashed %d times, want once", n)
		}
	})
}

// TestUploadCompletingNotExpired: the janitor leaves alone an upload whose
// verification is queued, however late the job runs (its bytes are all
// there, and the job settles it), but fails one that expired while its
// job, dead, left it completing, and drops its staging area. An artifact
// deleted meanwhile takes its staging area with it, and its job then does
// nothing.
func TestUploadCompletingNotExpired(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		blobs := newHookedBlobs(t)
		e := newEnvAt(t, dbURL, blobs, completeWait(-1))
		relID := e.draft("1.0.0")
		stuck, _ := e.readyUpload(relID, "stuck.bin", 83, 5<<20)
		e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+stuck.Upload.ID+"/complete", e.token, nil)
		js, err := e.store.ClaimJobs(ctx, "dying-worker", []string{"verify-upload"}, 1, time.Minute, e.clock.Now())
		if err != nil || len(js) != 1 {
			t.Fatalf("claiming the verify-upload job: %v, %v", js, err)
		}
		if err := e.store.FailJob(ctx, js[0].ID, "dying-worker", "the worker stopped answering", time.Time{}, true); err != nil {
			t.Fatal(err)
		}
		late, _ := e.readyUpload(relID, "late.bin", 81, 5<<20)
		gone, _ := e.readyUpload(relID, "gone.bin", 82, 5<<20)
		for _, c := range []created{late, gone} {
			e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
		}
		if n, err := e.srv.ExpireUploads(ctx); err != nil || n != 0 {
			t.Errorf("ExpireUploads before the expiry = %d, %v; want nothing expired", n, err)
		}
		e.clock.Add(25 * time.Hour)
		if n, err := e.srv.ExpireUploads(ctx); err != nil || n != 1 {
			t.Errorf("ExpireUploads = %d, %v; want the abandoned upload only", n, err)
		}
		if up := e.upload(stuck.Upload.ID); up.State != freight.UploadFailed || !strings.Contains(up.Error, "expired") {
			t.Errorf("abandoned upload: %s (%q), want failed as expired", up.State, up.Error)
		}
		if a := e.artifact(stuck.Artifact.ID); a.State != freight.ArtifactFailed {
			t.Errorf("artifact of the abandoned upload: %s, want failed", a.State)
		}
		if up := e.upload(late.Upload.ID); up.State != freight.UploadCompleting {
			t.Errorf("upload whose job waits: %s, want completing", up.State)
		}
		e.must(http.StatusNoContent, "DELETE", "/api/v1/artifacts/"+gone.Artifact.ID, e.token, nil)
		if n := blobs.staging(t); n != 1 {
			t.Errorf("%d staging areas after the expiry and the delete, want the late upload's only", n)
		}
		if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 2 {
			t.Fatalf("ran %d jobs: %v", n, err)
		}
		e.mustComplete(late.Upload.ID)
		for _, j := range e.verifyJobs() {
			if j.ID != js[0].ID && (j.State != freight.JobDone || j.Attempts != 1) {
				t.Errorf("job %s: %s after %d attempts, want done after 1", j.ID, j.State, j.Attempts)
			}
		}
		if infos, _, err := blobs.List(ctx, "", 10); err != nil || len(infos) != 1 {
			t.Errorf("blobs: %+v, %v; want the late file's only", infos, err)
		}
		if n := blobs.staging(t); n != 0 {
			t.Errorf("%d staging areas left", n)
		}
	})
}

// TestUploadVerificationTakenOver: a job whose upload another job took over
// while it was hashing (a newer completion, after the store had buried it)
// leaves the upload to that job: it records nothing, completes nothing and
// audits nothing, and ends done.
func TestUploadVerificationTakenOver(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		blobs := newHookedBlobs(t)
		e := newEnvAt(t, dbURL, blobs, completeWait(-1))
		relID := e.draft("1.0.0")
		c, _ := e.readyUpload(relID, "tool.bin", 91, 5<<20)
		e.must(http.StatusAccepted, "POST", "/api/v1/uploads/"+c.Upload.ID+"/complete", e.token, nil)
		newer := freight.NewID(freight.PrefixJob, time.Now())
		blobs.hooks(func(ctx context.Context) error {
			_, err := e.store.UpdateUpload(ctx, c.Upload.ID, func(u *freight.Upload) error {
				u.JobID = newer
				return nil
			})
			return err
		}, nil, nil)
		if n, err := e.srv.VerifyUploads(ctx); err != nil || n != 1 {
			t.Fatalf("ran %d jobs: %v", n, err)
		}
		stored, err := e.store.Upload(ctx, c.Upload.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != freight.UploadCompleting || stored.JobID != newer || stored.Digest != "" {
			t.Errorf("upload after the old job: %s, job %s, digest %q; want completing under the newer job, untouched", stored.State, stored.JobID, stored.Digest)
		}
		if a := e.artifact(c.Artifact.ID); a.State != freight.ArtifactVerifying {
			t.Errorf("artifact after the old job: %s, want verifying", a.State)
		}
		if got := e.auditActions(c.Artifact.ID); count(got, "artifact.available") != 0 {
			t.Errorf("audit of the artifact: %v, want no artifact.available", got)
		}
		if js := e.verifyJobs(); len(js) != 1 || js[0].State != freight.JobDone {
			t.Errorf("verify-upload jobs: %+v, want the old one done", js)
		}
		if n := blobs.staging(t); n != 1 {
			t.Errorf("%d staging areas, want the upload's, left for the newer job", n)
		}
	})
}
