package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var jobTests = []subtest{
	{"EnqueueGet", testJobEnqueueGet},
	{"Invalid", testJobInvalid},
	{"NotFound", testJobNotFound},
	{"EnqueueInTx", testJobEnqueueInTx},
	{"Claim", testJobClaim},
	{"ClaimInvalid", testJobClaimInvalid},
	{"Complete", testJobComplete},
	{"Fail", testJobFail},
	{"ReleaseExtend", testJobReleaseExtend},
	{"LeaseExpires", testJobLeaseExpires},
	{"LeaseExpiresOnLastAttempt", testJobLeaseExpiresOnLastAttempt},
	{"ListRetryPrune", testJobListRetryPrune},
	{"PruneKind", testJobPruneKind},
	{"ConcurrentClaim", testJobConcurrentClaim},
}

// MustEnqueueJob enqueues j or fails the test.
func MustEnqueueJob(t testing.TB, s freight.Store, j *freight.Job) *freight.Job {
	t.Helper()
	if err := s.EnqueueJob(t.Context(), j); err != nil {
		t.Fatalf("EnqueueJob(%s): %v", j.Kind, err)
	}
	return j
}

// mustClaim claims jobs or fails the test.
func mustClaim(t testing.TB, s freight.Store, worker string, kinds []string, n int, lease time.Duration, now time.Time) []*freight.Job {
	t.Helper()
	js, err := s.ClaimJobs(t.Context(), worker, kinds, n, lease, now)
	if err != nil {
		t.Fatalf("ClaimJobs(%s): %v", worker, err)
	}
	return js
}

func jobIDs(js []*freight.Job) []string {
	return keys(js, func(j *freight.Job) string { return j.ID })
}

func mustJob(t testing.TB, s freight.Store, id string) *freight.Job {
	t.Helper()
	j, err := s.Job(t.Context(), id)
	if err != nil {
		t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

func testJobEnqueueGet(t *testing.T, s freight.Store) {
	before := time.Now().Add(-time.Second)
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", Payload: json.RawMessage(` {"to": "ann@example.com", "n": 1} `)})
	checkCreated(t, "EnqueueJob", freight.PrefixJob, j.ID, j.CreatedAt, &j.UpdatedAt)
	if j.State != freight.JobQueued || j.Attempts != 0 || j.MaxAttempts != freight.DefaultJobAttempts {
		t.Errorf("enqueued: state %q, attempts %d/%d; want queued, 0/%d", j.State, j.Attempts, j.MaxAttempts, freight.DefaultJobAttempts)
	}
	if j.RunAt.Before(before) || j.RunAt.After(time.Now().Add(time.Second)) {
		t.Errorf("RunAt = %v, want now when not set", j.RunAt)
	}
	got := mustJob(t, s, j.ID)
	if d := diff(got, j); len(d) > 0 {
		t.Errorf("Job after EnqueueJob differs:\n%s", strings.Join(d, "\n"))
	}
	if !jsonEqual(got.Payload, []byte(`{"to":"ann@example.com","n":1}`)) {
		t.Errorf("Payload = %s", got.Payload)
	}

	// A caller's RunAt and MaxAttempts are kept; the empty payload is {};
	// fields the queue owns are reset.
	later := ts(time.Hour)
	k := MustEnqueueJob(t, s, &freight.Job{Kind: "gc.blobs", RunAt: later.In(time.FixedZone("X", 3600)), MaxAttempts: 3,
		State: freight.JobDead, Attempts: 7, LockedBy: "someone", LastError: "old"})
	got = mustJob(t, s, k.ID)
	if !got.RunAt.Equal(later) || got.RunAt.Location() != time.UTC || got.MaxAttempts != 3 || string(got.Payload) != "{}" {
		t.Errorf("got RunAt %v, MaxAttempts %d, Payload %s; want %v, 3, {}", got.RunAt, got.MaxAttempts, got.Payload, later)
	}
	if got.State != freight.JobQueued || got.Attempts != 0 || got.LockedBy != "" || got.LockedUntil != nil || got.LastError != "" {
		t.Errorf("enqueue kept fields the queue owns: %+v", got)
	}
}

func testJobInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		j     freight.Job
		field string
	}{
		{"NoKind", freight.Job{}, "kind"},
		{"UpperKind", freight.Job{Kind: "Mail"}, "kind"},
		{"SpaceKind", freight.Job{Kind: "mail x"}, "kind"},
		{"LongKind", freight.Job{Kind: strings.Repeat("k", 65)}, "kind"},
		{"ArrayPayload", freight.Job{Kind: "mail", Payload: json.RawMessage(`[1]`)}, "payload"},
		{"BrokenPayload", freight.Job{Kind: "mail", Payload: json.RawMessage(`{"a":`)}, "payload"},
		{"HugePayload", freight.Job{Kind: "mail", Payload: json.RawMessage(`{"a":"` + strings.Repeat("x", freight.MaxJobPayload) + `"}`)}, "payload"},
		{"NegativeAttempts", freight.Job{Kind: "mail", MaxAttempts: -1}, "max_attempts"},
		{"TooManyAttempts", freight.Job{Kind: "mail", MaxAttempts: freight.MaxJobAttempts + 1}, "max_attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.EnqueueJob(ctx, &tc.j)
			wantCode(t, "EnqueueJob", err, freight.EINVALID)
			if got := freight.ErrorField(err); got != tc.field {
				t.Errorf("field = %q, want %q", got, tc.field)
			}
		})
	}
	wantCode(t, "EnqueueJob(bad id)", s.EnqueueJob(ctx, &freight.Job{ID: "job_1", Kind: "mail"}), freight.EINVALID)
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail"})
	wantCode(t, "EnqueueJob(same id)", s.EnqueueJob(ctx, &freight.Job{ID: j.ID, Kind: "mail"}), freight.ECONFLICT)
	list, _, err := s.Jobs(ctx, freight.JobFilter{})
	noErr(t, "Jobs", err)
	if len(list) != 1 {
		t.Errorf("%d jobs stored, want only the valid one", len(list))
	}
	_, _, err = s.Jobs(ctx, freight.JobFilter{State: "sleeping"})
	wantCode(t, "Jobs(bad state)", err, freight.EINVALID)
	_, _, err = s.Jobs(ctx, freight.JobFilter{Page: freight.Page{After: "nonsense"}})
	wantCode(t, "Jobs(bad cursor)", err, freight.EINVALID)
}

func testJobNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	id := missingID(freight.PrefixJob)
	_, err := s.Job(ctx, id)
	wantCode(t, "Job", err, freight.ENOTFOUND)
	wantCode(t, "CompleteJob", s.CompleteJob(ctx, id, "w", time.Now()), freight.ENOTFOUND)
	wantCode(t, "FailJob", s.FailJob(ctx, id, "w", "x", time.Now(), false), freight.ENOTFOUND)
	wantCode(t, "ReleaseJob", s.ReleaseJob(ctx, id, "w"), freight.ENOTFOUND)
	wantCode(t, "ExtendJob", s.ExtendJob(ctx, id, "w", time.Now()), freight.ENOTFOUND)
	_, err = s.RetryJob(ctx, id, time.Now())
	wantCode(t, "RetryJob", err, freight.ENOTFOUND)
}

// A job enqueued in a transaction exists exactly when the transaction
// commits: the change and its job land together or not at all.
func testJobEnqueueInTx(t *testing.T, s freight.Store) {
	ctx := t.Context()
	var kept, lost string
	err := s.Tx(ctx, func(tx freight.Store) error {
		o := &freight.Organization{Slug: "acme", Name: "Acme"}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		j := &freight.Job{Kind: "welcome", Payload: json.RawMessage(`{"org":"` + o.ID + `"}`)}
		if err := tx.EnqueueJob(ctx, j); err != nil {
			return err
		}
		kept = j.ID
		return nil
	})
	noErr(t, "Tx", err)
	err = s.Tx(ctx, func(tx freight.Store) error {
		o := &freight.Organization{Slug: "globex", Name: "Globex"}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		j := &freight.Job{Kind: "welcome"}
		if err := tx.EnqueueJob(ctx, j); err != nil {
			return err
		}
		lost = j.ID
		return errSentinel
	})
	if !errors.Is(err, errSentinel) {
		t.Fatalf("Tx = %v, want the sentinel", err)
	}
	mustJob(t, s, kept)
	_, err = s.Job(ctx, lost)
	wantCode(t, "Job(rolled back)", err, freight.ENOTFOUND)
	_, err = s.OrganizationBySlug(ctx, "globex")
	wantCode(t, "OrganizationBySlug(rolled back)", err, freight.ENOTFOUND)
}

