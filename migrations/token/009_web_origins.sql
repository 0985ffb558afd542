-- token-svc: the browser origins a client registered (CORS at the token,
-- revocation, introspection and userinfo endpoints): a JSON array of exact
-- origins (scheme://host[:port]) validated at registration.
-- Every SQL statement that touches this table is in token-svc/token_store.c.

ALTER TABLE clients
    ADD COLUMN web_origins jsonb NOT NULL DEFAULT '[]'::jsonb;
