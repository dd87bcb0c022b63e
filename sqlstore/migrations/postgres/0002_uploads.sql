-- Upload sessions and blob locks. Keep it in step with
-- ../sqlite/0002_uploads.sql: the same tables, columns, constraints and
-- indexes, in PostgreSQL's types. Identifiers sort bytewise (COLLATE "C"),
-- as in 0001_init.sql.

-- An upload brings the bytes of one artifact into the blob store in parts.
-- Deleting the artifact deletes its uploads; the caller aborts their
-- staging areas first. sha256 is '' when the uploader declared none,
-- backend_id '' before the staging area exists; url_key, the per-session
-- key that signs the portal's part URLs, is NULL for backends whose parts
-- do not travel through the portal; claimed_until is NULL while no server
-- is completing the upload.
CREATE TABLE uploads (
	id            text COLLATE "C" NOT NULL,
	artifact_id   text COLLATE "C" NOT NULL,
	size          bigint NOT NULL,
	part_size     bigint NOT NULL,
	sha256        text NOT NULL DEFAULT '',
	state         text NOT NULL,
	error_message text NOT NULL DEFAULT '',
	backend_id    text NOT NULL DEFAULT '',
	url_key       bytea,
	claimed_until timestamptz,
	expires_at    timestamptz NOT NULL,
	created_by    text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	CONSTRAINT uploads_pkey PRIMARY KEY (id),
	CONSTRAINT uploads_artifact_id_fkey FOREIGN KEY (artifact_id) REFERENCES artifacts (id) ON DELETE CASCADE,
	CONSTRAINT uploads_size_check CHECK (size >= 0 AND part_size > 0),
	CONSTRAINT uploads_state_check CHECK (state IN ('open', 'completing', 'completed', 'failed', 'aborted'))
);

-- Uploads of one artifact, in id order; and the sweep of expired sessions
-- (state = 'open' AND expires_at < now).
CREATE INDEX uploads_artifact_id_idx ON uploads (artifact_id, id);
CREATE INDEX uploads_state_expires_at_idx ON uploads (state, expires_at);

-- A lock on a blob digest keeps the garbage collector away from a blob that
-- an upload is about to reference. A lock whose until has passed is free
-- for anyone to take. (artifacts_sha256_idx of 0001_init.sql answers
-- whether an artifact references a blob.)
CREATE TABLE blob_locks (
	digest text COLLATE "C" NOT NULL,
	owner  text NOT NULL,
	until  timestamptz NOT NULL,
	CONSTRAINT blob_locks_pkey PRIMARY KEY (digest)
);
