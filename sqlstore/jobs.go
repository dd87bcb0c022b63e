package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

const jobColumns = `id, kind, payload, state, attempts, max_attempts, run_at, locked_by, locked_until, last_error, created_at, updated_at`

func scanJob(r scanner) (*freight.Job, error) {
	var j freight.Job
	var payload string
	err := r.Scan(&j.ID, &j.Kind, &payload, (*string)(&j.State), &j.Attempts, &j.MaxAttempts, timeCol{&j.RunAt},
		nullStringCol{&j.LockedBy}, nullTimeCol{&j.LockedUntil}, &j.LastError, timeCol{&j.CreatedAt}, timeCol{&j.UpdatedAt})
	if err != nil {
		return nil, err
	}
	j.Payload = []byte(payload)
	return &j, nil
}

var errJobNotFound = &errs{notFound: "job not found"}

// EnqueueJob stores j queued, with an id, its times, and RunAt now when
// it has none. Inside a transaction it commits with everything else the
// transaction writes.
func (s *store) EnqueueJob(ctx context.Context, j *freight.Job) error {
	c := *j
	c.Payload = append([]byte(nil), c.Payload...)
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixJob, now)
	} else if err := checkID(freight.PrefixJob, c.ID); err != nil {
		return err
	}
	c.State, c.Attempts, c.LockedBy, c.LockedUntil, c.LastError = freight.JobQueued, 0, "", nil, ""
	c.CreatedAt, c.UpdatedAt = now, now
	if c.RunAt.IsZero() {
		c.RunAt = now
	}
	c.RunAt = normTime(c.RunAt)
	_, err := s.exec(ctx, `INSERT INTO jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Kind, string(c.Payload), string(c.State), c.Attempts, c.MaxAttempts, c.RunAt, nil, nil, c.LastError, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return s.fail(ctx, err, &errs{idConflict: fmt.Sprintf("a job with id %q already exists", c.ID)})
	}
	*j = c
	return nil
}

func (s *store) Job(ctx context.Context, id string) (*freight.Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return nil, s.fail(ctx, err, errJobNotFound)
	}
	return j, nil
}

// skipLocked is appended to the SELECT of rows a claim takes. On
// PostgreSQL concurrent claimers then pass over each other's rows instead
// of waiting for them, so every claimer gets different jobs. SQLite needs
// nothing: the claim's transaction holds the database's one write lock.
func (s *store) skipLocked() string {
	if s.db.dialect == dialectPostgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ClaimJobs hands worker up to n due jobs of the kinds, oldest due first.
// One transaction first buries the jobs whose lease ended after their last
// attempt (a job that kills its worker every time must not loop forever),
// then takes the due ones.
func (s *store) ClaimJobs(ctx context.Context, worker string, kinds []string, n int, lease time.Duration, now time.Time) ([]*freight.Job, error) {
	switch {
	case worker == "" || len(worker) > 200:
		return nil, freight.FieldError("worker", "must be a name of 1 to 200 bytes")
	case len(kinds) == 0:
		return nil, freight.FieldError("kinds", "must name at least one kind of job")
	case n < 1 || n > freight.MaxPageSize:
		return nil, freight.FieldError("n", "must be between 1 and %d", freight.MaxPageSize)
	case lease <= 0:
		return nil, freight.FieldError("lease", "must be positive")
	}
	for _, k := range kinds {
		if !freight.ValidJobKind(k) {
			return nil, freight.FieldError("kinds", "%q is not a kind of job", k)
		}
	}
	if now.IsZero() {
		now = s.db.now()
	}
	now = normTime(now)
	kindArgs := make([]any, len(kinds))
	for i, k := range kinds {
		kindArgs[i] = k
	}
	in := `kind IN (` + placeholders(len(kinds)) + `)`
	due := in + ` AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND locked_until <= ?))`
	// Look before taking the write lock: most polls find nothing, and on
	// SQLite every claim transaction would otherwise queue behind, and
	// delay, the writes of running jobs.
	if s.tx == nil {
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM jobs WHERE `+due+` LIMIT 1`, append(kindArgs, now, now)...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return []*freight.Job{}, nil
		} else if err != nil {
			return nil, s.fail(ctx, err, nil)
		}
	}
	var out []*freight.Job
	err := s.inTx(ctx, func(s *store) error {
		out = nil
		args := append([]any{s.db.now(), "the worker stopped answering during its last attempt"}, kindArgs...)
		_, err := s.exec(ctx, `UPDATE jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, updated_at = ?,
			last_error = ?
			WHERE id IN (SELECT id FROM jobs WHERE `+in+` AND state = 'running' AND locked_until <= ? AND attempts >= max_attempts`+s.skipLocked()+`)`,
			append(args, now)...)
		if err != nil {
			return s.fail(ctx, err, nil)
		}
		args = []any{worker, now.Add(lease), s.db.now()}
		args = append(args, kindArgs...)
		args = append(args, now, now, n)
		rows, err := s.query(ctx, `UPDATE jobs SET state = 'running', locked_by = ?, locked_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id IN (SELECT id FROM jobs WHERE `+due+`
			ORDER BY run_at, id LIMIT ?`+s.skipLocked()+`)
			RETURNING `+jobColumns, args...)
		if err != nil {
			return s.fail(ctx, err, nil)
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return s.fail(ctx, err, nil)
			}
			out = append(out, j)
		}
		if err := rows.Err(); err != nil {
			return s.fail(ctx, err, nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *freight.Job) int {
		if c := a.RunAt.Compare(b.RunAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if out == nil {
		out = []*freight.Job{}
	}
	return out, nil
}

// held runs a write on a job that worker holds, and tells apart the
// reasons it matched nothing.
func (s *store) held(ctx context.Context, id, worker, set string, args ...any) error {
	args = append(args, id, worker)
	res, err := s.exec(ctx, `UPDATE jobs SET `+set+` WHERE id = ? AND state = 'running' AND locked_by = ?`, args...)
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, err, nil)
	}
	if n > 0 {
		return nil
	}
	if _, err := s.Job(ctx, id); err != nil {
		return err
	}
	return freight.Errorf(freight.ECONFLICT, "the job is not held by this worker: its lease ended or it was changed")
}

// CompleteJob marks a held job done and drops its payload, which may hold
// single-use links that have no business staying in the database.
func (s *store) CompleteJob(ctx context.Context, id, worker string, now time.Time) error {
	if now.IsZero() {
		now = s.db.now()
	}
	return s.held(ctx, id, worker, `state = 'done', payload = '{}', locked_by = NULL, locked_until = NULL, updated_at = ?`, now)
}

// FailJob records a failed attempt of a held job: queued again for
// retryAt, or dead.
func (s *store) FailJob(ctx context.Context, id, worker, msg string, retryAt time.Time, dead bool) error {
	msg = freight.JobErrorText(msg)
	if msg == "" {
		msg = "failed without a message"
	}
	if dead {
		return s.held(ctx, id, worker, `state = 'dead', last_error = ?, locked_by = NULL, locked_until = NULL, updated_at = ?`, msg, s.db.now())
	}
	if retryAt.IsZero() {
		return freight.FieldError("retry_at", "is required unless the job is dead")
	}
	return s.held(ctx, id, worker, `state = 'queued', run_at = ?, last_error = ?, locked_by = NULL, locked_until = NULL, updated_at = ?`,
		retryAt, msg, s.db.now())
}

// ReleaseJob gives a held job back untried: queued at once, the attempt
// not counted.
func (s *store) ReleaseJob(ctx context.Context, id, worker string) error {
	return s.held(ctx, id, worker, `state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
		locked_by = NULL, locked_until = NULL, updated_at = ?`, s.db.now())
}

// ExtendJob moves the end of a held job's lease, for work that runs
// longer than one lease.
func (s *store) ExtendJob(ctx context.Context, id, worker string, until time.Time) error {
	if until.IsZero() {
		return freight.FieldError("until", "is required")
	}
	return s.held(ctx, id, worker, `locked_until = ?, updated_at = ?`, until, s.db.now())
}

// Jobs lists jobs newest first; the cursor is the id of the last one.
func (s *store) Jobs(ctx context.Context, f freight.JobFilter) ([]*freight.Job, string, error) {
	var c conds
	if f.After != "" {
		if err := idCursor(freight.PrefixJob, f.After); err != nil {
			return nil, "", err
		}
		c.add(`id < ?`, f.After)
	}
	if f.State != "" {
		if !freight.ValidJobState(f.State) {
			return nil, "", freight.FieldError("state", "must be queued, running, done or dead")
		}
		c.add(`state = ?`, string(f.State))
	}
	if f.Kind != "" {
		c.add(`kind = ?`, f.Kind)
	}
	return listPage(ctx, s, `SELECT `+jobColumns+` FROM jobs`+c.String()+` ORDER BY id DESC`, c.args, f.Size(), nil,
		scanJob, func(j *freight.Job) string { return j.ID })
}

// RetryJob queues a dead job again, due now, with no attempts counted. Its
// last error stays until the next attempt, to show why it died.
func (s *store) RetryJob(ctx context.Context, id string, now time.Time) (*freight.Job, error) {
	if now.IsZero() {
		now = s.db.now()
	}
	var out *freight.Job
	err := s.inTx(ctx, func(s *store) error {
		j, err := scanJob(s.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`+s.forUpdate(), id))
		if err != nil {
			return s.fail(ctx, err, errJobNotFound)
		}
		if j.State != freight.JobDead {
			return freight.Errorf(freight.ECONFLICT, "the job is %s; only a dead job can be retried", j.State)
		}
		j.State, j.Attempts, j.RunAt, j.UpdatedAt = freight.JobQueued, 0, normTime(now), s.db.now()
		if _, err := s.exec(ctx, `UPDATE jobs SET state = ?, attempts = 0, run_at = ?, updated_at = ? WHERE id = ?`,
			string(j.State), j.RunAt, j.UpdatedAt, id); err != nil {
			return s.fail(ctx, err, nil)
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneJobs deletes the done jobs last updated before the given time.
func (s *store) PruneJobs(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM jobs WHERE state = 'done' AND updated_at < ?`, before)
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, err, nil)
	}
	return int(n), nil
}

// PruneJobKind deletes the done jobs of the kind last updated before the
// given time.
func (s *store) PruneJobKind(ctx context.Context, kind string, before time.Time) (int, error) {
	if !freight.ValidJobKind(kind) {
		return 0, freight.FieldError("kind", "is not a kind of job")
	}
	return s.deleteCount(ctx, `DELETE FROM jobs WHERE state = 'done' AND kind = ? AND updated_at < ?`, kind, before)
}