func testJobClaim(t *testing.T, s freight.Store) {
	now := time.Now().UTC()
	a := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", RunAt: now.Add(-3 * time.Minute)})
	b := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", RunAt: now.Add(-2 * time.Minute)})
	c := MustEnqueueJob(t, s, &freight.Job{Kind: "webhook", RunAt: now.Add(-time.Minute)})
	future := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", RunAt: now.Add(time.Hour)})

	// Kinds filter, limit, oldest due first.
	got := mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now)
	if !slices.Equal(jobIDs(got), []string{a.ID}) {
		t.Fatalf("first claim = %v, want [%s]", jobIDs(got), a.ID)
	}
	j := got[0]
	if j.State != freight.JobRunning || j.Attempts != 1 || j.LockedBy != "w1" || j.LockedUntil == nil ||
		!j.LockedUntil.Equal(now.Truncate(time.Microsecond).Add(time.Minute)) {
		t.Errorf("claimed job: %+v, want running, attempt 1, locked by w1 for a minute", j)
	}
	if d := diff(mustJob(t, s, a.ID), j); len(d) > 0 {
		t.Errorf("stored job differs from the claimed one:\n%s", strings.Join(d, "\n"))
	}
	got = mustClaim(t, s, "w2", []string{"mail", "webhook"}, 10, time.Minute, now)
	if !slices.Equal(jobIDs(got), []string{b.ID, c.ID}) {
		t.Errorf("second claim = %v, want [%s %s]: the held and the future jobs stay", jobIDs(got), b.ID, c.ID)
	}
	if got := mustClaim(t, s, "w3", []string{"mail", "webhook"}, 10, time.Minute, now); len(got) != 0 {
		t.Errorf("third claim = %v, want nothing", jobIDs(got))
	}
	// The future job comes due.
	got = mustClaim(t, s, "w3", []string{"mail"}, 10, time.Minute, now.Add(time.Hour))
	if !slices.Contains(jobIDs(got), future.ID) {
		t.Errorf("claim an hour later = %v, want it to include %s", jobIDs(got), future.ID)
	}
}

func testJobClaimInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	now := time.Now()
	for _, tc := range []struct {
		name   string
		worker string
		kinds  []string
		n      int
		lease  time.Duration
	}{
		{"NoWorker", "", []string{"mail"}, 1, time.Minute},
		{"NoKinds", "w", nil, 1, time.Minute},
		{"BadKind", "w", []string{"mail'; --"}, 1, time.Minute},
		{"ZeroN", "w", []string{"mail"}, 0, time.Minute},
		{"HugeN", "w", []string{"mail"}, freight.MaxPageSize + 1, time.Minute},
		{"NoLease", "w", []string{"mail"}, 1, 0},
	} {
		_, err := s.ClaimJobs(ctx, tc.worker, tc.kinds, tc.n, tc.lease, now)
		wantCode(t, "ClaimJobs/"+tc.name, err, freight.EINVALID)
	}
}

func testJobComplete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second)
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", Payload: json.RawMessage(`{"link":"https://x.example/secret"}`)})
	// Not held yet: nobody may complete it.
	wantCode(t, "CompleteJob(queued)", s.CompleteJob(ctx, j.ID, "w1", now), freight.ECONFLICT)
	mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now)
	wantCode(t, "CompleteJob(other worker)", s.CompleteJob(ctx, j.ID, "w2", now), freight.ECONFLICT)
	noErr(t, "CompleteJob", s.CompleteJob(ctx, j.ID, "w1", now))
	got := mustJob(t, s, j.ID)
	if got.State != freight.JobDone || got.LockedBy != "" || got.LockedUntil != nil || got.Attempts != 1 {
		t.Errorf("completed job: %+v", got)
	}
	if string(got.Payload) != "{}" {
		t.Errorf("a done job keeps its payload %s, want {}: it may hold single-use links", got.Payload)
	}
	wantCode(t, "CompleteJob(twice)", s.CompleteJob(ctx, j.ID, "w1", now), freight.ECONFLICT)
	if got := mustClaim(t, s, "w1", []string{"mail"}, 10, time.Minute, now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("a done job was claimed again: %v", jobIDs(got))
	}
}

