package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// logBuffer keeps what a queue logs, for the tests that check it logged
// no error.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func bufferLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, t.Output()), nil)), buf
}

// noErrorLogged fails the test if the queue logged an error.
func noErrorLogged(t *testing.T, logs *logBuffer) {
	t.Helper()
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("the queue logged an error: %s", line)
		}
	}
}

// fanOut is a handler that enqueues three "child" jobs and completes its
// own job in the same transaction, then calls after, whose error it
// returns: a handler, or its worker, that dies after the commit.
func fanOut(q **jobs.Queue, s freight.Store, calls *atomic.Int32, after func(ctx context.Context) error) jobs.Handler {
	return func(ctx context.Context, j *freight.Job) error {
		calls.Add(1)
		err := s.Tx(ctx, func(tx freight.Store) error {
			for range 3 {
				if err := tx.EnqueueJob(ctx, &freight.Job{Kind: "child", Payload: []byte(`{"parent":"` + j.ID + `"}`)}); err != nil {
					return err
				}
			}
			return (*q).CompleteIn(ctx, tx, j)
		})
		if err != nil {
			return err
		}
		return after(ctx)
	}
}

// children counts the jobs a fan-out enqueued.
func children(t *testing.T, s freight.Store) int {
	t.Helper()
	js, _, err := s.Jobs(t.Context(), freight.JobFilter{Kind: "child", Page: freight.Page{Limit: freight.MaxPageSize}})
	if err != nil {
		t.Fatal(err)
	}
	return len(js)
}

// A handler that completes its job in the transaction of its fan-out and
// then fails is not run again: the fan-out exists once, the job is done
// after one attempt with no error, and the queue logs no error for the
// outcome it could no longer record.
func TestCompleteInThenHandlerFails(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		now := time.Now()
		cfg := fast("w1")
		cfg.Now = func() time.Time { return now }
		logger, logs := bufferLogger(t)
		q := jobs.New(s, logger, cfg)
		var calls atomic.Int32
		q.Handle("fanout", fanOut(&q, s, &calls, func(context.Context) error {
			return errors.New("the connection broke after the commit")
		}))
		j, err := q.Enqueue(t.Context(), s, "fanout", nil, jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := q.RunDue(t.Context()); err != nil || n != 1 {
			t.Fatalf("RunDue = %d, %v; want 1 attempt", n, err)
		}
		// Past every backoff and lease: a job left to retry would be due.
		now = now.Add(24 * time.Hour)
		if n, err := q.RunDue(t.Context()); err != nil || n != 0 {
			t.Errorf("RunDue later = %d, %v; want nothing left to run", n, err)
		}
		got, err := s.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != freight.JobDone || got.Attempts != 1 || got.LastError != "" {
			t.Errorf("job: state %s, attempts %d, error %q; want done after 1 attempt with no error", got.State, got.Attempts, got.LastError)
		}
		if calls.Load() != 1 || children(t, s) != 3 {
			t.Errorf("handler ran %d times and fanned out %d jobs; want once and 3", calls.Load(), children(t, s))
		}
		noErrorLogged(t, logs)
	})
}

// A worker that dies after its handler's transaction committed, before
// the queue records anything: the next worker finds the job done once the
// dead worker's lease has ended, and the fan-out is not repeated.
func TestCompleteInThenWorkerDies(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		now := time.Now()
		var calls atomic.Int32
		dead := jobs.New(s, nil, fast("dead"))
		deadHandler := fanOut(&dead, s, &calls, func(context.Context) error { return nil })
		j := &freight.Job{Kind: "fanout", RunAt: now}
		if err := s.EnqueueJob(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.ClaimJobs(t.Context(), "dead", []string{"fanout"}, 1, time.Minute, now)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		// The dead worker ran the handler and stopped there.
		if err := deadHandler(t.Context(), claimed[0]); err != nil {
			t.Fatal(err)
		}

		cfg := fast("live")
		cfg.Now = func() time.Time { return now.Add(time.Hour) } // the dead worker's lease has ended
		logger, logs := bufferLogger(t)
		live := jobs.New(s, logger, cfg)
		live.Handle("fanout", fanOut(&live, s, &calls, func(context.Context) error { return nil }))
		if n, err := live.RunDue(t.Context()); err != nil || n != 0 {
			t.Errorf("RunDue on the live worker = %d, %v; want nothing to run", n, err)
		}
		got, err := s.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != freight.JobDone || got.Attempts != 1 {
			t.Errorf("job: state %s, attempts %d; want done after 1 attempt", got.State, got.Attempts)
		}
		if calls.Load() != 1 || children(t, s) != 3 {
			t.Errorf("handler ran %d times and fanned out %d jobs; want once and 3", calls.Load(), children(t, s))
		}
		noErrorLogged(t, logs)
	})
}

