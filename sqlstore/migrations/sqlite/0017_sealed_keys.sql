-- Private signing keys are stored sealed (package seal), longer than the
-- 64 bytes of a key in clear that 0003_grants.sql required; a key in clear
-- is still accepted until the store seals it at start-up. Keep it in step
-- with ../postgres/0017_sealed_keys.sql.
--
-- SQLite cannot change a CHECK constraint in place: the table is built
-- anew and the rows copied. No table refers to signing_keys, so dropping
-- the old one leaves no foreign key dangling.
CREATE TABLE signing_keys_new (
	id          TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	public_key  BLOB NOT NULL,
	private_key BLOB NOT NULL,
	created_at  TEXT NOT NULL,
	retired_at  TEXT,
	CONSTRAINT signing_keys_pkey PRIMARY KEY (id),
	CONSTRAINT signing_keys_purpose_check CHECK (purpose IN ('grants', 'licenses')),
	CONSTRAINT signing_keys_length_check CHECK (length(public_key) = 32 AND length(private_key) >= 64)
);
INSERT INTO signing_keys_new (id, purpose, public_key, private_key, created_at, retired_at)
	SELECT id, purpose, public_key, private_key, created_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE INDEX signing_keys_purpose_idx ON signing_keys (purpose, created_at, id);