func testJobFail(t *testing.T, s freight.Store) {
	ctx := t.Context()
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second).UTC()
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", MaxAttempts: 2})
	mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now)
	wantCode(t, "FailJob(other worker)", s.FailJob(ctx, j.ID, "w2", "boom", now, false), freight.ECONFLICT)
	wantCode(t, "FailJob(no retry time)", s.FailJob(ctx, j.ID, "w1", "boom", time.Time{}, false), freight.EINVALID)
	retry := now.Add(30 * time.Second)
	noErr(t, "FailJob", s.FailJob(ctx, j.ID, "w1", "connection refused", retry, false))
	got := mustJob(t, s, j.ID)
	if got.State != freight.JobQueued || !got.RunAt.Equal(retry.Truncate(time.Microsecond)) || got.LastError != "connection refused" ||
		got.LockedBy != "" || got.LockedUntil != nil || got.Attempts != 1 {
		t.Errorf("failed job: %+v, want queued for %v with the error", got, retry)
	}
	if got := mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now); len(got) != 0 {
		t.Errorf("the job was claimed before its retry time")
	}
	mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, retry)
	long := strings.Repeat("é", 3000)
	noErr(t, "FailJob(dead)", s.FailJob(ctx, j.ID, "w1", long, time.Time{}, true))
	got = mustJob(t, s, j.ID)
	if got.State != freight.JobDead || got.Attempts != 2 || got.LockedBy != "" {
		t.Errorf("dead job: %+v", got)
	}
	if len(got.LastError) > 2100 || !strings.HasPrefix(got.LastError, "éé") || !json.Valid([]byte(fmt.Sprintf("%q", got.LastError))) {
		t.Errorf("a long error is kept as %d bytes; want it cut on a character boundary near 2000", len(got.LastError))
	}
	if got := mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("a dead job was claimed")
	}
}

func testJobReleaseExtend(t *testing.T, s freight.Store) {
	ctx := t.Context()
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second).UTC()
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail"})
	mustClaim(t, s, "w1", []string{"mail"}, 1, time.Minute, now)
	until := now.Add(10 * time.Minute)
	wantCode(t, "ExtendJob(other worker)", s.ExtendJob(ctx, j.ID, "w2", until), freight.ECONFLICT)
	noErr(t, "ExtendJob", s.ExtendJob(ctx, j.ID, "w1", until))
	if got := mustJob(t, s, j.ID); got.LockedUntil == nil || !got.LockedUntil.Equal(until.Truncate(time.Microsecond)) {
		t.Errorf("LockedUntil = %v, want %v", got.LockedUntil, until)
	}
	// The extended lease keeps others off past the first lease's end.
	if got := mustClaim(t, s, "w2", []string{"mail"}, 1, time.Minute, now.Add(5*time.Minute)); len(got) != 0 {
		t.Errorf("a job with an extended lease was claimed by another worker")
	}
	wantCode(t, "ReleaseJob(other worker)", s.ReleaseJob(ctx, j.ID, "w2"), freight.ECONFLICT)
	noErr(t, "ReleaseJob", s.ReleaseJob(ctx, j.ID, "w1"))
	got := mustJob(t, s, j.ID)
	if got.State != freight.JobQueued || got.Attempts != 0 || got.LockedBy != "" || got.LockedUntil != nil {
		t.Errorf("released job: %+v, want queued with the attempt given back", got)
	}
	if got := mustClaim(t, s, "w2", []string{"mail"}, 1, time.Minute, now); len(got) != 1 || got[0].Attempts != 1 {
		t.Errorf("claim after release = %+v, want the job at attempt 1", got)
	}
}

// A worker that dies keeps its jobs only until the lease ends; then another
// worker takes them, and the dead worker can no longer complete them.
func testJobLeaseExpires(t *testing.T, s freight.Store) {
	ctx := t.Context()
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second).UTC()
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail"})
	mustClaim(t, s, "dead-worker", []string{"mail"}, 1, time.Minute, now)
	if got := mustClaim(t, s, "w2", []string{"mail"}, 1, time.Minute, now.Add(59*time.Second)); len(got) != 0 {
		t.Fatalf("a job was claimed while its lease ran")
	}
	got := mustClaim(t, s, "w2", []string{"mail"}, 1, time.Minute, now.Add(time.Minute))
	if len(got) != 1 || got[0].ID != j.ID || got[0].LockedBy != "w2" || got[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, want the job for w2 at attempt 2", got)
	}
	wantCode(t, "CompleteJob(lost lease)", s.CompleteJob(ctx, j.ID, "dead-worker", now), freight.ECONFLICT)
	noErr(t, "CompleteJob", s.CompleteJob(ctx, j.ID, "w2", now))
}

