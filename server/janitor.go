package server

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// Janitor settings.
const (
	// gcGrace spares blobs younger than this from garbage collection: an
	// upload may have just committed one and not yet recorded its artifact.
	// The blob lock already excludes that race; the grace is a second
	// guard that costs nothing.
	gcGrace = time.Hour
)

// doneJobRetention is how long finished jobs stay listed;
// doneSweepRetention is that for the sweeps' jobs.
const (
	doneJobRetention   = 7 * 24 * time.Hour
	doneSweepRetention = 24 * time.Hour
)

// RunJanitor schedules the periodic upkeep every interval until ctx ends:
// expiring abandoned uploads, pruning ended sessions, old done jobs, full
// rate-limit buckets and past quota windows, and, every gcInterval,
// collecting garbage blobs. It does not do the sweeps itself: it enqueues
// each as a durable job (see Sweep), which the job queue of any replica
// runs, retries with its backoff when it fails, and lists in
// GET /api/v1/jobs like any other background work.
//
// Every replica runs it, and each sweep is claimed in the store
// (Store.ClaimSweep) in the transaction that enqueues its job, so that on a
// shared database one replica enqueues each sweep per interval for all: the
// others find it claimed and skip it. If a replica dies between claim and
// commit, neither the claim nor the job is kept, and another replica takes
// the sweep at its next tick.
func (s *Server) RunJanitor(ctx context.Context, interval, gcInterval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s.Sweep(ctx, interval, gcInterval)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep is one kind of periodic upkeep, run as a job of its kind. Every
// sweep is idempotent: it removes what is past its time as of when it runs,
// so a sweep that runs twice, after a lost lease or a retry, or because two
// of its jobs were queued, finds nothing left the second time and has only
// wasted work.
type sweep struct {
	kind string // the job kind, also the name the sweep is claimed under
	gc   bool   // runs every gcInterval rather than every interval
	run  func(ctx context.Context, s *Server) (int, error)
	done string // the log message when it did something
}

// The kinds of the sweep jobs.
const (
	SweepUploads    = "sweep-uploads"
	SweepSessions   = "sweep-sessions"
	SweepJobs       = "sweep-jobs"
	SweepRateLimits = "sweep-ratelimits"
	SweepUsage      = "sweep-usage"
	SweepBlobs      = "gc-blobs"
)

// SweepKinds are the kinds of the sweep jobs, in the order Sweep enqueues
// them.
var SweepKinds = []string{SweepUploads, SweepSessions, SweepJobs, SweepRateLimits, SweepUsage, SweepBlobs}

var sweeps = []sweep{
	{kind: SweepUploads, done: "expired uploads", run: func(ctx context.Context, s *Server) (int, error) { return s.ExpireUploads(ctx) }},
	// Sessions past their absolute end are dead already; drop the rows.
	{kind: SweepSessions, done: "pruned expired sessions", run: func(ctx context.Context, s *Server) (int, error) {
		return s.store.PruneSessions(ctx, s.now())
	}},
	// Done jobs are kept a while for people looking into what happened,
	// then dropped; dead ones stay until an admin retries them. The
	// sweeps' own done jobs, several a minute, go after a day: the recent
	// ones show that the sweeps run.
	{kind: SweepJobs, done: "pruned done jobs", run: func(ctx context.Context, s *Server) (int, error) {
		n, err := s.store.PruneJobs(ctx, s.now().Add(-doneJobRetention))
		if err != nil {
			return n, err
		}
		for _, kind := range SweepKinds {
			m, err := s.store.PruneJobKind(ctx, kind, s.now().Add(-doneSweepRetention))
			if err != nil {
				return n, err
			}
			n += m
		}
		return n, nil
	}},
	// A bucket that filled up again holds nothing.
	{kind: SweepRateLimits, done: "pruned full rate-limit buckets", run: func(ctx context.Context, s *Server) (int, error) {
		if _, ok := s.buckets.(storeBuckets); !ok {
			return 0, nil
		}
		return s.buckets.prune(ctx, s.now())
	}},
	// Usage of past windows: nothing shows or checks it any more.
	{kind: SweepUsage, done: "pruned past quota windows", run: func(ctx context.Context, s *Server) (int, error) {
		n := 0
		for _, p := range freight.QuotaPeriods {
			m, err := s.store.PruneUsage(ctx, p, freight.LimitWindowStart(p, s.now()))
			if err != nil {
				return n, err
			}
			n += m
		}
		return n, nil
	}},
	{kind: SweepBlobs, gc: true, done: "deleted unreferenced blobs", run: func(ctx context.Context, s *Server) (int, error) {
		return s.CollectGarbage(ctx, gcGrace)
	}},
}

// handleSweeps registers the handlers of the sweep jobs on the queue.
func (s *Server) handleSweeps() {
	for _, sw := range sweeps {
		s.jobs.HandleRoutine(sw.kind, func(ctx context.Context, _ *freight.Job) error {
			n, err := sw.run(ctx, s)
			if n > 0 {
				s.logger.InfoContext(ctx, sw.done, "count", n)
			}
			return err
		})
	}
}

// Sweep enqueues, once, the job of every sweep that no replica has claimed
// for the current interval, and returns the kinds of those it enqueued. The
// claim and the job commit in one transaction, or neither does. A claim
// lasts nine tenths of its interval, so that the replica that claimed a
// sweep last time, ticking a little early, can claim it again.
//
// A claimed sweep whose previous job is still queued or running (retrying
// after a failure, or not yet picked up) gets no second job: the pending
// one does the same work, and a sweep that keeps failing does not pile up
// a job per interval.
func (s *Server) Sweep(ctx context.Context, interval, gcInterval time.Duration) []string {
	if mb, ok := s.buckets.(*memBuckets); ok {
		mb.prune(ctx, s.now()) // this process's own buckets: no claim needed
	}
	var queued []string
	for _, sw := range sweeps {
		every := interval
		if sw.gc {
			every = gcInterval
		}
		enqueued := false
		err := s.store.Tx(ctx, func(tx freight.Store) error {
			now := s.now()
			ok, err := tx.ClaimSweep(ctx, sw.kind, s.replica, now, now.Add(max(every*9/10, time.Millisecond)))
			if err != nil || !ok {
				return err
			}
			if pending, err := sweepPending(ctx, tx, sw.kind); err != nil || pending {
				return err
			}
			if _, err := s.jobs.Enqueue(ctx, tx, sw.kind, nil, jobs.Options{}); err != nil {
				return err
			}
			enqueued = true
			return nil
		})
		if err != nil {
			s.logger.ErrorContext(ctx, "scheduling a janitor sweep", "sweep", sw.kind, "err", err)
			continue
		}
		if enqueued {
			queued = append(queued, sw.kind)
		}
	}
	if len(queued) > 0 {
		s.jobs.Notify() // the jobs are committed now
	}
	return queued
}

// sweepPending reports whether a job of the kind is queued or running.
func sweepPending(ctx context.Context, st freight.Store, kind string) (bool, error) {
	for _, state := range []freight.JobState{freight.JobQueued, freight.JobRunning} {
		js, _, err := st.Jobs(ctx, freight.JobFilter{Kind: kind, State: state, Page: freight.Page{Limit: 1}})
		if err != nil || len(js) > 0 {
			return len(js) > 0, err
		}
	}
	return false, nil
}

// ExpireUploads aborts open uploads whose time ran out and marks their
// artifacts failed. It returns how many it aborted.
//
// An upload being verified is left to its job, however late the job runs:
// the bytes are all there. Only one that its job left completing without an
// outcome (the worker died on the last attempt, before it could reopen the
// upload) is failed once it has expired, so that its staging area goes.
func (s *Server) ExpireUploads(ctx context.Context) (int, error) {
	if _, err := s.multipart(); err != nil {
		return 0, nil
	}
	n := 0
	for {
		ups, _, err := s.store.Uploads(ctx, freight.UploadFilter{State: freight.UploadOpen, ExpiredBefore: s.now(), Page: freight.Page{Limit: 100}})
		if err != nil {
			return n, err
		}
		if len(ups) == 0 {
			break
		}
		for _, up := range ups {
			err := s.cancelUpload(ctx, nil, up, "upload expired at "+up.ExpiresAt.Format(time.RFC3339))
			if err != nil && freight.ErrorCode(err) != freight.ECONFLICT {
				return n, err
			}
			n++
		}
	}
	f := freight.UploadFilter{State: freight.UploadCompleting, ExpiredBefore: s.now(), Page: freight.Page{Limit: 100}}
	for {
		ups, next, err := s.store.Uploads(ctx, f)
		if err != nil {
			return n, err
		}
		for _, up := range ups {
			failed, err := s.failAbandoned(ctx, up)
			if err != nil {
				return n, err
			}
			if failed {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		f.After = next
	}
}

// errVerifying leaves an upload to the job that verifies it.
var errVerifying = errors.New("the upload is being verified")

// failAbandoned fails an expired upload that is completing without a live
// job, with its artifact, and drops its staging area. It reports whether it
// did.
func (s *Server) failAbandoned(ctx context.Context, up *freight.Upload) (bool, error) {
	reason := "the verification stopped without an outcome and the upload expired at " + up.ExpiresAt.Format(time.RFC3339) + "; upload the file again"
	err := s.changeAs(ctx, nil, "artifact.failed", "artifact", func(tx freight.Store) (audited, error) {
		if _, err := tx.UpdateUpload(ctx, up.ID, func(u *freight.Upload) error {
			if u.State != freight.UploadCompleting {
				return errVerifying // settled meanwhile
			}
			live, err := verificationLive(ctx, tx, u.JobID)
			if err != nil {
				return err
			}
			if live {
				return errVerifying
			}
			u.State, u.Error = freight.UploadFailed, reason
			return nil
		}); err != nil {
			return audited{}, err
		}
		a, err := tx.UpdateArtifact(ctx, up.ArtifactID, func(a *freight.Artifact) error {
			if a.State != freight.ArtifactAvailable {
				a.State, a.Error = freight.ArtifactFailed, reason
			}
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: a.ID, details: a}, nil
	})
	if errors.Is(err, errVerifying) || freight.ErrorCode(err) == freight.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	mp, err := s.multipart()
	if err != nil {
		return true, err
	}
	return true, mp.AbortUpload(ctx, up.BackendID)
}

// CollectGarbage deletes blobs that no artifact names and that are older
// than grace. Each delete holds the blob's lock, which an upload committing
// the same content takes too, so a blob about to be referenced is never
// deleted. It returns how many blobs it deleted.
func (s *Server) CollectGarbage(ctx context.Context, grace time.Duration) (int, error) {
	if s.blobs == nil {
		return 0, nil
	}
	owner := "gc:" + rand.Text()
	deleted, after := 0, ""
	for {
		infos, next, err := s.blobs.List(ctx, after, 1000)
		if err != nil {
			return deleted, err
		}
		for _, b := range infos {
			if s.now().Sub(b.ModTime) < grace {
				continue
			}
			ok, err := s.collect(ctx, b, owner)
			if err != nil {
				return deleted, err
			}
			if ok {
				deleted++
			}
		}
		if next == "" {
			return deleted, nil
		}
		after = next
	}
}

func (s *Server) collect(ctx context.Context, b freight.BlobInfo, owner string) (bool, error) {
	if used, err := s.store.BlobReferenced(ctx, b.Digest); err != nil || used {
		return false, err
	}
	err := s.store.LockBlob(ctx, b.Digest, owner, s.now().Add(time.Minute))
	if freight.ErrorCode(err) == freight.ECONFLICT {
		return false, nil // an upload is committing it
	} else if err != nil {
		return false, err
	}
	defer s.store.UnlockBlob(context.WithoutCancel(ctx), b.Digest, owner)
	// Check again under the lock: the reference may have landed meanwhile.
	if used, err := s.store.BlobReferenced(ctx, b.Digest); err != nil || used {
		return false, err
	}
	if err := s.blobs.Delete(ctx, b.Digest); err != nil && freight.ErrorCode(err) != freight.ENOTFOUND {
		return false, err
	}
	err = s.changeAs(ctx, nil, "blob.delete", "blob", func(freight.Store) (audited, error) {
		return audited{id: b.Digest, details: map[string]any{"size": b.Size, "reason": "no artifact names it"}}, nil
	})
	return true, err
}
