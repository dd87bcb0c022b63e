-- Webhooks: endpoints that receive signed events, what was sent to them,
-- and every attempt. Keep it in step with ../sqlite/0009_webhooks.sql.
-- Identifiers sort bytewise (COLLATE "C"), as in 0001_init.sql.

-- A webhook belongs to the vendor (org_id NULL) or to one organization,
-- and goes with it. events is a JSON array of event types. secret signs
-- deliveries; it is an HMAC key, so it is stored as it is (see
-- freight.Webhook). previous_secret signs too, until
-- previous_secret_expires_at, while receivers move to a rotated secret.
CREATE TABLE webhooks (
	id                         text COLLATE "C" NOT NULL,
	org_id                     text COLLATE "C",
	url                        text NOT NULL,
	description                text NOT NULL DEFAULT '',
	events                     text NOT NULL,
	enabled                    boolean NOT NULL,
	secret                     text NOT NULL,
	previous_secret            text NOT NULL DEFAULT '',
	previous_secret_expires_at timestamptz,
	created_by                 text NOT NULL DEFAULT '',
	created_at                 timestamptz NOT NULL,
	updated_at                 timestamptz NOT NULL,
	CONSTRAINT webhooks_pkey PRIMARY KEY (id),
	CONSTRAINT webhooks_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX webhooks_org_id_idx ON webhooks (org_id);

-- One event sent to one webhook: the body, exactly as sent, and where its
-- attempts stand. An event reaches a webhook once (the unique key), so a
-- change that is retried cannot send it twice. job_id names the job that
-- makes the attempts; jobs are pruned, so it is no foreign key.
CREATE TABLE webhook_deliveries (
	id          text COLLATE "C" NOT NULL,
	webhook_id  text COLLATE "C" NOT NULL,
	event_id    text COLLATE "C" NOT NULL,
	event_type  text NOT NULL,
	payload     text NOT NULL,
	state       text NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	last_status integer NOT NULL DEFAULT 0,
	last_error  text NOT NULL DEFAULT '',
	job_id      text COLLATE "C",
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
	CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id),
	CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE,
	CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'succeeded', 'failed'))
);
-- The delivery log lists a webhook's deliveries newest first.
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id);

-- Every attempt at a delivery: status 0 when no answer came.
CREATE TABLE webhook_attempts (
	id            text COLLATE "C" NOT NULL,
	delivery_id   text COLLATE "C" NOT NULL,
	at            timestamptz NOT NULL,
	status_code   integer NOT NULL DEFAULT 0,
	duration_ms   bigint NOT NULL DEFAULT 0,
	error         text NOT NULL DEFAULT '',
	response_body text NOT NULL DEFAULT '',
	CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id),
	CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