// A job whose worker dies on its last attempt is dead, not claimed again.
func testJobLeaseExpiresOnLastAttempt(t *testing.T, s freight.Store) {
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second).UTC()
	j := MustEnqueueJob(t, s, &freight.Job{Kind: "mail", MaxAttempts: 1})
	other := MustEnqueueJob(t, s, &freight.Job{Kind: "webhook", MaxAttempts: 1})
	mustClaim(t, s, "w1", []string{"mail", "webhook"}, 2, time.Minute, now)
	if got := mustClaim(t, s, "w2", []string{"mail"}, 1, time.Minute, now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("a job past its last attempt was claimed: %+v", got)
	}
	got := mustJob(t, s, j.ID)
	if got.State != freight.JobDead || got.LastError == "" || got.LockedBy != "" {
		t.Errorf("job after its last lease ended: %+v, want dead with a reason", got)
	}
	// The kinds of the claim bound what it touches.
	if got := mustJob(t, s, other.ID); got.State != freight.JobRunning {
		t.Errorf("a job of another kind changed: %+v", got)
	}
}

func testJobListRetryPrune(t *testing.T, s freight.Store) {
	ctx := t.Context()
	// A second ahead: the jobs enqueued below are due by then.
	now := time.Now().Add(time.Second).UTC()
	var all []*freight.Job
	for i := range 5 {
		kind := "mail"
		if i%2 == 1 {
			kind = "webhook"
		}
		all = append(all, MustEnqueueJob(t, s, &freight.Job{Kind: kind, MaxAttempts: 1}))
		settle()
	}
	// all[0] done, all[1] dead, the rest queued.
	mustClaim(t, s, "w", []string{"mail"}, 1, time.Minute, now)
	noErr(t, "CompleteJob", s.CompleteJob(ctx, all[0].ID, "w", now))
	mustClaim(t, s, "w", []string{"webhook"}, 1, time.Minute, now)
	noErr(t, "FailJob", s.FailJob(ctx, all[1].ID, "w", "refused", time.Time{}, true))

	newestFirst := jobIDs(all)
	slices.Reverse(newestFirst)
	for _, limit := range []int{1, 2, 10} {
		var got []string
		for _, p := range collect(t, limit, jobList(t, s, freight.JobFilter{})) {
			got = append(got, jobIDs(p)...)
		}
		if !slices.Equal(got, newestFirst) {
			t.Errorf("Jobs by pages of %d = %v, want newest first %v", limit, got, newestFirst)
		}
	}
	dead := listAll(t, jobList(t, s, freight.JobFilter{State: freight.JobDead}))
	if !slices.Equal(jobIDs(dead), []string{all[1].ID}) || dead[0].LastError != "refused" {
		t.Errorf("dead jobs = %v", jobIDs(dead))
	}
	if got := jobIDs(listAll(t, jobList(t, s, freight.JobFilter{Kind: "webhook", State: freight.JobQueued}))); !slices.Equal(got, []string{all[3].ID}) {
		t.Errorf("queued webhooks = %v, want [%s]", got, all[3].ID)
	}

	// Only a dead job can be retried; it comes back with fresh attempts.
	_, err := s.RetryJob(ctx, all[0].ID, now)
	wantCode(t, "RetryJob(done)", err, freight.ECONFLICT)
	_, err = s.RetryJob(ctx, all[2].ID, now)
	wantCode(t, "RetryJob(queued)", err, freight.ECONFLICT)
	r, err := s.RetryJob(ctx, all[1].ID, now.Add(time.Minute))
	noErr(t, "RetryJob", err)
	if r.State != freight.JobQueued || r.Attempts != 0 || !r.RunAt.Equal(now.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("retried job: %+v", r)
	}
	if d := diff(mustJob(t, s, r.ID), r); len(d) > 0 {
		t.Errorf("stored job differs from RetryJob's answer:\n%s", strings.Join(d, "\n"))
	}
	if got := mustClaim(t, s, "w", []string{"webhook"}, 10, time.Minute, now.Add(time.Minute)); !slices.Contains(jobIDs(got), r.ID) {
		t.Errorf("the retried job was not claimed: %v", jobIDs(got))
	}

	// Prune deletes done jobs only, by their last update.
	n, err := s.PruneJobs(ctx, time.Now().Add(-time.Hour))
	noErr(t, "PruneJobs(old)", err)
	if n != 0 {
		t.Errorf("PruneJobs of an hour ago deleted %d jobs, want 0", n)
	}
	n, err = s.PruneJobs(ctx, time.Now().Add(time.Hour))
	noErr(t, "PruneJobs", err)
	if n != 1 {
		t.Errorf("PruneJobs deleted %d jobs, want the done one", n)
	}
	_, err = s.Job(ctx, all[0].ID)
	wantCode(t, "Job(pruned)", err, freight.ENOTFOUND)
	if got := len(listAll(t, jobList(t, s, freight.JobFilter{}))); got != 4 {
		t.Errorf("%d jobs left, want 4", got)
	}
}

