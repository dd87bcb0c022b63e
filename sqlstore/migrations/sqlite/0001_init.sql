-- The first schema. Keep it in step with ../postgres/0001_init.sql: the
-- same tables, columns, constraints and indexes, in SQLite's types.
-- Times are TEXT in the fixed-width UTC layout 2006-01-02T15:04:05.000000Z so
-- that text order is time order. Lists are JSON arrays in TEXT.

CREATE TABLE organizations (
	id         TEXT NOT NULL,
	slug       TEXT NOT NULL,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	CONSTRAINT organizations_pkey PRIMARY KEY (id),
	CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
	id            TEXT NOT NULL,
	email         TEXT NOT NULL,
	name          TEXT NOT NULL DEFAULT '',
	vendor_role   TEXT NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	CONSTRAINT users_email_key UNIQUE (email),
	CONSTRAINT users_vendor_role_check CHECK (vendor_role IN ('', 'admin', 'publisher', 'support'))
);

CREATE INDEX users_vendor_idx ON users (id) WHERE vendor_role <> '';

CREATE TABLE memberships (
	user_id    TEXT NOT NULL,
	org_id     TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	CONSTRAINT memberships_pkey PRIMARY KEY (user_id, org_id),
	CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT memberships_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT memberships_role_check CHECK (role IN ('org-admin', 'member'))
);

CREATE INDEX memberships_org_id_idx ON memberships (org_id, user_id);

CREATE TABLE products (
	id          TEXT NOT NULL,
	slug        TEXT NOT NULL,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	CONSTRAINT products_pkey PRIMARY KEY (id),
	CONSTRAINT products_slug_key UNIQUE (slug)
);

-- A product with releases cannot be deleted (NO ACTION; SQLite reports
-- RESTRICT as a trigger failure): published releases are the record of what
-- customers downloaded.
CREATE TABLE releases (
	id           TEXT NOT NULL,
	product_id   TEXT NOT NULL,
	version      TEXT NOT NULL,
	channel      TEXT NOT NULL,
	notes        TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL,
	published_at TEXT,
	yanked_at    TEXT,
	yank_reason  TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	CONSTRAINT releases_pkey PRIMARY KEY (id),
	CONSTRAINT releases_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE NO ACTION,
	CONSTRAINT releases_product_id_version_key UNIQUE (product_id, version),
	CONSTRAINT releases_channel_check CHECK (channel IN ('stable', 'rc', 'beta', 'alpha', 'dev')),
	CONSTRAINT releases_state_check CHECK (state IN ('draft', 'published', 'yanked'))
);

CREATE INDEX releases_product_id_idx ON releases (product_id, id);

CREATE TABLE artifacts (
	id            TEXT NOT NULL,
	release_id    TEXT NOT NULL,
	filename      TEXT NOT NULL,
	platform      TEXT NOT NULL,
	arch          TEXT NOT NULL,
	size          INTEGER NOT NULL DEFAULT 0,
	sha256        TEXT NOT NULL DEFAULT '',
	state         TEXT NOT NULL,
	error_message TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	CONSTRAINT artifacts_pkey PRIMARY KEY (id),
	CONSTRAINT artifacts_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE,
	CONSTRAINT artifacts_release_id_filename_key UNIQUE (release_id, filename),
	CONSTRAINT artifacts_size_check CHECK (size >= 0),
	CONSTRAINT artifacts_state_check CHECK (state IN ('uploading', 'verifying', 'available', 'failed'))
);

-- Blob garbage collection asks whether any artifact still uses a digest.
CREATE INDEX artifacts_sha256_idx ON artifacts (sha256) WHERE sha256 <> '';

CREATE TABLE entitlements (
	id                TEXT NOT NULL,
	org_id            TEXT NOT NULL,
	product_id        TEXT NOT NULL,
	channels          TEXT NOT NULL DEFAULT '[]',
	version_range     TEXT NOT NULL DEFAULT '',
	maintenance_until TEXT,
	not_before        TEXT,
	not_after         TEXT,
	platforms         TEXT NOT NULL DEFAULT '[]',
	arches            TEXT NOT NULL DEFAULT '[]',
	limit_downloads   INTEGER NOT NULL DEFAULT 0,
	limit_bytes       INTEGER NOT NULL DEFAULT 0,
	limit_period      TEXT NOT NULL DEFAULT '',
	created_at        TEXT NOT NULL,
	updated_at        TEXT NOT NULL,
	CONSTRAINT entitlements_pkey PRIMARY KEY (id),
	CONSTRAINT entitlements_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT entitlements_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
	CONSTRAINT entitlements_org_id_product_id_key UNIQUE (org_id, product_id),
	CONSTRAINT entitlements_limits_check CHECK (limit_downloads >= 0 AND limit_bytes >= 0),
	CONSTRAINT entitlements_limit_period_check CHECK (limit_period IN ('', 'day', 'week', 'month'))
);

CREATE INDEX entitlements_product_id_idx ON entitlements (product_id);

-- user_id and org_id are NULL when absent: a service-account token has no
-- user, a vendor-role token no organization.
CREATE TABLE tokens (
	id           TEXT NOT NULL,
	name         TEXT NOT NULL,
	user_id      TEXT,
	role         TEXT NOT NULL,
	org_id       TEXT,
	expires_at   TEXT,
	revoked_at   TEXT,
	last_used_at TEXT,
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	secret_hash  BLOB,
	CONSTRAINT tokens_pkey PRIMARY KEY (id),
	CONSTRAINT tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT tokens_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT tokens_role_check CHECK (role IN ('admin', 'publisher', 'support', 'org-admin', 'member'))
);

CREATE INDEX tokens_user_id_idx ON tokens (user_id);
CREATE INDEX tokens_org_id_idx ON tokens (org_id);

-- Audit events have no foreign keys: they outlive what they describe.
CREATE TABLE audit_events (
	id          TEXT NOT NULL,
	occurred_at TEXT NOT NULL,
	actor       TEXT NOT NULL DEFAULT '',
	token_id    TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id   TEXT NOT NULL DEFAULT '',
	org_id      TEXT NOT NULL DEFAULT '',
	ip          TEXT NOT NULL DEFAULT '',
	request_id  TEXT NOT NULL DEFAULT '',
	details     TEXT,
	CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);

-- Events are listed newest first by time, then id, filtered by one of
-- these columns.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, occurred_at, id);
CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, occurred_at, id);
