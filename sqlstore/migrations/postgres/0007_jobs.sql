-- The durable job queue: background work that commits with the change that
-- causes it and is run by the worker of every replica. Keep it in step with
-- ../sqlite/0007_jobs.sql. Workers on several replicas claim jobs with
-- FOR UPDATE SKIP LOCKED, so that no job is handed to two of them.
--
-- A job is queued until a worker claims it (running, with locked_by and a
-- lease until locked_until), then done, queued again for a retry at run_at,
-- or dead after max_attempts. A running job whose lease ended is claimed
-- again: its worker died.
CREATE TABLE jobs (
	id           text COLLATE "C" NOT NULL,
	kind         text NOT NULL,
	payload      text NOT NULL,
	state        text NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	max_attempts integer NOT NULL,
	run_at       timestamptz NOT NULL,
	locked_by    text,
	locked_until timestamptz,
	last_error   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	CONSTRAINT jobs_pkey PRIMARY KEY (id),
	CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'dead')),
	CONSTRAINT jobs_attempts_check CHECK (attempts >= 0 AND max_attempts >= 1),
	CONSTRAINT jobs_lock_check CHECK ((state = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL))
);

-- What a worker claims: due jobs by state and time; and the admin's lists
-- by state.
CREATE INDEX jobs_claim_idx ON jobs (state, run_at);
CREATE INDEX jobs_lease_idx ON jobs (state, locked_until);
