// Package jobs runs the durable background work of the portal: mail,
// upload verification, notifications, webhooks, prefetch and clean-up.
//
// Jobs live in the metadata store (freight.Store's job methods), so a job
// enqueued in the transaction of the change that causes it is never lost:
// both commit or neither does. A Queue claims due jobs of the kinds it has
// handlers for, runs them under a lease that it keeps extending while the
// handler works, and records the outcome. Every replica runs a Queue on the
// same database; a claim hands a job to one worker at a time, and a worker
// that dies loses its lease, after which another worker runs the job again.
// Delivery is therefore at least once: handlers must be idempotent. A
// handler whose effect is a transaction, enqueueing more jobs for
// example, makes itself run once by completing its own job in that
// transaction with CompleteIn.
//
// A failed attempt is retried after an exponential backoff with full
// jitter; after the job's MaxAttempts it is dead and waits for an admin.
// An error wrapped with Permanent makes the job dead at once.
//
// Adding a kind of work is one call:
//
//	q.Handle("webhook", func(ctx context.Context, j *freight.Job) error { … })
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// Handler does the work of one job. It must be idempotent: a job may run
// again after a crash or a lost lease, unless the handler completed it
// with CompleteIn in the transaction of its effects. ctx ends when the
// queue stops and its grace has passed, or when the job's lease was lost.
type Handler func(ctx context.Context, j *freight.Job) error

// Config tunes a Queue. Zero values take the defaults.
type Config struct {
	// Worker names this queue in the jobs it holds; default the host name
	// and a random suffix, unique per process.
	Worker string
	// Concurrency bounds the jobs run at once; default 4.
	Concurrency int
	// PollInterval is how often the queue looks for due jobs when nothing
	// wakes it; default 2s. Enqueue and Notify wake it at once.
	PollInterval time.Duration
	// Lease is how long a claimed job is reserved for this worker; it is
	// extended every third of it while the handler runs. Default 2m.
	Lease time.Duration
	// BaseDelay and MaxDelay shape the backoff between attempts:
	// attempt n waits a random time up to min(MaxDelay, BaseDelay·2^(n-1)).
	// Defaults 5s and 1h.
	BaseDelay, MaxDelay time.Duration
	// StopGrace is how long Run lets running handlers finish after its
	// context ends before it cancels them; default 15s.
	StopGrace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Failed, when set, is called with the kind of each job attempt that
	// fails (not one cut short by a stop), for metrics.
	Failed func(kind string)
}

// Defaults of Config.
const (
	DefaultConcurrency  = 4
	DefaultPollInterval = 2 * time.Second
	DefaultLease        = 2 * time.Minute
	DefaultBaseDelay    = 5 * time.Second
	DefaultMaxDelay     = time.Hour
	DefaultStopGrace    = 15 * time.Second
)

// Queue runs jobs from a store.
type Queue struct {
	store    freight.Store
	logger   *slog.Logger
	cfg      Config
	mu       sync.Mutex
	handlers map[string]Handler
	routine  map[string]bool // kinds whose successes are logged at debug level
	wake     chan struct{}
}

// New returns a Queue on store. Register handlers before Run.
func New(store freight.Store, logger *slog.Logger, cfg Config) *Queue {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Worker == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "worker"
		}
		cfg.Worker = host + "-" + rand.Text()[:8]
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.BaseDelay)
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{store: store, logger: logger, cfg: cfg, handlers: map[string]Handler{}, routine: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Worker returns the name the queue holds jobs under.
func (q *Queue) Worker() string { return q.cfg.Worker }

// Handle registers the handler of a kind. It panics on an invalid kind or
// a second handler for one kind: both are bugs found at start-up.
func (q *Queue) Handle(kind string, h Handler) {
	if !freight.ValidJobKind(kind) {
		panic(fmt.Sprintf("jobs: invalid kind %q", kind))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.handlers[kind]; dup {
		panic(fmt.Sprintf("jobs: a handler for %q is registered already", kind))
	}
	q.handlers[kind] = h
}

// Kinds returns the kinds with a handler, sorted.
// HandleRoutine registers the handler of a kind of routine work, such as
// a periodic sweep: as Handle does, but its successes are logged at debug
// level rather than info. Such work runs every few minutes whether there
// is anything to do or not, and says itself what it did.
func (q *Queue) HandleRoutine(kind string, h Handler) {
	q.Handle(kind, h)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.routine[kind] = true
}

func (q *Queue) Kinds() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]string, 0, len(q.handlers))
	for k := range q.handlers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (q *Queue) handler(kind string) Handler {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.handlers[kind]
}

// Options of one enqueued job.
type Options struct {
	// RunAt delays the first run; zero means now.
	RunAt time.Time
	// MaxAttempts; zero means freight.DefaultJobAttempts.
	MaxAttempts int
}

// Enqueue stores a job of the kind with payload marshalled to JSON (a nil
// payload is {}), on st:
// pass the Store of a transaction to commit the job with the change that
// causes it. It wakes the queue; when st is a transaction that has not
// committed yet, call Notify after the commit for a prompt start.
func (q *Queue) Enqueue(ctx context.Context, st freight.Store, kind string, payload any, o Options) (*freight.Job, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, freight.Internal(fmt.Errorf("jobs: marshal %s payload: %w", kind, err))
	}
	if string(b) == "null" {
		b = []byte("{}")
	}
	if o.RunAt.IsZero() {
		// The queue's clock, not the database's: the claims compare
		// against it.
		o.RunAt = q.cfg.Now()
	}
	j := &freight.Job{Kind: kind, Payload: b, RunAt: o.RunAt, MaxAttempts: o.MaxAttempts}
	if err := st.EnqueueJob(ctx, j); err != nil {
		return nil, err
	}
	q.Notify()
	return j, nil
}

// Notify wakes the queue to look for due jobs now.
func (q *Queue) Notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the job fails for good at once, without
// further attempts: a payload that cannot be read, a message the mail
// server refuses for its content.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	_, ok := errors.AsType[permanent](err)
	return ok
}

// Backoff returns the wait before the attempt after the given failed one:
// a uniformly random duration in [0, min(maxDelay, base·2^(attempt-1))],
// "full jitter", so that jobs that failed together do not retry together.
func Backoff(attempt int, base, maxDelay time.Duration) time.Duration {
	if base <= 0 || maxDelay <= 0 {
		return 0
	}
	ceiling := maxDelay
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 62 {
		if d := base << (attempt - 1); d > 0 && d/base == 1<<(attempt-1) && d < maxDelay {
			ceiling = d
		}
	}
	return time.Duration(mathrand.Int64N(int64(ceiling) + 1))
}

// Run claims and runs jobs until ctx ends. It then stops claiming, lets
// running handlers finish for the grace period, cancels the rest and gives
// their jobs back to the queue untried. It returns nil after a stop
// brought about by ctx.
func (q *Queue) Run(ctx context.Context) error {
	kinds := q.Kinds()
	if len(kinds) == 0 {
		return errors.New("jobs: no handler registered")
	}
	// Handlers run on their own context, so that a stop can give them
	// the grace period before it cancels them.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, q.cfg.Concurrency)
	var wg sync.WaitGroup
	done := make(chan struct{}, q.cfg.Concurrency)
	q.logger.InfoContext(ctx, "job worker started", "worker", q.cfg.Worker, "kinds", kinds, "concurrency", q.cfg.Concurrency)
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			q.stop(&wg, cancelWork)
			return nil
		case <-poll.C:
		case <-q.wake:
		case <-done:
		}
		for {
			free := cap(slots) - len(slots)
			if free == 0 {
				break
			}
			js, err := q.store.ClaimJobs(ctx, q.cfg.Worker, kinds, free, q.cfg.Lease, q.cfg.Now())
			if err != nil {
				if ctx.Err() == nil {
					q.logger.ErrorContext(ctx, "claiming jobs", "err", err)
				}
				break
			}
			for _, j := range js {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						select {
						case done <- struct{}{}:
						default:
						}
					}()
					q.run(work, j)
				})
			}
			if len(js) < free {
				break
			}
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
		poll.Reset(q.cfg.PollInterval)
	}
}

// stop waits for running handlers for the grace period, then cancels them
// and waits for them to return.
func (q *Queue) stop(wg *sync.WaitGroup, cancelWork context.CancelFunc) {
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(q.cfg.StopGrace):
		cancelWork()
		<-finished
	}
	q.logger.Info("job worker stopped", "worker", q.cfg.Worker)
}

