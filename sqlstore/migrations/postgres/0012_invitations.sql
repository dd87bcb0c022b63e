-- Invitations can be withdrawn before they are accepted. Keep it in step
-- with ../sqlite/0012_invitations.sql.
--
-- revoked_at is set once, when an org-admin or a vendor admin withdraws an
-- unused ticket; a withdrawn ticket is kept (not deleted) so that its link
-- answers that it was withdrawn rather than that it never existed, and so
-- that the audit events naming it still name a row. Pending invitations
-- are listed per organization through tickets_org_id_idx.
ALTER TABLE tickets ADD COLUMN revoked_at timestamptz;
