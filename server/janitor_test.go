package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
)

// sweepJobs returns the jobs of the kind, newest first, as the admin API
// lists them.
func (e *env) sweepJobs(token, kind string) []freight.Job {
	e.t.Helper()
	var list struct{ Items []freight.Job }
	e.must(http.StatusOK, "GET", "/api/v1/jobs?kind="+kind+"&limit=100", token, nil).decode(e.t, &list)
	return list.Items
}

// TestSweepJobsAcrossReplicas: two servers on one database enqueue each
// sweep's job once per interval between them, whether they tick one after
// the other or at the same moment, and the blob collection once per
// gc interval. A claimed interval stays claimed after its job ran; a sweep
// whose job is still pending gets no second one.
func TestSweepJobsAcrossReplicas(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		rs := newReplicas(t, dbURL, 2)
		ctx := context.Background()
		a, b := rs.envs[0], rs.envs[1]
		want := map[string]int{} // the jobs of each kind so far
		enqueued := func(got []string, kinds []string, when string) {
			t.Helper()
			slices.Sort(got)
			sorted := slices.Sorted(slices.Values(kinds))
			if !slices.Equal(got, sorted) {
				t.Errorf("%s: the replicas enqueued %v, want each of %v once", when, got, sorted)
			}
			for _, k := range got {
				want[k]++
			}
		}
		// both ticks the two replicas at once and returns what they
		// enqueued together.
		both := func() []string {
			var mu sync.Mutex
			var got []string
			var wg sync.WaitGroup
			for _, e := range rs.envs {
				wg.Go(func() {
					kinds := e.srv.Sweep(ctx, time.Minute, time.Hour)
					mu.Lock()
					got = append(got, kinds...)
					mu.Unlock()
				})
			}
			wg.Wait()
			return got
		}
		all, minutely := server.SweepKinds, server.SweepKinds[:5]
		if server.SweepKinds[5] != server.SweepBlobs {
			t.Fatalf("SweepKinds = %v, want the blob collection last", server.SweepKinds)
		}

		enqueued(b.srv.Sweep(ctx, time.Minute, time.Hour), all, "first tick")
		b.srv.Wait()
		// The jobs ran and are done, yet the interval is claimed.
		enqueued(a.srv.Sweep(ctx, time.Minute, time.Hour), nil, "the other replica in the same interval")
		enqueued(both(), nil, "both again in the same interval")

		for i := range 3 {
			rs.clock.Add(time.Minute)
			enqueued(both(), minutely, "both a minute later")
			enqueued(both(), nil, "both again in that minute")
			rs.envs[i%2].srv.Wait()
		}

		// Not run, the jobs of a minute ago keep their sweeps pending.
		rs.clock.Add(time.Minute)
		enqueued(both(), minutely, "both a minute later")
		rs.clock.Add(time.Minute)
		enqueued(both(), nil, "a minute later while the last jobs wait")
		a.srv.Wait()
		rs.clock.Add(time.Minute)
		enqueued(both(), minutely, "a minute after they ran")
		a.srv.Wait()

		rs.clock.Add(time.Hour)
		enqueued(both(), all, "an hour later")
		b.srv.Wait()

		for _, k := range all {
			js := a.sweepJobs(rs.token, k)
			if len(js) != want[k] {
				t.Errorf("%d jobs of kind %s listed, want %d", len(js), k, want[k])
			}
			for _, j := range js {
				if j.State != freight.JobDone || j.Attempts != 1 {
					t.Errorf("job %s of kind %s: %s after %d attempts, want done after one", j.ID, k, j.State, j.Attempts)
				}
			}
		}
		if want[server.SweepBlobs] != 2 || want[server.SweepUploads] != 7 {
			t.Errorf("jobs enqueued: %v, want 7 of each sweep and 2 blob collections", want)
		}
	})
}

