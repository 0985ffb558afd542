-- A retried refresh (the client's answer was lost) is answered with a fresh
-- successor that replaces the unused one (token-svc/refresh.c). A replaced
-- token was never delivered to the rightful client, so presenting it later
-- means someone else holds it: reuse, and the family is revoked.
ALTER TABLE refresh_tokens ADD COLUMN replaced_at timestamptz;
