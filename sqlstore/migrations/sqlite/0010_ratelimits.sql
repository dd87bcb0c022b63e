-- Rate limits, organization quotas and the election of janitor sweeps.
-- Keep it in step with ../postgres/0009_ratelimits.sql, which says why
-- each table is as it is. On SQLite, one replica keeps its rate limits in
-- process; the table is here so that every store behaves the same.
CREATE TABLE rate_buckets (
	key TEXT NOT NULL,
	tat INTEGER NOT NULL,
	CONSTRAINT rate_buckets_pkey PRIMARY KEY (key)
);

CREATE TABLE org_quotas (
	org_id            TEXT NOT NULL,
	daily_downloads   INTEGER NOT NULL DEFAULT 0,
	daily_bytes       INTEGER NOT NULL DEFAULT 0,
	monthly_downloads INTEGER NOT NULL DEFAULT 0,
	monthly_bytes     INTEGER NOT NULL DEFAULT 0,
	CONSTRAINT org_quotas_pkey PRIMARY KEY (org_id),
	CONSTRAINT org_quotas_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT org_quotas_check CHECK (daily_downloads >= 0 AND daily_bytes >= 0 AND monthly_downloads >= 0 AND monthly_bytes >= 0)
);

CREATE TABLE org_usage (
	org_id       TEXT NOT NULL,
	period       TEXT NOT NULL,
	window_start TEXT NOT NULL,
	downloads    INTEGER NOT NULL,
	bytes        INTEGER NOT NULL,
	CONSTRAINT org_usage_pkey PRIMARY KEY (org_id, period, window_start),
	CONSTRAINT org_usage_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT org_usage_period_check CHECK (period IN ('day', 'month'))
);
CREATE INDEX org_usage_prune_idx ON org_usage (period, window_start);

CREATE TABLE sweeps (
	name     TEXT NOT NULL,
	owner    TEXT NOT NULL,
	next_run TEXT NOT NULL,
	CONSTRAINT sweeps_pkey PRIMARY KEY (name)
);
