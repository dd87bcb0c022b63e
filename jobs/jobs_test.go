package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/jobs"
	"github.com/freight-portal/freight/sqlstore"
)

// backends runs fn on SQLite and, when configured, on PostgreSQL. fn gets
// the URL of a fresh migrated database.
func backends(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("SQLite", func(t *testing.T) {
		url := testdb.SQLite(t)
		openStore(t, url)
		fn(t, url)
	})
	t.Run("Postgres", func(t *testing.T) {
		url := testdb.Postgres(t)
		openStore(t, url)
		fn(t, url)
	})
}

// openStore opens and migrates url, closed when the test ends. Each call
// is a separate connection pool, as a separate replica has.
func openStore(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SealWith(testdb.SealKeys(t))
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// fast is a configuration that retries quickly.
func fast(worker string) jobs.Config {
	return jobs.Config{Worker: worker, PollInterval: 20 * time.Millisecond, BaseDelay: 5 * time.Millisecond,
		MaxDelay: 20 * time.Millisecond, Lease: 10 * time.Second, StopGrace: 2 * time.Second}
}

// start runs q until the test ends, and fails the test if Run fails.
func start(t *testing.T, q *jobs.Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitState waits until the job is in the state, or fails the test.
func waitState(t *testing.T, s freight.Store, id string, want freight.JobState) *freight.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := s.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s after 10s (attempts %d, error %q), want %s", id, j.State, j.Attempts, j.LastError, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBackoff(t *testing.T) {
	base, maxDelay := time.Second, time.Minute
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{6, 32 * time.Second}, {7, time.Minute}, {40, time.Minute}, {63, time.Minute}, {1000, time.Minute},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := jobs.Backoff(tc.attempt, base, maxDelay)
			if d < 0 || d > tc.ceiling {
				t.Fatalf("Backoff(%d) = %v, want within [0, %v]", tc.attempt, d, tc.ceiling)
			}
			seen[d] = true
		}
		// Full jitter: the waits spread out instead of marching together.
		if len(seen) < 150 {
			t.Errorf("Backoff(%d) gave %d distinct waits in 200 draws, want them spread", tc.attempt, len(seen))
		}
	}
	if d := jobs.Backoff(3, 0, time.Minute); d != 0 {
		t.Errorf("Backoff with no base = %v, want 0", d)
	}
}

func TestHandleRejectsBugs(t *testing.T) {
	q := jobs.New(nil, nil, jobs.Config{})
	q.Handle("mail", func(context.Context, *freight.Job) error { return nil })
	for name, kind := range map[string]string{"Duplicate": "mail", "Invalid": "Mail!"} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", kind)
				}
			}()
			q.Handle(kind, func(context.Context, *freight.Job) error { return nil })
		})
	}
	if err := jobs.New(nil, nil, jobs.Config{}).Run(t.Context()); err == nil {
		t.Error("Run without handlers = nil, want an error")
	}
}

// A flaky handler fails twice and then succeeds: three attempts, done, and
// the payload reaches the handler every time.
func TestFlakyHandlerRetries(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		q := jobs.New(s, testLogger(t), fast("w1"))
		var calls atomic.Int32
		q.Handle("flaky", func(ctx context.Context, j *freight.Job) error {
			var p struct{ N int }
			if err := json.Unmarshal(j.Payload, &p); err != nil || p.N != 42 {
				return jobs.Permanent(fmt.Errorf("payload %s", j.Payload))
			}
			if calls.Add(1) < 3 {
				return errors.New("upstream answered 503")
			}
			return nil
		})
		start(t, q)
		j, err := q.Enqueue(t.Context(), s, "flaky", map[string]int{"N": 42}, jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := waitState(t, s, j.ID, freight.JobDone)
		if got.Attempts != 3 || calls.Load() != 3 {
			t.Errorf("attempts %d, calls %d; want 3 and 3", got.Attempts, calls.Load())
		}
		if got.LastError != "upstream answered 503" {
			t.Errorf("LastError = %q, want the last failure's message", got.LastError)
		}
	})
}

