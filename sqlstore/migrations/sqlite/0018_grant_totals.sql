-- What a grant's downloads add up to. Keep it in step with
-- ../postgres/0018_grant_totals.sql, which says what keeps them.
ALTER TABLE grants ADD COLUMN requests INTEGER NOT NULL DEFAULT 0 CONSTRAINT grants_requests_check CHECK (requests >= 0);
ALTER TABLE grants ADD COLUMN requests_bytes INTEGER NOT NULL DEFAULT 0 CONSTRAINT grants_requests_bytes_check CHECK (requests_bytes >= 0);
ALTER TABLE grants ADD COLUMN requests_whole INTEGER NOT NULL DEFAULT 0 CONSTRAINT grants_requests_whole_check CHECK (requests_whole >= 0 AND requests_whole <= requests);

-- SUM fails on an overflow: TOTAL, a float, cannot, and is exact up to
-- 2^53 bytes; a larger total saturates as the store's running total does.
UPDATE grants SET requests = d.requests, requests_bytes = d.requests_bytes, requests_whole = d.requests_whole
	FROM (SELECT grant_id, COUNT(*) AS requests,
			CASE WHEN TOTAL(bytes) >= 9223372036854775807.0 THEN 9223372036854775807 ELSE CAST(TOTAL(bytes) AS INTEGER) END AS requests_bytes,
			SUM(CASE WHEN completed AND range_header = '' THEN 1 ELSE 0 END) AS requests_whole
		FROM downloads GROUP BY grant_id) AS d
	WHERE d.grant_id = grants.id;
