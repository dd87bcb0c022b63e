-- Uploads are verified by a background job. Keep it in step with
-- ../sqlite/0016_upload_jobs.sql.
--
-- Completing an upload used to run in the request, under a claim
-- (claimed_until) that a crashed server's retry waited out. A job of the
-- queue does it now: it is durable, retried with backoff and, when it
-- keeps failing, dead and visible to admins, so the claim goes. An upload
-- that a server was completing when this runs has no job to finish it; it
-- is opened again with the reason, and the client's next complete queues
-- one (the clients ask again after any failed complete).
--
-- job_id names the verification job of the upload's last completion, ''
-- before the first: only that job may settle the upload, so a job retried
-- by an admin after the client completed again does nothing. digest is the
-- SHA-256 of the received bytes, '' until a verification hashed them; it is
-- recorded before the bytes become a blob, so that a job that runs again
-- after a crash, when the staging area is gone, knows the blob it made.
UPDATE uploads SET state = 'open',
	error_message = 'the portal was upgraded while the upload was being completed; complete it again'
	WHERE state = 'completing';
ALTER TABLE uploads DROP COLUMN claimed_until;
ALTER TABLE uploads ADD COLUMN job_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN digest text NOT NULL DEFAULT '';
