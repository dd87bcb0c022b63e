-- Tickets also hold the authorization codes of "freight login --web" (kind
-- 'cli'): the code is bound to the PKCE challenge, to the loopback address
-- it was sent to and to the machine's name the person allowed. Keep it in
-- step with ../sqlite/0011_cli_tickets.sql, which must build the table
-- anew (SQLite cannot change a CHECK constraint in place); this one does
-- the same, so that both schemas stay alike column for column. The old
-- primary key's index is renamed first: its name would clash.
ALTER TABLE tickets RENAME CONSTRAINT tickets_pkey TO tickets_old_pkey;
CREATE TABLE tickets_new (
	id             text COLLATE "C" NOT NULL,
	kind           text NOT NULL,
	email          text NOT NULL,
	user_id        text COLLATE "C",
	org_id         text COLLATE "C",
	role           text NOT NULL DEFAULT '',
	vendor_role    text NOT NULL DEFAULT '',
	created_by     text NOT NULL DEFAULT '',
	created_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	used_at        timestamptz,
	secret_hash    bytea NOT NULL,
	code_challenge text NOT NULL DEFAULT '',
	redirect_uri   text NOT NULL DEFAULT '',
	client_name    text NOT NULL DEFAULT '',
	CONSTRAINT tickets_pkey PRIMARY KEY (id),
	CONSTRAINT tickets_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT tickets_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT tickets_kind_check CHECK (kind IN ('invite', 'verify', 'reset', 'cli')),
	CONSTRAINT tickets_role_check CHECK (role IN ('', 'org-admin', 'member') AND vendor_role IN ('', 'admin', 'publisher', 'support')),
	CONSTRAINT tickets_secret_hash_check CHECK (length(secret_hash) = 32)
);
INSERT INTO tickets_new (id, kind, email, user_id, org_id, role, vendor_role, created_by, created_at, expires_at, used_at, secret_hash)
	SELECT id, kind, email, user_id, org_id, role, vendor_role, created_by, created_at, expires_at, used_at, secret_hash FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_new RENAME TO tickets;
CREATE INDEX tickets_user_id_kind_idx ON tickets (user_id, kind);
CREATE INDEX tickets_org_id_idx ON tickets (org_id);
