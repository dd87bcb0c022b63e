-- Signing keys, download grants and downloads. Keep it in step with
-- ../sqlite/0003_grants.sql: the same tables, columns, constraints and
-- indexes, in PostgreSQL's types. Identifiers sort bytewise (COLLATE "C"),
-- as in 0001_init.sql.

-- An Ed25519 key of the portal: public_key is the 32-byte public key,
-- private_key the 64-byte private key (seed and public key). retired_at is
-- NULL while the key verifies. The newest key of a purpose is found by
-- (purpose, created_at).
CREATE TABLE signing_keys (
	id          text COLLATE "C" NOT NULL,
	purpose     text NOT NULL,
	public_key  bytea NOT NULL,
	private_key bytea NOT NULL,
	created_at  timestamptz NOT NULL,
	retired_at  timestamptz,
	CONSTRAINT signing_keys_pkey PRIMARY KEY (id),
	CONSTRAINT signing_keys_purpose_check CHECK (purpose IN ('grants', 'licenses')),
	CONSTRAINT signing_keys_length_check CHECK (length(public_key) = 32 AND length(private_key) = 64)
);

CREATE INDEX signing_keys_purpose_idx ON signing_keys (purpose, created_at, id);

-- A grant is the permission behind one signed download URL, and the record
-- that it was handed out. Grants are history: the foreign key to the
-- artifact refuses to delete an artifact that has grants (NO ACTION, as for
-- releases in 0001_init.sql), so that neither deleting the artifact nor
-- deleting its draft release silently loses them; artifacts without grants
-- are deleted as before. org_id (NULL for vendor staff) and token_id (NULL
-- when the actor used no token) have no foreign keys: deleting an
-- organization or a token keeps the record of what it downloaded, as with
-- audit events. product_id is the product of the artifact, copied for
-- GrantUsage; an artifact never changes product.
CREATE TABLE grants (
	id           text COLLATE "C" NOT NULL,
	artifact_id  text COLLATE "C" NOT NULL,
	product_id   text COLLATE "C" NOT NULL,
	org_id       text COLLATE "C",
	actor        text NOT NULL,
	token_id     text COLLATE "C",
	ip           text NOT NULL DEFAULT '',
	bind_ip      boolean NOT NULL DEFAULT false,
	digest       text NOT NULL,
	size         bigint NOT NULL,
	filename     text NOT NULL,
	start_by     timestamptz NOT NULL,
	resume_until timestamptz NOT NULL,
	byte_budget  bigint NOT NULL,
	bytes_served bigint NOT NULL DEFAULT 0,
	created_at   timestamptz NOT NULL,
	CONSTRAINT grants_pkey PRIMARY KEY (id),
	CONSTRAINT grants_artifact_id_fkey FOREIGN KEY (artifact_id) REFERENCES artifacts (id) ON DELETE NO ACTION,
	CONSTRAINT grants_bytes_check CHECK (size >= 0 AND byte_budget >= size AND bytes_served >= 0 AND bytes_served <= byte_budget),
	CONSTRAINT grants_times_check CHECK (start_by <= resume_until)
);

-- The foreign key's check when an artifact is deleted; and GrantUsage,
-- which counts the grants of an organization and a product since a time.
CREATE INDEX grants_artifact_id_idx ON grants (artifact_id);
CREATE INDEX grants_org_id_product_id_idx ON grants (org_id, product_id, created_at);

-- A download is one request that served bytes of a grant. artifact_id,
-- product_id and org_id are the grant's, copied so that the lists filter
-- without a join. range_header is the request's Range header, '' for the
-- whole file; finished_at is NULL while the request runs (or when it was
-- never reported finished).
CREATE TABLE downloads (
	id           text COLLATE "C" NOT NULL,
	grant_id     text COLLATE "C" NOT NULL,
	artifact_id  text COLLATE "C" NOT NULL,
	product_id   text COLLATE "C" NOT NULL,
	org_id       text COLLATE "C",
	actor        text NOT NULL DEFAULT '',
	ip           text NOT NULL DEFAULT '',
	via          text NOT NULL,
	range_header text NOT NULL DEFAULT '',
	bytes        bigint NOT NULL DEFAULT 0,
	completed    boolean NOT NULL DEFAULT false,
	started_at   timestamptz NOT NULL,
	finished_at  timestamptz,
	CONSTRAINT downloads_pkey PRIMARY KEY (id),
	CONSTRAINT downloads_grant_id_fkey FOREIGN KEY (grant_id) REFERENCES grants (id) ON DELETE NO ACTION,
	CONSTRAINT downloads_bytes_check CHECK (bytes >= 0)
);

-- Downloads are listed newest first by start time, then id, filtered by
-- one of these columns.
CREATE INDEX downloads_started_at_idx ON downloads (started_at, id);
CREATE INDEX downloads_grant_id_idx ON downloads (grant_id, started_at, id);
CREATE INDEX downloads_artifact_id_idx ON downloads (artifact_id, started_at, id);
CREATE INDEX downloads_product_id_idx ON downloads (product_id, started_at, id);
CREATE INDEX downloads_org_id_idx ON downloads (org_id, started_at, id);
