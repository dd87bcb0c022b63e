-- Edge nodes, the organization's download region and the product's
-- prefetch setting. Keep it in step with ../sqlite/0006_edges.sql: the
-- same tables, columns, constraints and indexes, in PostgreSQL's types.
-- Identifiers sort bytewise (COLLATE "C"), as in 0001_init.sql.

ALTER TABLE organizations ADD COLUMN region text NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN prefetch_edges boolean NOT NULL DEFAULT false;

-- An edge is a caching node that delivers downloads near customers.
-- secret_hash is SHA-256 of the random part of its credential. region and
-- public_url are what its last heartbeat said ('' before the first);
-- last_seen_at is the time of that heartbeat, NULL before it. The stats_
-- columns are the figures the edge reported then.
CREATE TABLE edges (
	id                      text COLLATE "C" NOT NULL,
	name                    text NOT NULL,
	region                  text NOT NULL DEFAULT '',
	public_url              text NOT NULL DEFAULT '',
	secret_hash             bytea NOT NULL,
	last_seen_at            timestamptz,
	stats_bytes_served      bigint NOT NULL DEFAULT 0,
	stats_bytes_from_origin bigint NOT NULL DEFAULT 0,
	stats_hits              bigint NOT NULL DEFAULT 0,
	stats_misses            bigint NOT NULL DEFAULT 0,
	stats_fills             bigint NOT NULL DEFAULT 0,
	stats_cache_bytes       bigint NOT NULL DEFAULT 0,
	stats_cache_blobs       bigint NOT NULL DEFAULT 0,
	stats_cache_limit       bigint NOT NULL DEFAULT 0,
	created_at              timestamptz NOT NULL,
	CONSTRAINT edges_pkey PRIMARY KEY (id),
	CONSTRAINT edges_name_key UNIQUE (name),
	CONSTRAINT edges_secret_hash_check CHECK (length(secret_hash) = 32)
);

-- Prefetch looks for releases published recently.
CREATE INDEX releases_published_at_idx ON releases (published_at) WHERE state = 'published';
