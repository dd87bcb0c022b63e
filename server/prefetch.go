package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// edgePrefetchKind is the job that brings the edges' prefetch rows in
// line with what they should cache (Store.ReconcileEdgePrefetch). Its
// payload is a freight.EdgePrefetchScope: the release, product or edge
// whose change enqueued it.
const edgePrefetchKind = "edge-prefetch"

// prefetchExpiryDelay is how long after the end of the prefetch window
// of what a job added the follow-up job runs: a margin for clocks that
// differ between replicas.
const prefetchExpiryDelay = time.Minute

// queueEdgePrefetch enqueues, on tx, the transaction of the change that
// calls for it, the reconciliation of the prefetch rows that change
// touches: publishing or yanking a release of a product that prefetches,
// turning a product's prefetch_edges on or off, registering an edge.
// Deleting an edge needs none: its rows go with it.
func (s *Server) queueEdgePrefetch(ctx context.Context, tx freight.Store, scope freight.EdgePrefetchScope) error {
	_, err := s.jobs.Enqueue(ctx, tx, edgePrefetchKind, scope, jobs.Options{})
	return err
}

// edgePrefetchJob reconciles the prefetch rows of the job's scope. The
// reconciliation, and the job's completion, commit in one transaction, so
// a run that fails leaves the rows as they were and its retry starts from
// nothing; it is idempotent anyway.
//
// Rows it adds are wanted until their release leaves the prefetch window,
// and no change enqueues a job then: so a job that added rows enqueues,
// in the same transaction, a run of the same scope for when the window
// has passed, which deletes them (and adds nothing, unless something new
// is wanted, in which case it schedules its own follow-up).
func (s *Server) edgePrefetchJob(ctx context.Context, j *freight.Job) error {
	var scope freight.EdgePrefetchScope
	if err := json.Unmarshal(j.Payload, &scope); err != nil {
		return jobs.Permanent(errors.New("the payload is not a prefetch scope"))
	}
	now := s.now()
	var added, deleted int
	err := s.store.Tx(ctx, func(tx freight.Store) error {
		// First, so that a worker whose lease was lost stops before the
		// work: the job is another worker's.
		if err := s.jobs.CompleteIn(ctx, tx, j); err != nil {
			return err
		}
		var err error
		added, deleted, err = tx.ReconcileEdgePrefetch(ctx, scope, now.Add(-s.cfg.PrefetchWindow), now)
		if err != nil {
			return err
		}
		if added > 0 {
			_, err = s.jobs.Enqueue(ctx, tx, edgePrefetchKind, scope, jobs.Options{RunAt: now.Add(s.cfg.PrefetchWindow + prefetchExpiryDelay)})
		}
		return err
	})
	if freight.ErrorCode(err) == freight.EINVALID {
		return jobs.Permanent(err)
	}
	if err != nil {
		return err
	}
	if added > 0 || deleted > 0 {
		s.logger.InfoContext(ctx, "edge prefetch reconciled", "release", scope.ReleaseID, "product", scope.ProductID,
			"edge", scope.EdgeID, "added", added, "deleted", deleted)
	}
	return nil
}
