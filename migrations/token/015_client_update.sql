-- token-svc: clients that can be edited and disabled, with a secret overlap.
-- version counts the changes of a registration (optimistic concurrency: an
-- update names the version it read and is refused when another came first);
-- a disabled client is refused at every endpoint but keeps its grants; the
-- lifetimes, when set, replace OSTIARY_ACCESS_TOKEN_TTL and
-- OSTIARY_ID_TOKEN_TTL for this client; after a rotation with an overlap the
-- previous secret keeps working until previous_secret_expires_at.
ALTER TABLE clients
    ADD COLUMN version bigint NOT NULL DEFAULT 1,
    ADD COLUMN disabled boolean NOT NULL DEFAULT false,
    ADD COLUMN access_token_ttl integer,
    ADD COLUMN id_token_ttl integer,
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN previous_secret_hash bytea,
    ADD COLUMN previous_secret_expires_at timestamptz;