// A job that always fails is dead after MaxAttempts; an admin's retry
// runs it again with fresh attempts. A permanent error and a panic are
// failures too, the first one final at once.
func TestDeadAfterMaxAttempts(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		q := jobs.New(s, testLogger(t), fast("w1"))
		var fails, perms, panics atomic.Int32
		fixed := atomic.Bool{}
		q.Handle("always-fails", func(ctx context.Context, j *freight.Job) error {
			if fixed.Load() {
				return nil
			}
			fails.Add(1)
			return errors.New("connection refused")
		})
		q.Handle("bad-payload", func(ctx context.Context, j *freight.Job) error {
			perms.Add(1)
			return jobs.Permanent(errors.New("the payload names no recipient"))
		})
		q.Handle("panics", func(ctx context.Context, j *freight.Job) error {
			panics.Add(1)
			panic("nil map")
		})
		start(t, q)
		a, _ := q.Enqueue(t.Context(), s, "always-fails", nil, jobs.Options{MaxAttempts: 4})
		b, _ := q.Enqueue(t.Context(), s, "bad-payload", nil, jobs.Options{MaxAttempts: 4})
		c, _ := q.Enqueue(t.Context(), s, "panics", nil, jobs.Options{MaxAttempts: 2})
		if got := waitState(t, s, a.ID, freight.JobDead); got.Attempts != 4 || fails.Load() != 4 || got.LastError != "connection refused" {
			t.Errorf("dead job: attempts %d, calls %d, error %q", got.Attempts, fails.Load(), got.LastError)
		}
		if got := waitState(t, s, b.ID, freight.JobDead); got.Attempts != 1 || perms.Load() != 1 {
			t.Errorf("permanent failure: attempts %d, calls %d; want 1 and 1", got.Attempts, perms.Load())
		}
		if got := waitState(t, s, c.ID, freight.JobDead); got.Attempts != 2 || panics.Load() != 2 || !strings.Contains(got.LastError, "panicked: nil map") {
			t.Errorf("panicking job: attempts %d, calls %d, error %q", got.Attempts, panics.Load(), got.LastError)
		}
		fixed.Store(true)
		if _, err := s.RetryJob(t.Context(), a.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		q.Notify()
		if got := waitState(t, s, a.ID, freight.JobDone); got.Attempts != 1 {
			t.Errorf("retried job: attempts %d, want 1", got.Attempts)
		}
	})
}

// A worker that crashed holding a job keeps it only until its lease ends;
// then a live worker runs it.
func TestCrashedWorkerLeaseExpires(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		j := &freight.Job{Kind: "mail"}
		if err := s.EnqueueJob(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		// The crashed worker claimed it with a short lease and vanished.
		claimed, err := s.ClaimJobs(t.Context(), "crashed", []string{"mail"}, 1, 300*time.Millisecond, time.Now().Add(time.Second))
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		leaseEnd := *claimed[0].LockedUntil
		q := jobs.New(s, testLogger(t), fast("live"))
		var ranAt atomic.Int64
		q.Handle("mail", func(ctx context.Context, j *freight.Job) error {
			ranAt.Store(time.Now().UnixNano())
			return nil
		})
		start(t, q)
		got := waitState(t, s, j.ID, freight.JobDone)
		if got.Attempts != 2 {
			t.Errorf("attempts %d, want 2: the crashed one and the live one", got.Attempts)
		}
		if at := time.Unix(0, ranAt.Load()); at.Before(leaseEnd) {
			t.Errorf("the live worker ran the job at %v, before the crashed worker's lease ended at %v", at, leaseEnd)
		}
		if err := s.CompleteJob(t.Context(), j.ID, "crashed", time.Now()); freight.ErrorCode(err) != freight.ECONFLICT {
			t.Errorf("the crashed worker completing late = %v, want ECONFLICT", err)
		}
	})
}

// A handler that runs longer than one lease keeps its job: the queue
// extends the lease, so a second worker never runs the job meanwhile.
func TestLeaseExtendedWhileRunning(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		var calls atomic.Int32
		slow := func(ctx context.Context, j *freight.Job) error {
			calls.Add(1)
			select {
			case <-time.After(2500 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var qs []*jobs.Queue
		for _, w := range []string{"w1", "w2"} {
			cfg := fast(w)
			cfg.Lease = time.Second
			q := jobs.New(openStore(t, url), testLogger(t), cfg)
			q.Handle("slow", slow)
			qs = append(qs, q)
		}
		s := openStore(t, url)
		j, _ := qs[0].Enqueue(t.Context(), s, "slow", nil, jobs.Options{})
		for _, q := range qs {
			start(t, q)
		}
		got := waitState(t, s, j.ID, freight.JobDone)
		if got.Attempts != 1 || calls.Load() != 1 {
			t.Errorf("attempts %d, calls %d; want the job run once", got.Attempts, calls.Load())
		}
	})
}

// Stopping lets a short handler finish and gives a long one's job back
// untried once the grace period is over.
func TestGracefulStop(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		cfg := fast("w1")
		cfg.StopGrace = 300 * time.Millisecond
		q := jobs.New(s, testLogger(t), cfg)
		started := make(chan string, 2)
		q.Handle("short", func(ctx context.Context, j *freight.Job) error {
			started <- j.ID
			time.Sleep(100 * time.Millisecond)
			return nil
		})
		q.Handle("long", func(ctx context.Context, j *freight.Job) error {
			started <- j.ID
			<-ctx.Done()
			return ctx.Err()
		})
		short, _ := q.Enqueue(t.Context(), s, "short", nil, jobs.Options{})
		long, _ := q.Enqueue(t.Context(), s, "long", nil, jobs.Options{})
		stop := start(t, q)
		<-started
		<-started
		begin := time.Now()
		stop()
		if took := time.Since(begin); took < 250*time.Millisecond {
			t.Errorf("stop took %v, want the grace period", took)
		}
		if got := waitState(t, s, short.ID, freight.JobDone); got.Attempts != 1 {
			t.Errorf("short job: %+v", got)
		}
		got := waitState(t, s, long.ID, freight.JobQueued)
		if got.Attempts != 0 || got.LockedBy != "" || got.LastError != "" {
			t.Errorf("long job after stop: attempts %d, locked by %q, error %q; want it given back untried", got.Attempts, got.LockedBy, got.LastError)
		}
	})
}

