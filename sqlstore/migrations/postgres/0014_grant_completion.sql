-- When a download URL's download completed. Keep it in step with
-- ../sqlite/0014_grant_completion.sql.
--
-- completed_at is set once, by CompleteGrant, in the transaction that
-- records the request that completed the grant (its requests together
-- served the file, as the download figures count it); the
-- artifact.downloaded event is queued in that same transaction. NULL
-- while the download is incomplete.
ALTER TABLE grants ADD COLUMN completed_at timestamptz;
