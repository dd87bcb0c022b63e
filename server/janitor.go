package server

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/freight-portal/freight"
)

// Janitor settings.
const (
	// gcGrace spares blobs younger than this from garbage collection: an
	// upload may have just committed one and not yet recorded its artifact.
	// The blob lock already excludes that race; the grace is a second
	// guard that costs nothing.
	gcGrace = time.Hour
)

// doneJobRetention is how long finished jobs stay listed.
const doneJobRetention = 7 * 24 * time.Hour

// RunJanitor runs the periodic upkeep every interval until ctx ends:
// expiring abandoned uploads, pruning ended sessions, old done jobs, full
// rate-limit buckets and past quota windows, and, every gcInterval,
// collecting garbage blobs. Every replica runs it, and each sweep is
// claimed in the store first (Store.ClaimSweep), so that on a shared
// database one replica does each sweep per interval for all: the others
// find it claimed and skip it. If the replica that claimed a sweep dies,
// another takes it at the next interval; every sweep is idempotent, so a
// sweep that ran twice would only have wasted work.
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

// sweep is one kind of periodic upkeep.
type sweep struct {
	name string
	gc   bool // runs every gcInterval rather than every interval
	run  func(ctx context.Context, s *Server) (int, error)
	done string // the log message when it did something
}

var sweeps = []sweep{
	{name: "uploads", done: "expired uploads", run: func(ctx context.Context, s *Server) (int, error) { return s.ExpireUploads(ctx) }},
	// Sessions past their absolute end are dead already; drop the rows.
	{name: "sessions", done: "pruned expired sessions", run: func(ctx context.Context, s *Server) (int, error) {
		return s.store.PruneSessions(ctx, s.now())
	}},
	// Done jobs are kept a while for people looking into what happened,
	// then dropped; dead ones stay until an admin retries them.
	{name: "jobs", done: "pruned done jobs", run: func(ctx context.Context, s *Server) (int, error) {
		return s.store.PruneJobs(ctx, s.now().Add(-doneJobRetention))
	}},
	// A bucket that filled up again holds nothing.
	{name: "rate-buckets", done: "pruned full rate-limit buckets", run: func(ctx context.Context, s *Server) (int, error) {
		if _, ok := s.buckets.(storeBuckets); !ok {
			return 0, nil
		}
		return s.buckets.prune(ctx, s.now())
	}},
	// Usage of past windows: nothing shows or checks it any more.
	{name: "usage", done: "pruned past quota windows", run: func(ctx context.Context, s *Server) (int, error) {
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
	{name: "gc", gc: true, done: "deleted unreferenced blobs", run: func(ctx context.Context, s *Server) (int, error) {
		return s.CollectGarbage(ctx, gcGrace)
	}},
}

// Sweep runs, once, every sweep that no replica has claimed for the
// current interval, and returns the names of those it ran. A claim lasts
// nine tenths of its interval, so that the replica that ran a sweep last
// time, ticking a little early, can claim it again.
func (s *Server) Sweep(ctx context.Context, interval, gcInterval time.Duration) []string {
	if mb, ok := s.buckets.(*memBuckets); ok {
		mb.prune(ctx, s.now()) // this process's own buckets: no claim needed
	}
	var ran []string
	for _, sw := range sweeps {
		every := interval
		if sw.gc {
			every = gcInterval
		}
		now := s.now()
		ok, err := s.store.ClaimSweep(ctx, sw.name, s.replica, now, now.Add(max(every*9/10, time.Millisecond)))
		if err != nil {
			s.logger.ErrorContext(ctx, "claiming a janitor sweep", "sweep", sw.name, "err", err)
			continue
		}
		if !ok {
			continue
		}
		ran = append(ran, sw.name)
		if n, err := sw.run(ctx, s); err != nil {
			s.logger.ErrorContext(ctx, "janitor sweep failed", "sweep", sw.name, "err", err)
		} else if n > 0 {
			s.logger.InfoContext(ctx, sw.done, "count", n)
		}
	}
	return ran
}

// ExpireUploads aborts open uploads whose time ran out and marks their
// artifacts failed. It returns how many it aborted.
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
			return n, nil
		}
		for _, up := range ups {
			err := s.cancelUpload(ctx, nil, up, "upload expired at "+up.ExpiresAt.Format(time.RFC3339))
			if err != nil && freight.ErrorCode(err) != freight.ECONFLICT {
				return n, err
			}
			n++
		}
	}
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
