-- flow-svc: the outbox also delivers logout tokens (OpenID Connect
-- Back-Channel Logout 1.0 §2.5) to the backchannel_logout_uri of each client
-- an ended session served. Such a row's sealed payload holds the client id,
-- the URI (from the client's registration in token-svc), the signed logout
-- token and its exp: a row is given up ('dead') once the token has expired.
-- Every SQL statement that touches this table is in flow-svc/outbox_store.c.

ALTER TABLE flow.outbox DROP CONSTRAINT IF EXISTS outbox_kind_check;
ALTER TABLE flow.outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('email', 'webhook', 'backchannel'));
