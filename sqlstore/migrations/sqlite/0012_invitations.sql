-- Invitations can be withdrawn before they are accepted. Keep it in step
-- with ../postgres/0012_invitations.sql, which says why the column is as
-- it is.
ALTER TABLE tickets ADD COLUMN revoked_at TEXT;