func jobList(t testing.TB, s freight.Store, f freight.JobFilter) listFunc[*freight.Job] {
	return func(p freight.Page) ([]*freight.Job, string, error) {
		f.Page = p
		return s.Jobs(t.Context(), f)
	}
}

// Workers claiming at once never get the same job, and together they get
// every job. On PostgreSQL this is FOR UPDATE SKIP LOCKED at work; on
// SQLite the claim's write lock.
func testJobConcurrentClaim(t *testing.T, s freight.Store) {
	const jobs, workers = 60, 6
	for range jobs {
		MustEnqueueJob(t, s, &freight.Job{Kind: "mail"})
	}
	now := time.Now()
	var mu sync.Mutex
	owner := map[string]int{}
	errs := make([]error, workers)
	run(workers, func(i int) {
		for {
			got, err := s.ClaimJobs(t.Context(), fmt.Sprintf("w%d", i), []string{"mail"}, 3, time.Minute, now)
			if err != nil {
				errs[i] = err
				return
			}
			if len(got) == 0 {
				return
			}
			mu.Lock()
			for _, j := range got {
				if prev, ok := owner[j.ID]; ok {
					t.Errorf("job %s claimed by w%d and w%d", j.ID, prev, i)
				}
				owner[j.ID] = i
			}
			mu.Unlock()
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if len(owner) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(owner), jobs)
	}
	for _, j := range listAll(t, jobList(t, s, freight.JobFilter{})) {
		if j.State != freight.JobRunning || j.Attempts != 1 || j.LockedBy != fmt.Sprintf("w%d", owner[j.ID]) {
			t.Errorf("job %s: state %s, attempts %d, locked by %q; want running once by w%d", j.ID, j.State, j.Attempts, j.LockedBy, owner[j.ID])
		}
	}
}

// PruneJobKind deletes the done jobs of its kind only, by their last
// update: not those of other kinds, not those still queued.
func testJobPruneKind(t *testing.T, s freight.Store) {
	ctx := t.Context()
	now := time.Now().Add(time.Second)
	done := func(kind string) *freight.Job {
		j := MustEnqueueJob(t, s, &freight.Job{Kind: kind})
		if got := mustClaim(t, s, "w", []string{kind}, 1, time.Minute, now); len(got) != 1 || got[0].ID != j.ID {
			t.Fatalf("claimed %v, want %s", jobIDs(got), j.ID)
		}
		noErr(t, "CompleteJob", s.CompleteJob(ctx, j.ID, "w", now))
		return j
	}
	a1, a2, b := done("prune-a"), done("prune-a"), done("prune-b")
	queued := MustEnqueueJob(t, s, &freight.Job{Kind: "prune-a"})

	n, err := s.PruneJobKind(ctx, "prune-a", now.Add(-time.Hour))
	noErr(t, "PruneJobKind(old)", err)
	if n != 0 {
		t.Errorf("PruneJobKind of an hour ago deleted %d jobs, want 0", n)
	}
	n, err = s.PruneJobKind(ctx, "prune-a", now.Add(time.Hour))
	noErr(t, "PruneJobKind", err)
	if n != 2 {
		t.Errorf("PruneJobKind deleted %d jobs, want the two done ones of its kind", n)
	}
	for _, j := range []*freight.Job{a1, a2} {
		_, err := s.Job(ctx, j.ID)
		wantCode(t, "Job(pruned)", err, freight.ENOTFOUND)
	}
	for _, j := range []*freight.Job{b, queued} {
		mustJob(t, s, j.ID)
	}
	_, err = s.PruneJobKind(ctx, "Not A Kind", now)
	wantCode(t, "PruneJobKind(invalid kind)", err, freight.EINVALID)
}
