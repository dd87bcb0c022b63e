-- The blobs each edge was asked to cache ahead of demand. Keep it in step
-- with ../postgres/0015_edge_prefetch.sql: the same table, columns,
-- constraints and indexes, in SQLite's types. Times are TEXT in the
-- fixed-width UTC layout of 0001_init.sql.

-- One row per edge and blob: the portal asked the edge to have the blob
-- (of release_id, the newest release that wanted it then) at
-- requested_at; done_at is when the edge reported it cached, NULL while
-- pending. The rows go with their edge. Published releases are never
-- deleted, but a row must not keep one from going if that changes.
CREATE TABLE edge_prefetch (
	edge_id      TEXT NOT NULL,
	sha256       TEXT NOT NULL,
	size         INTEGER NOT NULL,
	release_id   TEXT NOT NULL,
	requested_at TEXT NOT NULL,
	done_at      TEXT,
	CONSTRAINT edge_prefetch_pkey PRIMARY KEY (edge_id, sha256),
	CONSTRAINT edge_prefetch_edge_id_fkey FOREIGN KEY (edge_id) REFERENCES edges (id) ON DELETE CASCADE,
	CONSTRAINT edge_prefetch_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE,
	CONSTRAINT edge_prefetch_size_check CHECK (size >= 0)
);
CREATE INDEX edge_prefetch_release_id_idx ON edge_prefetch (release_id);
