-- A token issued for a command-line sign-in code names the code's ticket.
-- Keep it in step with ../postgres/0013_token_ticket.sql, which says why.
ALTER TABLE tokens ADD COLUMN ticket_id TEXT;
CREATE INDEX tokens_ticket_id_idx ON tokens (ticket_id) WHERE ticket_id IS NOT NULL;
