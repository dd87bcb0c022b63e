-- A token issued for a command-line sign-in code names the code's ticket
-- (kind cli). Keep it in step with ../sqlite/0013_token_ticket.sql.
--
-- A code presented a second time means it leaked: the token it was
-- exchanged for is revoked (RFC 6749 section 4.1.2), and this column finds
-- it. No foreign key: tickets are swept when they expire, while the token
-- lives on, and a dangling id matches nothing.
ALTER TABLE tokens ADD COLUMN ticket_id text;
CREATE INDEX tokens_ticket_id_idx ON tokens (ticket_id) WHERE ticket_id IS NOT NULL;
