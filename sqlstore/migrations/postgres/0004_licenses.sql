-- Issued licenses. Keep it in step with ../sqlite/0004_licenses.sql: the
-- same tables, columns, constraints and indexes, in PostgreSQL's types.
-- Identifiers sort bytewise (COLLATE "C"), as in 0001_init.sql; lists are
-- JSON arrays in text.

-- A license is a signed file issued to an organization for a product, and
-- the record that it was issued: licenses are legal history. Neither the
-- organization nor the product can be deleted while licenses name them
-- (NO ACTION, as for releases in 0001_init.sql), and licenses are never deleted.
-- features is a JSON array of {"name", "value", "limit"} objects,
-- hardware_ids a JSON array of strings, both in the order issued.
-- expires_at and maintenance_until are NULL when the license has none;
-- supersedes_id names the license this one amends, NULL for a first issue.
-- revoked_at is set when, and only when, the license is revoked, and only
-- a revoked license has a revoke_reason. file is the signed file as
-- issued, byte for byte.
CREATE TABLE licenses (
	id                text COLLATE "C" NOT NULL,
	org_id            text COLLATE "C" NOT NULL,
	product_id        text COLLATE "C" NOT NULL,
	features          text NOT NULL DEFAULT '[]',
	seats             bigint NOT NULL DEFAULT 0,
	hardware_ids      text NOT NULL DEFAULT '[]',
	not_before        timestamptz NOT NULL,
	expires_at        timestamptz,
	maintenance_until timestamptz,
	key_id            text NOT NULL,
	state             text NOT NULL,
	supersedes_id     text COLLATE "C",
	revoked_at        timestamptz,
	revoke_reason     text NOT NULL DEFAULT '',
	created_by        text NOT NULL,
	created_at        timestamptz NOT NULL,
	updated_at        timestamptz NOT NULL,
	file              bytea NOT NULL,
	CONSTRAINT licenses_pkey PRIMARY KEY (id),
	CONSTRAINT licenses_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE NO ACTION,
	CONSTRAINT licenses_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE NO ACTION,
	CONSTRAINT licenses_supersedes_id_fkey FOREIGN KEY (supersedes_id) REFERENCES licenses (id) ON DELETE NO ACTION,
	CONSTRAINT licenses_seats_check CHECK (seats >= 0),
	CONSTRAINT licenses_state_check CHECK (state IN ('active', 'superseded', 'revoked')),
	CONSTRAINT licenses_times_check CHECK (expires_at IS NULL OR expires_at > not_before),
	CONSTRAINT licenses_revoked_check CHECK ((state = 'revoked') = (revoked_at IS NOT NULL) AND (state = 'revoked' OR revoke_reason = '')),
	CONSTRAINT licenses_file_check CHECK (length(file) > 0)
);

-- Licenses are listed newest first by created time, then id, filtered by
-- organization (and product), by product or by state. The product index
-- also serves the foreign key's check when a product is deleted, the
-- organization index the one when an organization is.
CREATE INDEX licenses_created_at_idx ON licenses (created_at, id);
CREATE INDEX licenses_org_id_product_id_idx ON licenses (org_id, product_id, created_at, id);
CREATE INDEX licenses_product_id_idx ON licenses (product_id, created_at, id);
CREATE INDEX licenses_state_idx ON licenses (state, created_at, id);
