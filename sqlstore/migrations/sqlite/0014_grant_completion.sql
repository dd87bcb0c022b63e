-- When a download URL's download completed. Keep it in step with
-- ../postgres/0014_grant_completion.sql, which says what sets it.
ALTER TABLE grants ADD COLUMN completed_at TEXT;
