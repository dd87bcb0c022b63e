-- A user's choice to be mailed when a release their organization is
-- entitled to is published: on unless turned off. Keep it in step with
-- ../sqlite/0008_notify.sql.
ALTER TABLE users ADD COLUMN notify_releases boolean NOT NULL DEFAULT true;
