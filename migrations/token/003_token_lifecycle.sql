-- token-svc: the token lifecycle: refresh-token families with
-- rotation and reuse detection, the access tokens each family issued (so
-- that revoking a family revokes them), an audit trail of reuse, and the
-- per-client settings of refresh, introspection and grace.
-- Every SQL statement that touches these tables is in token-svc/token_store.c.

ALTER TABLE clients
    -- Issue a refresh token at every code exchange, offline_access or not
    -- (the client must still be allowed the refresh_token grant).
    ADD COLUMN always_refresh boolean NOT NULL DEFAULT false,
    -- RFC 7662 §2.1: a resource server may introspect other clients' tokens.
    ADD COLUMN resource_server boolean NOT NULL DEFAULT false,
    -- Grace period of refresh rotation (see token-svc/refresh.c): seconds
    -- during which a consumed refresh token may be presented again, and how
    -- many times, for the same successor. 0 = off (the default).
    ADD COLUMN refresh_grace_s integer NOT NULL DEFAULT 0 CHECK (refresh_grace_s BETWEEN 0 AND 300),
    ADD COLUMN refresh_grace_uses integer NOT NULL DEFAULT 0 CHECK (refresh_grace_uses BETWEEN 0 AND 10);

-- A refresh-token family: everything that descends from one authorization
-- code exchange. Revoking it revokes every refresh token in it and every
-- access token it issued (family_jtis). The row is the lock that orders
-- rotation, revocation and reuse detection: each of them updates it first.
CREATE TABLE refresh_families (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id     text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    sub           text NOT NULL,
    sid           text,
    auth_time     bigint NOT NULL,
    amr           jsonb NOT NULL CHECK (jsonb_typeof(amr) = 'array'),
    scopes        jsonb NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX refresh_families_client ON refresh_families (client_id);
CREATE INDEX refresh_families_sub ON refresh_families (sub);
CREATE INDEX refresh_families_last_used ON refresh_families (last_used_at);

-- Refresh tokens, as SHA-256 of their 256 bits. consumed_at is set by one
-- conditional UPDATE (rotation); successor_hash names the token that
-- replaced it (the grace period hands out that same successor again).
CREATE TABLE refresh_tokens (
    token_hash     bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    family_id      bigint NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    consumed_at    timestamptz,
    successor_hash bytea,
    grace_uses     integer NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- The access tokens a family issued, until they expire.
CREATE TABLE family_jtis (
    jti        text PRIMARY KEY,
    family_id  bigint NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX family_jtis_family ON family_jtis (family_id);
CREATE INDEX family_jtis_expires ON family_jtis (expires_at);

-- The family an authorization code started (a replayed code revokes it).
ALTER TABLE codes ADD COLUMN family_id bigint;

-- Security events that must outlive a restart: refresh-token reuse
-- (RFC 9700 §4.14.2) and what it revoked.
CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    event      text NOT NULL,
    client_id  text,
    sub        text,
    family_id  bigint,
    client_ip  text
);
CREATE INDEX audit_events_at ON audit_events (at);