// RunDue runs every due job of the registered kinds, one at a time in the
// calling goroutine, until none is left, and returns how many attempts it
// made. It is for tests and tools that want the queue's effects now; a
// job whose retry is due later is left for later.
func (q *Queue) RunDue(ctx context.Context) (int, error) {
	kinds := q.Kinds()
	if len(kinds) == 0 {
		return 0, nil
	}
	n := 0
	for {
		js, err := q.store.ClaimJobs(ctx, q.cfg.Worker, kinds, q.cfg.Concurrency, q.cfg.Lease, q.cfg.Now())
		if err != nil {
			return n, err
		}
		if len(js) == 0 {
			return n, nil
		}
		for _, j := range js {
			q.run(ctx, j)
			n++
		}
	}
}

// run runs one claimed job and records the outcome.
func (q *Queue) run(ctx context.Context, j *freight.Job) {
	log := q.logger.With("job", j.ID, "kind", j.Kind, "attempt", j.Attempts, "max_attempts", j.MaxAttempts)
	doneLevel := slog.LevelInfo
	q.mu.Lock()
	if q.routine[j.Kind] {
		doneLevel = slog.LevelDebug
	}
	q.mu.Unlock()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &attempt{id: j.ID}
	hctx = withAttempt(hctx, a)
	// Keep the lease while the handler works; losing it means another
	// worker may run the job, so this one stops.
	leaseLost := make(chan struct{})
	stopRenew := make(chan struct{})
	var renew sync.WaitGroup
	renew.Go(func() {
		t := time.NewTicker(q.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stopRenew:
				return
			case <-t.C:
				err := q.store.ExtendJob(hctx, j.ID, q.cfg.Worker, q.cfg.Now().Add(q.cfg.Lease))
				if freight.ErrorCode(err) == freight.ECONFLICT && q.doneIn(hctx, a, j) {
					return // the handler completed the job; there is no lease left to keep
				}
				if freight.ErrorCode(err) == freight.ECONFLICT || freight.ErrorCode(err) == freight.ENOTFOUND {
					log.Warn("job lease lost; stopping the handler")
					close(leaseLost)
					cancel()
					return
				} else if err != nil && hctx.Err() == nil {
					log.Error("extending the job lease", "err", err)
				}
			}
		}
	})
	start := time.Now()
	err := q.call(hctx, j)
	close(stopRenew)
	renew.Wait()

	// Record the outcome even when the work context ended.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	select {
	case <-leaseLost:
		return // the job is another worker's now
	default:
	}
	if q.doneIn(rctx, a, j) {
		// The handler's transaction completed the job with its effects:
		// recording an outcome now would fail, and a retry would repeat
		// the effects.
		if err != nil {
			log.Warn("job done in its handler's transaction; the handler's later error is not retried", "err", err)
		} else {
			log.Log(rctx, doneLevel, "job done", "duration", time.Since(start).Round(time.Millisecond))
		}
		return
	}
	var rerr error
	switch {
	case err == nil:
		rerr = q.store.CompleteJob(rctx, j.ID, q.cfg.Worker, q.cfg.Now())
		if rerr == nil {
			log.Log(rctx, doneLevel, "job done", "duration", time.Since(start).Round(time.Millisecond))
		}
	case ctx.Err() != nil && !IsPermanent(err):
		// The queue is stopping: the job did not fail, it was cut short.
		rerr = q.store.ReleaseJob(rctx, j.ID, q.cfg.Worker)
		log.Info("job given back at stop")
	default:
		dead := IsPermanent(err) || j.Attempts >= j.MaxAttempts
		retryAt := time.Time{}
		if !dead {
			retryAt = q.cfg.Now().Add(Backoff(j.Attempts, q.cfg.BaseDelay, q.cfg.MaxDelay))
		}
		rerr = q.store.FailJob(rctx, j.ID, q.cfg.Worker, err.Error(), retryAt, dead)
		if q.cfg.Failed != nil {
			q.cfg.Failed(j.Kind)
		}
		if dead {
			log.Error("job dead", "err", err)
		} else {
			log.Warn("job failed; will retry", "err", err, "retry_at", retryAt)
		}
	}
	if rerr != nil {
		log.Error("recording the job's outcome", "err", rerr)
	}
}

// call runs the handler, turning a panic into an error.
func (q *Queue) call(ctx context.Context, j *freight.Job) (err error) {
	h := q.handler(j.Kind)
	if h == nil {
		return Permanent(fmt.Errorf("no handler for jobs of kind %q", j.Kind))
	}
	defer func() {
		if p := recover(); p != nil {
			q.logger.Error("job handler panicked", "job", j.ID, "kind", j.Kind, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("the handler panicked: %v", p)
		}
	}()
	return h(ctx, j)
}
