-- What a grant's downloads add up to, kept on the grant so that
-- CompleteGrant, which runs for every recorded request until the grant
-- completes, reads one row instead of every request the URL ever served.
-- Keep it in step with ../sqlite/0018_grant_totals.sql.
--
-- requests counts the grant's rows in downloads, requests_bytes sums their
-- bytes (saturating at the largest bigint), requests_whole counts those
-- that completed without a Range header. CreateDownload and FinishDownload
-- change them in the statement's transaction, under the grant's row lock.
ALTER TABLE grants ADD COLUMN requests bigint NOT NULL DEFAULT 0 CONSTRAINT grants_requests_check CHECK (requests >= 0);
ALTER TABLE grants ADD COLUMN requests_bytes bigint NOT NULL DEFAULT 0 CONSTRAINT grants_requests_bytes_check CHECK (requests_bytes >= 0);
ALTER TABLE grants ADD COLUMN requests_whole bigint NOT NULL DEFAULT 0 CONSTRAINT grants_requests_whole_check CHECK (requests_whole >= 0 AND requests_whole <= requests);

UPDATE grants SET requests = d.requests, requests_bytes = d.requests_bytes, requests_whole = d.requests_whole
	FROM (SELECT grant_id, COUNT(*) AS requests,
			CAST(LEAST(SUM(bytes), 9223372036854775807) AS bigint) AS requests_bytes,
			COUNT(*) FILTER (WHERE completed AND range_header = '') AS requests_whole
		FROM downloads GROUP BY grant_id) AS d
	WHERE d.grant_id = grants.id;