// A queue stopped while the handler waits after its commit: the job stays
// done, nothing is given back to run again, and no error is logged.
func TestCompleteInThenStop(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		cfg := fast("w1")
		cfg.StopGrace = 100 * time.Millisecond
		logger, logs := bufferLogger(t)
		q := jobs.New(s, logger, cfg)
		var calls atomic.Int32
		committed := make(chan struct{})
		q.Handle("fanout", fanOut(&q, s, &calls, func(ctx context.Context) error {
			close(committed)
			<-ctx.Done()
			return ctx.Err()
		}))
		j, err := q.Enqueue(t.Context(), s, "fanout", nil, jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, q)
		<-committed
		stop()
		got, err := s.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != freight.JobDone || got.Attempts != 1 || got.LockedBy != "" {
			t.Errorf("job after stop: state %s, attempts %d, locked by %q; want done after 1 attempt", got.State, got.Attempts, got.LockedBy)
		}
		if calls.Load() != 1 || children(t, s) != 3 {
			t.Errorf("handler ran %d times and fanned out %d jobs; want once and 3", calls.Load(), children(t, s))
		}
		noErrorLogged(t, logs)
	})
}

// A handler whose lease was lost before its transaction ends cannot
// complete the job there: CompleteIn fails with ECONFLICT and the fan-out
// rolls back. The worker that holds the job now fans out once.
func TestCompleteInLostLease(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		q1 := jobs.New(s, testLogger(t), fast("w1"))
		var stolen *freight.Job
		var completeErr error
		q1.Handle("fanout", func(ctx context.Context, j *freight.Job) error {
			// w1 stalls past its lease; w2 takes the job meanwhile.
			js, err := s.ClaimJobs(ctx, "w2", []string{"fanout"}, 1, time.Hour, time.Now().Add(time.Hour))
			if err != nil || len(js) != 1 {
				t.Errorf("w2's claim: %v, %v", js, err)
				return err
			}
			stolen = js[0]
			return s.Tx(ctx, func(tx freight.Store) error {
				for range 3 {
					if err := tx.EnqueueJob(ctx, &freight.Job{Kind: "child"}); err != nil {
						return err
					}
				}
				completeErr = q1.CompleteIn(ctx, tx, j)
				return completeErr
			})
		})
		j, err := q1.Enqueue(t.Context(), s, "fanout", nil, jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := q1.RunDue(t.Context()); err != nil || n != 1 {
			t.Fatalf("RunDue = %d, %v; want 1 attempt", n, err)
		}
		if freight.ErrorCode(completeErr) != freight.ECONFLICT {
			t.Errorf("CompleteIn after the lease was lost = %v, want ECONFLICT", completeErr)
		}
		if n := children(t, s); n != 0 {
			t.Errorf("the fan-out of the worker that lost its lease left %d jobs, want none", n)
		}
		got, err := s.Job(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != freight.JobRunning || got.LockedBy != "w2" {
			t.Fatalf("job: state %s, locked by %q; want running, held by w2", got.State, got.LockedBy)
		}

		// w2, which holds it, completes it with its fan-out.
		var calls atomic.Int32
		q2 := jobs.New(s, testLogger(t), fast("w2"))
		if err := fanOut(&q2, s, &calls, func(context.Context) error { return nil })(t.Context(), stolen); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Job(t.Context(), j.ID); got.State != freight.JobDone || children(t, s) != 3 {
			t.Errorf("after w2's run: job %s, %d child jobs; want done and 3", got.State, children(t, s))
		}
	})
}
