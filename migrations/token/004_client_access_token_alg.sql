-- token-svc: the algorithm of a client's access tokens. NULL: the
-- server's default, OSTIARY_ACCESS_TOKEN_ALG, read at each request. A
-- resource server that verifies ES256 faster (or only EdDSA) gets its own
-- without changing what every other client receives.
-- Every SQL statement that touches this table is in token-svc/token_store.c.

ALTER TABLE clients
    ADD COLUMN access_token_alg text CHECK (access_token_alg IN ('RS256', 'ES256', 'EdDSA'));
