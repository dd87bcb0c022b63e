-- Edge nodes, the organization's download region and the product's
-- prefetch setting. Keep it in step with ../postgres/0006_edges.sql: the
-- same tables, columns, constraints and indexes, in SQLite's types. Times
-- are TEXT in the fixed-width UTC layout of 0001_init.sql.

ALTER TABLE organizations ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN prefetch_edges INTEGER NOT NULL DEFAULT 0;

-- An edge is a caching node that delivers downloads near customers.
-- secret_hash is SHA-256 of the random part of its credential. region and
-- public_url are what its last heartbeat said ('' before the first);
-- last_seen_at is the time of that heartbeat, NULL before it. The stats_
-- columns are the figures the edge reported then.
CREATE TABLE edges (
	id                      TEXT NOT NULL,
	name                    TEXT NOT NULL,
	region                  TEXT NOT NULL DEFAULT '',
	public_url              TEXT NOT NULL DEFAULT '',
	secret_hash             BLOB NOT NULL,
	last_seen_at            TEXT,
	stats_bytes_served      INTEGER NOT NULL DEFAULT 0,
	stats_bytes_from_origin INTEGER NOT NULL DEFAULT 0,
	stats_hits              INTEGER NOT NULL DEFAULT 0,
	stats_misses            INTEGER NOT NULL DEFAULT 0,
	stats_fills             INTEGER NOT NULL DEFAULT 0,
	stats_cache_bytes       INTEGER NOT NULL DEFAULT 0,
	stats_cache_blobs       INTEGER NOT NULL DEFAULT 0,
	stats_cache_limit       INTEGER NOT NULL DEFAULT 0,
	created_at              TEXT NOT NULL,
	CONSTRAINT edges_pkey PRIMARY KEY (id),
	CONSTRAINT edges_name_key UNIQUE (name),
	CONSTRAINT edges_secret_hash_check CHECK (length(secret_hash) = 32)
);

-- Prefetch looks for releases published recently.
CREATE INDEX releases_published_at_idx ON releases (published_at) WHERE state = 'published';
