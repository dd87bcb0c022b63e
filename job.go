package freight

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// PrefixJob is the id prefix of background jobs.
const PrefixJob = "job"

// JobState is where a job is in its life.
type JobState string

// Job states. A job is queued until a worker claims it, running while a
// worker holds its lease, and then done, or queued again for a retry, or
// dead after its last attempt failed. A dead job waits for an admin to
// retry it; a done job keeps no payload.
const (
	JobQueued  JobState = "queued"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobDead    JobState = "dead"
)

// Job limits.
const (
	// DefaultJobAttempts is MaxAttempts when a job is enqueued without one.
	DefaultJobAttempts = 10
	// MaxJobAttempts bounds MaxAttempts.
	MaxJobAttempts = 100
	// MaxJobPayload bounds the payload in bytes: a job names its work, it
	// does not carry files.
	MaxJobPayload = 64 << 10
	// maxJobError bounds LastError in bytes; longer messages are cut.
	maxJobError = 2000
)

// Job is one unit of background work in the metadata store: a kind that
// names its handler and a JSON payload that the handler reads. Jobs are
// delivered at least once, so handlers must be idempotent: a worker that
// dies mid-job loses its lease and another worker runs the job again.
//
// Payload may hold what a mail carries, single-use links included, so it
// never appears in JSON answers or logs.
type Job struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"-"`
	State       JobState        `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	// RunAt is when the job may run next: its first run, or its retry.
	RunAt time.Time `json:"run_at"`
	// LockedBy names the worker holding the job while it runs, until
	// LockedUntil; after that the lease is free for another worker.
	LockedBy    string     `json:"locked_by,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// LastError is the message of the last failed attempt.
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// JobFilter selects jobs, newest first. Zero fields do not filter.
type JobFilter struct {
	Page
	State JobState
	Kind  string
}

// ValidJobKind reports whether s can name a kind of job: lower-case
// letters, digits, '-' and '.', starting with a letter, at most 64 bytes.
func ValidJobKind(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

// ValidJobState reports whether s is one of the job states.
func ValidJobState(s JobState) bool {
	switch s {
	case JobQueued, JobRunning, JobDone, JobDead:
		return true
	}
	return false
}

// Validate checks what a caller sets when it enqueues a job, and fills in
// the defaults: an empty payload becomes {}, a zero MaxAttempts becomes
// DefaultJobAttempts.
func (j *Job) Validate() error {
	if !ValidJobKind(j.Kind) {
		return FieldError("kind", "must be lower-case letters, digits, '-' or '.', starting with a letter, at most 64 bytes")
	}
	p := bytes.TrimSpace(j.Payload)
	if len(p) == 0 {
		p = []byte("{}")
	}
	if len(p) > MaxJobPayload {
		return FieldError("payload", "must be at most %d bytes", MaxJobPayload)
	}
	if p[0] != '{' || !json.Valid(p) {
		return FieldError("payload", "must be a JSON object")
	}
	j.Payload = p
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultJobAttempts
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > MaxJobAttempts {
		return FieldError("max_attempts", "must be between 1 and %d", MaxJobAttempts)
	}
	return nil
}

// JobErrorText shortens an error message to what a job keeps of it.
func JobErrorText(msg string) string {
	if len(msg) <= maxJobError {
		return msg
	}
	cut := maxJobError
	for cut > 0 && !utf8Start(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }
