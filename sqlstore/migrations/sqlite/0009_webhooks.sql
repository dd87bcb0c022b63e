-- Webhooks: endpoints that receive signed events, what was sent to them,
-- and every attempt. Keep it in step with ../postgres/0009_webhooks.sql.
-- Times are TEXT in the fixed-width UTC layout of 0001_init.sql.

-- A webhook belongs to the vendor (org_id NULL) or to one organization,
-- and goes with it. events is a JSON array of event types. secret signs
-- deliveries; it is an HMAC key, so it is stored as it is (see
-- freight.Webhook). previous_secret signs too, until
-- previous_secret_expires_at, while receivers move to a rotated secret.
CREATE TABLE webhooks (
	id                         TEXT NOT NULL,
	org_id                     TEXT,
	url                        TEXT NOT NULL,
	description                TEXT NOT NULL DEFAULT '',
	events                     TEXT NOT NULL,
	enabled                    INTEGER NOT NULL,
	secret                     TEXT NOT NULL,
	previous_secret            TEXT NOT NULL DEFAULT '',
	previous_secret_expires_at TEXT,
	created_by                 TEXT NOT NULL DEFAULT '',
	created_at                 TEXT NOT NULL,
	updated_at                 TEXT NOT NULL,
	CONSTRAINT webhooks_pkey PRIMARY KEY (id),
	CONSTRAINT webhooks_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX webhooks_org_id_idx ON webhooks (org_id);

-- One event sent to one webhook: the body, exactly as sent, and where its
-- attempts stand. An event reaches a webhook once (the unique key), so a
-- change that is retried cannot send it twice. job_id names the job that
-- makes the attempts; jobs are pruned, so it is no foreign key.
CREATE TABLE webhook_deliveries (
	id          TEXT NOT NULL,
	webhook_id  TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	event_type  TEXT NOT NULL,
	payload     TEXT NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_status INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	job_id      TEXT,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
	CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id),
	CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE,
	CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'succeeded', 'failed'))
);
-- The delivery log lists a webhook's deliveries newest first.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id);

-- Every attempt at a delivery: status 0 when no answer came.
CREATE TABLE webhook_attempts (
	id            TEXT NOT NULL,
	delivery_id   TEXT NOT NULL,
	at            TEXT NOT NULL,
	status_code   INTEGER NOT NULL DEFAULT 0,
	duration_ms   INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	response_body TEXT NOT NULL DEFAULT '',
	CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id),
	CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
