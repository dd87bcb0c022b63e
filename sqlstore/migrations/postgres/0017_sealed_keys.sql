-- Private signing keys are stored sealed (package seal), longer than the
-- 64 bytes of a key in clear that 0003_grants.sql required; a key in clear
-- is still accepted until the store seals it at start-up. Keep it in step
-- with ../sqlite/0017_sealed_keys.sql, which must build the table anew
-- (SQLite cannot change a CHECK constraint in place); this one does the
-- same, so that both schemas stay alike column for column. The old primary
-- key's index is renamed first: its name would clash.
ALTER TABLE signing_keys RENAME CONSTRAINT signing_keys_pkey TO signing_keys_old_pkey;
CREATE TABLE signing_keys_new (
	id          text COLLATE "C" NOT NULL,
	purpose     text NOT NULL,
	public_key  bytea NOT NULL,
	private_key bytea NOT NULL,
	created_at  timestamptz NOT NULL,
	retired_at  timestamptz,
	CONSTRAINT signing_keys_pkey PRIMARY KEY (id),
	CONSTRAINT signing_keys_purpose_check CHECK (purpose IN ('grants', 'licenses')),
	CONSTRAINT signing_keys_length_check CHECK (length(public_key) = 32 AND length(private_key) >= 64)
);
INSERT INTO signing_keys_new (id, purpose, public_key, private_key, created_at, retired_at)
	SELECT id, purpose, public_key, private_key, created_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE INDEX signing_keys_purpose_idx ON signing_keys (purpose, created_at, id);
