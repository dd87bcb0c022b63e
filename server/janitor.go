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

// RunJanitor expires abandoned uploads, prunes ended sessions and old done
// jobs every interval, and collects garbage blobs every gcInterval, until
// ctx ends. Several replicas may run it at once: every step is idempotent
// or guarded by a row lock.
func (s *Server) RunJanitor(ctx context.Context, interval, gcInterval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastGC := time.Time{}
	for {
		if n, err := s.ExpireUploads(ctx); err != nil {
			s.logger.ErrorContext(ctx, "expiring uploads", "err", err)
		} else if n > 0 {
			s.logger.InfoContext(ctx, "expired uploads", "count", n)
		}
		// Sessions past their absolute end are dead already; drop the rows.
		if n, err := s.store.PruneSessions(ctx, s.now()); err != nil {
			s.logger.ErrorContext(ctx, "pruning sessions", "err", err)
		} else if n > 0 {
			s.logger.InfoContext(ctx, "pruned expired sessions", "count", n)
		}
		// Done jobs are kept a while for people looking into what happened,
		// then dropped; dead ones stay until an admin retries them.
		if n, err := s.store.PruneJobs(ctx, s.now().Add(-doneJobRetention)); err != nil {
			s.logger.ErrorContext(ctx, "pruning done jobs", "err", err)
		} else if n > 0 {
			s.logger.InfoContext(ctx, "pruned done jobs", "count", n)
		}
		if time.Since(lastGC) >= gcInterval {
			lastGC = time.Now()
			if n, err := s.CollectGarbage(ctx, gcGrace); err != nil {
				s.logger.ErrorContext(ctx, "collecting garbage blobs", "err", err)
			} else if n > 0 {
				s.logger.InfoContext(ctx, "deleted unreferenced blobs", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
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
