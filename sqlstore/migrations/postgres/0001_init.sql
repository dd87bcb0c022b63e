-- The first schema. Keep it in step with ../sqlite/0001_init.sql: the
-- same tables, columns, constraints and indexes, in PostgreSQL's types.
-- Identifiers sort bytewise (COLLATE "C") whatever the database's locale,
-- because keyset pagination compares them. Lists are JSON arrays in text.

CREATE TABLE organizations (
	id         text COLLATE "C" NOT NULL,
	slug       text NOT NULL,
	name       text NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	CONSTRAINT organizations_pkey PRIMARY KEY (id),
	CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
	id            text COLLATE "C" NOT NULL,
	email         text NOT NULL,
	name          text NOT NULL DEFAULT '',
	vendor_role   text NOT NULL DEFAULT '',
	disabled      boolean NOT NULL DEFAULT false,
	password_hash text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	CONSTRAINT users_pkey PRIMARY KEY (id),
	CONSTRAINT users_email_key UNIQUE (email),
	CONSTRAINT users_vendor_role_check CHECK (vendor_role IN ('', 'admin', 'publisher', 'support'))
);

CREATE INDEX users_vendor_idx ON users (id) WHERE vendor_role <> '';

CREATE TABLE memberships (
	user_id    text COLLATE "C" NOT NULL,
	org_id     text COLLATE "C" NOT NULL,
	role       text NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT memberships_pkey PRIMARY KEY (user_id, org_id),
	CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT memberships_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT memberships_role_check CHECK (role IN ('org-admin', 'member'))
);

CREATE INDEX memberships_org_id_idx ON memberships (org_id, user_id);

CREATE TABLE products (
	id          text COLLATE "C" NOT NULL,
	slug        text NOT NULL,
	name        text NOT NULL,
	description text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	CONSTRAINT products_pkey PRIMARY KEY (id),
	CONSTRAINT products_slug_key UNIQUE (slug)
);

-- A product with releases cannot be deleted (NO ACTION; SQLite reports
-- RESTRICT as a trigger failure): published releases are the record of what
-- customers downloaded.
CREATE TABLE releases (
	id           text COLLATE "C" NOT NULL,
	product_id   text COLLATE "C" NOT NULL,
	version      text NOT NULL,
	channel      text NOT NULL,
	notes        text NOT NULL DEFAULT '',
	state        text NOT NULL,
	published_at timestamptz,
	yanked_at    timestamptz,
	yank_reason  text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	CONSTRAINT releases_pkey PRIMARY KEY (id),
	CONSTRAINT releases_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE NO ACTION,
	CONSTRAINT releases_product_id_version_key UNIQUE (product_id, version),
	CONSTRAINT releases_channel_check CHECK (channel IN ('stable', 'rc', 'beta', 'alpha', 'dev')),
	CONSTRAINT releases_state_check CHECK (state IN ('draft', 'published', 'yanked'))
);

CREATE INDEX releases_product_id_idx ON releases (product_id, id);

CREATE TABLE artifacts (
	id            text COLLATE "C" NOT NULL,
	release_id    text COLLATE "C" NOT NULL,
	filename      text NOT NULL,
	platform      text NOT NULL,
	arch          text NOT NULL,
	size          bigint NOT NULL DEFAULT 0,
	sha256        text NOT NULL DEFAULT '',
	state         text NOT NULL,
	error_message text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	CONSTRAINT artifacts_pkey PRIMARY KEY (id),
	CONSTRAINT artifacts_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE,
	CONSTRAINT artifacts_release_id_filename_key UNIQUE (release_id, filename),
	CONSTRAINT artifacts_size_check CHECK (size >= 0),
	CONSTRAINT artifacts_state_check CHECK (state IN ('uploading', 'verifying', 'available', 'failed'))
);

-- Blob garbage collection asks whether any artifact still uses a digest.
CREATE INDEX artifacts_sha256_idx ON artifacts (sha256) WHERE sha256 <> '';

CREATE TABLE entitlements (
	id                text COLLATE "C" NOT NULL,
	org_id            text COLLATE "C" NOT NULL,
	product_id        text COLLATE "C" NOT NULL,
	channels          text NOT NULL DEFAULT '[]',
	version_range     text NOT NULL DEFAULT '',
	maintenance_until timestamptz,
	not_before        timestamptz,
	not_after         timestamptz,
	platforms         text NOT NULL DEFAULT '[]',
	arches            text NOT NULL DEFAULT '[]',
	limit_downloads   bigint NOT NULL DEFAULT 0,
	limit_bytes       bigint NOT NULL DEFAULT 0,
	limit_period      text NOT NULL DEFAULT '',
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
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
	id           text COLLATE "C" NOT NULL,
	name         text NOT NULL,
	user_id      text COLLATE "C",
	role         text NOT NULL,
	org_id       text COLLATE "C",
	expires_at   timestamptz,
	revoked_at   timestamptz,
	last_used_at timestamptz,
	created_by   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	secret_hash  bytea,
	CONSTRAINT tokens_pkey PRIMARY KEY (id),
	CONSTRAINT tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT tokens_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT tokens_role_check CHECK (role IN ('admin', 'publisher', 'support', 'org-admin', 'member'))
);

CREATE INDEX tokens_user_id_idx ON tokens (user_id);
CREATE INDEX tokens_org_id_idx ON tokens (org_id);

-- Audit events have no foreign keys: they outlive what they describe.
CREATE TABLE audit_events (
	id          text COLLATE "C" NOT NULL,
	occurred_at timestamptz NOT NULL,
	actor       text NOT NULL DEFAULT '',
	token_id    text NOT NULL DEFAULT '',
	action      text NOT NULL,
	target_type text NOT NULL DEFAULT '',
	target_id   text NOT NULL DEFAULT '',
	org_id      text COLLATE "C" NOT NULL DEFAULT '',
	ip          text NOT NULL DEFAULT '',
	request_id  text NOT NULL DEFAULT '',
	details     text,
	CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);

-- Events are listed newest first by time, then id, filtered by one of
-- these columns.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, occurred_at, id);
CREATE INDEX audit_events_org_id_idx ON audit_events (org_id, occurred_at, id);