// TestSweepJobsDoTheWork: run by the job queue, the sweep jobs abort an
// upload whose time ran out and delete a blob that no artifact names, and
// are listed as done.
func TestSweepJobsDoTheWork(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvAt(t, dbURL, blobs)
		ctx := context.Background()
		relID := e.draft("1.0.0")

		// An uploaded file whose artifact is deleted leaves its blob.
		data := fileOf(21, 5<<20)
		c := e.startUpload(relID, "gone.bin", data, sha(data))
		e.sendAll(e.partURLs(c.Upload.ID), data)
		e.mustComplete(c.Upload.ID)
		e.must(http.StatusNoContent, "DELETE", "/api/v1/artifacts/"+c.Artifact.ID, e.token, nil)
		if _, err := blobs.Stat(ctx, sha(data)); err != nil {
			t.Fatalf("Stat of the uploaded blob: %v", err)
		}
		// An upload nobody finishes.
		slow := e.startUpload(relID, "slow.bin", fileOf(22, 5<<20), "")

		// Past the upload's expiry and the collection's grace.
		e.clock.Add(25 * time.Hour)
		if got := e.srv.Sweep(ctx, time.Minute, time.Hour); !slices.Equal(got, server.SweepKinds) {
			t.Fatalf("Sweep enqueued %v, want %v", got, server.SweepKinds)
		}
		// Enqueued, nothing is swept yet: the queue does the work.
		if _, err := blobs.Stat(ctx, sha(data)); err != nil {
			t.Fatalf("the blob went before the queue ran: %v", err)
		}
		e.srv.Wait()

		var a freight.Artifact
		e.must(http.StatusOK, "GET", "/api/v1/artifacts/"+slow.Artifact.ID, e.token, nil).decode(t, &a)
		if a.State != freight.ArtifactFailed || !strings.Contains(a.Error, "expired") {
			t.Errorf("artifact of the expired upload: %s (%q), want failed as expired", a.State, a.Error)
		}
		var up freight.Upload
		e.must(http.StatusOK, "GET", "/api/v1/uploads/"+slow.Upload.ID, e.token, nil).decode(t, &up)
		if up.State == freight.UploadOpen {
			t.Errorf("the expired upload is still open")
		}
		if _, err := blobs.Stat(ctx, sha(data)); freight.ErrorCode(err) != freight.ENOTFOUND {
			t.Errorf("Stat of the unreferenced blob after the collection: %v, want not found", err)
		}
		for _, k := range []string{server.SweepUploads, server.SweepBlobs} {
			js := e.sweepJobs(e.token, k)
			if len(js) != 1 || js[0].State != freight.JobDone {
				t.Errorf("jobs of kind %s: %+v, want one done", k, js)
			}
		}
		if !strings.Contains(e.logs.String(), "deleted unreferenced blobs") {
			t.Error("the collection did not log what it deleted")
		}

		// Run again, a sweep finds nothing left to do and succeeds.
		e.clock.Add(time.Hour)
		e.srv.Sweep(ctx, time.Minute, time.Hour)
		e.srv.Wait()
		if js := e.sweepJobs(e.token, server.SweepBlobs); len(js) != 2 || js[0].State != freight.JobDone {
			t.Errorf("jobs of kind %s after a second collection: %+v, want two done", server.SweepBlobs, js)
		}

		// A day on, the sweeps' done jobs are pruned but for the latest
		// ones; the other done jobs stay a week.
		e.clock.Add(25 * time.Hour)
		e.srv.Sweep(ctx, time.Minute, time.Hour)
		e.srv.Wait()
		for _, k := range server.SweepKinds {
			if js := e.sweepJobs(e.token, k); len(js) != 1 || js[0].State != freight.JobDone || !js[0].UpdatedAt.Equal(e.clock.Now()) {
				t.Errorf("jobs of kind %s a day later: %+v, want only the one just done", k, js)
			}
		}
	})
}

// TestSweepJobFailure: a sweep that fails is a job listed with its error
// and retried with the queue's backoff; no second job of its kind is
// enqueued while it retries, and it completes once the fault is gone.
func TestSweepJobFailure(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		fsb, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		blobs := &failingBlobs{BlobStore: fsb}
		e := newEnvAt(t, dbURL, blobs)
		ctx := context.Background()
		blobs.down.Store(true)
		e.srv.Sweep(ctx, time.Minute, time.Hour)
		e.srv.Wait()

		js := e.sweepJobs(e.token, server.SweepBlobs)
		if len(js) != 1 {
			t.Fatalf("jobs of kind %s: %+v, want one", server.SweepBlobs, js)
		}
		j := js[0]
		if j.State != freight.JobQueued || j.Attempts != 1 || !strings.Contains(j.LastError, "blob store offline") ||
			!j.RunAt.After(e.clock.Now().Add(-time.Second)) || j.MaxAttempts <= 1 {
			t.Errorf("failed collection: %+v, want queued for a retry after one attempt, with the error", j)
		}
		if js := e.sweepJobs(e.token, server.SweepUploads); len(js) != 1 || js[0].State != freight.JobDone {
			t.Errorf("the other sweeps: %+v, want done: one failing sweep holds up no other", js)
		}

		// The next gc interval: the retrying job stands for the sweep.
		e.clock.Add(time.Hour)
		if got := e.srv.Sweep(ctx, time.Minute, time.Hour); slices.Contains(got, server.SweepBlobs) {
			t.Errorf("Sweep enqueued %v while the failed collection waits for its retry", got)
		}
		blobs.down.Store(false)
		e.srv.Wait() // the retry is due: the backoff after a first failure is at most seconds
		js = e.sweepJobs(e.token, server.SweepBlobs)
		if len(js) != 1 || js[0].ID != j.ID || js[0].State != freight.JobDone || js[0].Attempts != 2 {
			t.Errorf("jobs of kind %s after the fault: %+v, want the same job done at its second attempt", server.SweepBlobs, js)
		}
	})
}
