-- token-svc: refresh families bound to the SSO session they were issued in.
-- A client with refresh_bound_to_session gets families that end when that
-- session ends (token.logout_tokens, called once per session end), unless
-- the user granted offline_access: session_bound is decided when the family
-- starts (token_code_redeem) and never changes.
ALTER TABLE clients ADD COLUMN refresh_bound_to_session boolean NOT NULL DEFAULT false;
ALTER TABLE refresh_families ADD COLUMN session_bound boolean NOT NULL DEFAULT false;
CREATE INDEX refresh_families_bound_sid ON refresh_families (sid) WHERE session_bound AND revoked_at IS NULL;