// Two workers, each with its own connection pool as two replicas have, on
// one database: every job runs exactly once, never two at a time, and
// both workers take part.
func TestTwoWorkersOneDatabase(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		const n = 80
		var mu sync.Mutex
		runs := map[string]int{}
		by := map[string]int{}
		running := map[string]bool{}
		handler := func(worker string) jobs.Handler {
			return func(ctx context.Context, j *freight.Job) error {
				mu.Lock()
				if running[j.ID] {
					t.Errorf("job %s runs twice at once", j.ID)
				}
				running[j.ID] = true
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				running[j.ID] = false
				runs[j.ID]++
				by[worker]++
				mu.Unlock()
				return nil
			}
		}
		s := openStore(t, url)
		var ids []string
		for i := range n {
			j := &freight.Job{Kind: "work", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
			if err := s.EnqueueJob(t.Context(), j); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		for _, w := range []string{"replica-a", "replica-b"} {
			q := jobs.New(openStore(t, url), testLogger(t), fast(w))
			q.Handle("work", handler(w))
			start(t, q)
		}
		for _, id := range ids {
			waitState(t, s, id, freight.JobDone)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if runs[id] != 1 {
				t.Errorf("job %s ran %d times, want once", id, runs[id])
			}
		}
		t.Logf("jobs run per worker: %v", by)
		if len(by) != 2 {
			t.Errorf("jobs ran on %d workers, want both: %v", len(by), by)
		}
	})
}

// RunDue runs what is due now, in the caller's goroutine, and leaves
// later work for later.
func TestRunDue(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		now := time.Now().Add(time.Second)
		cfg := fast("w1")
		cfg.Now = func() time.Time { return now }
		cfg.BaseDelay, cfg.MaxDelay = time.Hour, time.Hour
		q := jobs.New(s, testLogger(t), cfg)
		var got []int
		q.Handle("count", func(ctx context.Context, j *freight.Job) error {
			var p struct{ I int }
			json.Unmarshal(j.Payload, &p)
			got = append(got, p.I)
			if p.I == 2 {
				return errors.New("later")
			}
			return nil
		})
		for i := range 3 {
			if _, err := q.Enqueue(t.Context(), s, "count", map[string]int{"I": i}, jobs.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := q.Enqueue(t.Context(), s, "count", map[string]int{"I": 9}, jobs.Options{RunAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		n, err := q.RunDue(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 || fmt.Sprint(got) != "[0 1 2]" {
			t.Errorf("RunDue ran %d jobs: %v, want 3: [0 1 2] (the failed one waits for its retry)", n, got)
		}
	})
}

// TestRoutineLogsQuietly: a routine kind's successes are logged at debug
// level, other kinds' at info; a routine kind's failures still warn.
func TestRoutineLogsQuietly(t *testing.T) {
	s := openStore(t, testdb.SQLite(t))
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	q := jobs.New(s, logger, fast("w1"))
	fail := true
	q.HandleRoutine("sweep-things", func(ctx context.Context, j *freight.Job) error {
		if fail {
			fail = false
			return errors.New("disk busy")
		}
		return nil
	})
	q.Handle("send-thing", func(ctx context.Context, j *freight.Job) error { return nil })
	for _, kind := range []string{"sweep-things", "send-thing"} {
		if _, err := q.Enqueue(t.Context(), s, kind, nil, jobs.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := q.RunDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // past the retry's backoff
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{
		`level=WARN msg="job failed; will retry"`,
		`level=DEBUG msg="job done" job=`,
		`level=INFO msg="job done" job=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	for line := range strings.Lines(out) {
		if strings.Contains(line, `msg="job done"`) {
			routine := strings.Contains(line, "kind=sweep-things")
			if debug := strings.Contains(line, "level=DEBUG"); debug != routine {
				t.Errorf("a success logged at the wrong level: %s", line)
			}
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
