-- Uploads are verified by a background job. Keep it in step with
-- ../postgres/0016_upload_jobs.sql, which says why the columns are as they
-- are.
UPDATE uploads SET state = 'open',
	error_message = 'the portal was upgraded while the upload was being completed; complete it again'
	WHERE state = 'completing';
ALTER TABLE uploads DROP COLUMN claimed_until;
ALTER TABLE uploads ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN digest TEXT NOT NULL DEFAULT '';
