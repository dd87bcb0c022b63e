-- Tickets also hold the authorization codes of "freight login --web" (kind
-- 'cli'): the code is bound to the PKCE challenge, to the loopback address
-- it was sent to and to the machine's name the person allowed. Keep it in
-- step with ../postgres/0011_cli_tickets.sql.
--
-- SQLite cannot change a CHECK constraint in place: the table is built
-- anew and the rows copied. No table refers to tickets, so dropping the
-- old one leaves no foreign key dangling.
CREATE TABLE tickets_new (
	id             TEXT NOT NULL,
	kind           TEXT NOT NULL,
	email          TEXT NOT NULL,
	user_id        TEXT,
	org_id         TEXT,
	role           TEXT NOT NULL DEFAULT '',
	vendor_role    TEXT NOT NULL DEFAULT '',
	created_by     TEXT NOT NULL DEFAULT '',
	created_at     TEXT NOT NULL,
	expires_at     TEXT NOT NULL,
	used_at        TEXT,
	secret_hash    BLOB NOT NULL,
	code_challenge TEXT NOT NULL DEFAULT '',
	redirect_uri   TEXT NOT NULL DEFAULT '',
	client_name    TEXT NOT NULL DEFAULT '',
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
