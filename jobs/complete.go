package jobs

import (
	"context"
	"sync/atomic"

	"github.com/freight-portal/freight"
)

// Completing a job in the transaction of its effects.
//
// Delivery is at least once: a worker that dies after its handler's work
// committed and before the queue recorded the job done leaves the job to
// run again. For a handler whose effect is a transaction of new rows, the
// fan-out of one mail job per person for example, that second run repeats
// every row. CompleteIn closes that gap: the handler marks its own job
// done inside the transaction that makes the effects, so either both
// commit, and no later claim finds the job, or neither does, and the retry
// starts from nothing.

// attempt is what the queue and the handler share about one run of a job.
type attempt struct {
	id string
	// completedIn is set once CompleteIn marked the job done on a
	// transaction. That transaction may still roll back, so the queue
	// asks the store before it trusts it.
	completedIn atomic.Bool
}

type attemptKey struct{}

func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// CompleteIn marks j done on tx, the transaction in which the handler
// makes the job's effects, so that the effects and the completion commit
// together. It keeps the lease: it succeeds only while the worker that
// claimed j (j.LockedBy) still holds it, and otherwise fails with
// ECONFLICT, which the handler returns so that its transaction, and the
// effects in it, roll back; the worker that holds the job now runs it.
//
// The queue then records nothing more for the job: not the handler's
// success, nor an error the handler returns after the commit, nor a stop.
// If the transaction rolls back after all, the queue records the outcome
// as for any other run.
func (q *Queue) CompleteIn(ctx context.Context, tx freight.Store, j *freight.Job) error {
	worker := j.LockedBy
	if worker == "" {
		worker = q.cfg.Worker
	}
	if err := tx.CompleteJob(ctx, j.ID, worker, q.cfg.Now()); err != nil {
		return err
	}
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok && a.id == j.ID {
		a.completedIn.Store(true)
	}
	return nil
}

// doneIn reports whether the handler's CompleteIn of this attempt
// committed: the job is done, and no other worker has claimed it since.
func (q *Queue) doneIn(ctx context.Context, a *attempt, j *freight.Job) bool {
	if !a.completedIn.Load() {
		return false
	}
	cur, err := q.store.Job(ctx, j.ID)
	return err == nil && cur.State == freight.JobDone && cur.Attempts == j.Attempts
}
