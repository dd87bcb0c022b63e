-- Sign-in state: browser sessions, single-use links, recovery codes,
-- identities at external OpenID providers and portal-wide settings, with
-- the new columns of users, organizations and tokens. Keep it in step with
-- ../postgres/0005_identity.sql: the same tables, columns, constraints and
-- indexes, in SQLite's types. Times are TEXT in the fixed-width UTC layout
-- of 0001_init.sql; booleans are INTEGER 0 or 1; lists are JSON arrays in
-- TEXT.

-- A user's sign-in security state. The TOTP secrets are NULL when absent;
-- a time that never happened (no lockout, no failure yet) is NULL and reads
-- as the zero time. The counters are written through UpdateUser, whose row
-- lock serialises them across replicas.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0 CONSTRAINT users_totp_last_step_check CHECK (totp_last_step >= 0);
ALTER TABLE users ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CONSTRAINT users_failures_check CHECK (failures >= 0);
ALTER TABLE users ADD COLUMN locked_until TEXT;
ALTER TABLE users ADD COLUMN last_failure TEXT;
ALTER TABLE users ADD COLUMN mfa_failures INTEGER NOT NULL DEFAULT 0 CONSTRAINT users_mfa_failures_check CHECK (mfa_failures >= 0);
ALTER TABLE users ADD COLUMN mfa_locked_until TEXT;
ALTER TABLE users ADD COLUMN last_mfa_failure TEXT;

ALTER TABLE organizations ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;

-- The product ids a publisher token is narrowed to; [] for every product.
ALTER TABLE tokens ADD COLUMN products TEXT NOT NULL DEFAULT '[]';

-- A signed-in browser. secret_hash is the SHA-256 of the random part of the
-- cookie, never the cookie itself. org_id, NULL for vendor staff, is the
-- organization the user acts in, and it must be one of the user's
-- memberships: the foreign key to memberships (not checked while org_id is
-- NULL) deletes the session when the user leaves the organization or the
-- organization is deleted, so that no session goes on acting where its
-- user no longer belongs. Deleting the user deletes its sessions.
CREATE TABLE sessions (
	id           TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	level        TEXT NOT NULL,
	method       TEXT NOT NULL DEFAULT '',
	org_id       TEXT,
	ip           TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	secret_hash  BLOB NOT NULL,
	CONSTRAINT sessions_pkey PRIMARY KEY (id),
	CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT sessions_membership_fkey FOREIGN KEY (user_id, org_id) REFERENCES memberships (user_id, org_id) ON DELETE CASCADE,
	CONSTRAINT sessions_level_check CHECK (level IN ('partial', 'full')),
	CONSTRAINT sessions_secret_hash_check CHECK (length(secret_hash) = 32)
);

-- A user's sessions (listed, signed out everywhere, and the foreign keys'
-- cascades from users and memberships); and the sweep of expired sessions.
CREATE INDEX sessions_user_id_idx ON sessions (user_id, org_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- A single-use link sent by mail: an invitation, an email verification or
-- a password reset. secret_hash is the SHA-256 of the random part of the
-- link. user_id is NULL for the invitation of someone who has no account
-- yet; org_id and role are set for an invitation to an organization,
-- vendor_role for one to the vendor's staff. used_at is set once, by the
-- first use, or when a newer link of the same kind voids the older ones.
-- Deleting the user or the organization deletes its tickets.
CREATE TABLE tickets (
	id          TEXT NOT NULL,
	kind        TEXT NOT NULL,
	email       TEXT NOT NULL,
	user_id     TEXT,
	org_id      TEXT,
	role        TEXT NOT NULL DEFAULT '',
	vendor_role TEXT NOT NULL DEFAULT '',
	created_by  TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	used_at     TEXT,
	secret_hash BLOB NOT NULL,
	CONSTRAINT tickets_pkey PRIMARY KEY (id),
	CONSTRAINT tickets_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT tickets_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT tickets_kind_check CHECK (kind IN ('invite', 'verify', 'reset')),
	CONSTRAINT tickets_role_check CHECK (role IN ('', 'org-admin', 'member') AND vendor_role IN ('', 'admin', 'publisher', 'support')),
	CONSTRAINT tickets_secret_hash_check CHECK (length(secret_hash) = 32)
);

-- ExpireTickets voids a user's unused tickets of one kind; the
-- organization index serves the foreign key's cascade.
CREATE INDEX tickets_user_id_kind_idx ON tickets (user_id, kind);
CREATE INDEX tickets_org_id_idx ON tickets (org_id);

-- A user's recovery codes, as hashes: a code is found by its hash, once.
-- The primary key makes a hash unique per user and is the index of the
-- lookup, of the count of unused codes and of the cascade from users.
CREATE TABLE recovery_codes (
	user_id    TEXT NOT NULL,
	hash       BLOB NOT NULL,
	created_at TEXT NOT NULL,
	used_at    TEXT,
	CONSTRAINT recovery_codes_pkey PRIMARY KEY (user_id, hash),
	CONSTRAINT recovery_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT recovery_codes_hash_check CHECK (length(hash) > 0)
);

-- An account at an external OpenID provider, named by issuer and subject
-- (never by email, which providers let people change), linked to a user.
CREATE TABLE identities (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	provider   TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	CONSTRAINT identities_pkey PRIMARY KEY (issuer, subject),
	CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX identities_user_id_idx ON identities (user_id);

-- Portal-wide settings: exactly one row, id 1, created here with zero
-- values. updated_at is NULL until the first update.
CREATE TABLE settings (
	id                 INTEGER NOT NULL,
	require_vendor_mfa INTEGER NOT NULL DEFAULT 0,
	updated_at         TEXT,
	CONSTRAINT settings_pkey PRIMARY KEY (id),
	CONSTRAINT settings_id_check CHECK (id = 1)
);

INSERT INTO settings (id) VALUES (1);
