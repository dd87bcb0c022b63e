-- Rate limits, organization quotas and the election of janitor sweeps.
-- Keep it in step with ../sqlite/0009_ratelimits.sql.
--
-- One row per rate-limit bucket: its theoretical arrival time (GCRA, see
-- freight.RateLimit) in nanoseconds since the Unix epoch. Every limited
-- request of every replica runs one upsert on its bucket's row, so the
-- table is UNLOGGED (no WAL: a crash empties it, which only refills every
-- bucket) and leaves room in each page (fillfactor) so that the updates
-- stay HOT: tat is in no index. The janitor drops rows whose tat has
-- passed, with a scan that stays short because only active clients have
-- rows.
CREATE TABLE rate_buckets (
	key text COLLATE "C" NOT NULL,
	tat bigint NOT NULL,
	CONSTRAINT rate_buckets_pkey PRIMARY KEY (key)
) WITH (fillfactor = 70);
ALTER TABLE rate_buckets SET UNLOGGED;

-- The caps of an organization; no row means no caps.
CREATE TABLE org_quotas (
	org_id            text COLLATE "C" NOT NULL,
	daily_downloads   bigint NOT NULL DEFAULT 0,
	daily_bytes       bigint NOT NULL DEFAULT 0,
	monthly_downloads bigint NOT NULL DEFAULT 0,
	monthly_bytes     bigint NOT NULL DEFAULT 0,
	CONSTRAINT org_quotas_pkey PRIMARY KEY (org_id),
	CONSTRAINT org_quotas_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT org_quotas_check CHECK (daily_downloads >= 0 AND daily_bytes >= 0 AND monthly_downloads >= 0 AND monthly_bytes >= 0)
);

-- What an organization's grants took in one window (a UTC day or month):
-- charged in the transaction that records the grant.
CREATE TABLE org_usage (
	org_id       text COLLATE "C" NOT NULL,
	period       text NOT NULL,
	window_start timestamptz NOT NULL,
	downloads    bigint NOT NULL,
	bytes        bigint NOT NULL,
	CONSTRAINT org_usage_pkey PRIMARY KEY (org_id, period, window_start),
	CONSTRAINT org_usage_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
	CONSTRAINT org_usage_period_check CHECK (period IN ('day', 'month'))
);
CREATE INDEX org_usage_prune_idx ON org_usage (period, window_start);

-- Periodic work that one replica runs for all: who claimed it last, and
-- when it is due again.
CREATE TABLE sweeps (
	name     text COLLATE "C" NOT NULL,
	owner    text NOT NULL,
	next_run timestamptz NOT NULL,
	CONSTRAINT sweeps_pkey PRIMARY KEY (name)
);
