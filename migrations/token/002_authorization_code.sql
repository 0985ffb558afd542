-- token-svc: clients, authorization requests, codes, consents and revoked
-- access-token ids: the OpenID Connect authorization code flow.
-- Every SQL statement that touches these tables is in token-svc/token_store.c.
--
-- Nothing secret is stored in the clear: client secrets as HMAC-SHA256 under
-- OSTIARY_CLIENT_SECRET_KEY, request ids and codes as SHA-256 (they are 256
-- random bits, so a plain hash is enough).

CREATE TABLE clients (
    client_id      text PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9._~-]{1,64}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    type           text NOT NULL CHECK (type IN ('confidential', 'public')),
    -- HMAC-SHA256(OSTIARY_CLIENT_SECRET_KEY, secret); NULL for public clients.
    secret_hash    bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    redirect_uris  jsonb NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array'),
    grant_types    jsonb NOT NULL CHECK (jsonb_typeof(grant_types) = 'array'),
    response_types jsonb NOT NULL CHECK (jsonb_typeof(response_types) = 'array'),
    scopes         jsonb NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    token_endpoint_auth_method text NOT NULL
        CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    id_token_alg   text NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256', 'EdDSA')),
    -- NULL: OSTIARY_PKCE_REQUIRED decides (read at each request).
    require_pkce   boolean,
    first_party    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at timestamptz,
    -- A public client has no secret and authenticates with "none"; a
    -- confidential one has a secret and one of the two secret methods.
    CONSTRAINT clients_public_no_secret CHECK ((type = 'public') = (secret_hash IS NULL)),
    CONSTRAINT clients_public_auth_none CHECK ((type = 'public') = (token_endpoint_auth_method = 'none')),
    -- RFC 9700 §2.1.1: public clients always use PKCE.
    CONSTRAINT clients_public_pkce CHECK (type = 'confidential' OR require_pkce IS NOT FALSE)
);

-- A validated authorization request, waiting for login and consent.
-- Consumed (used_at set) by one conditional UPDATE when a code or an error
-- is issued for it.
CREATE TABLE authz_requests (
    id_hash        bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    client_id      text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    -- RFC 6749 §4.1.3: the token request must repeat redirect_uri when the
    -- authorization request carried it.
    redirect_uri_sent boolean NOT NULL,
    response_mode  text NOT NULL CHECK (response_mode IN ('query', 'fragment', 'form_post')),
    state          text,
    nonce          text,
    scopes         jsonb NOT NULL,
    code_challenge text,
    -- The rest of the request as token.request_get returns it (prompt,
    -- max_age, login_hint, id_token_hint_sub, display, ui_locales, ...).
    details        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX authz_requests_expires ON authz_requests (expires_at);

-- Authorization codes (RFC 6749 §4.1.2), bound to everything the token
-- request must match. consumed_at is set by one conditional UPDATE; the
-- access token's jti is recorded in the same transaction so that a replay
-- can revoke it (RFC 6749 §4.1.2).
CREATE TABLE codes (
    code_hash      bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    client_id      text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    redirect_uri_sent boolean NOT NULL,
    code_challenge text,
    nonce          text,
    scopes         jsonb NOT NULL,
    sub            text NOT NULL,
    sid            text,
    auth_time      bigint NOT NULL,
    amr            jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,
    issued_jti     text,
    issued_exp     timestamptz
);
CREATE INDEX codes_expires ON codes (expires_at);

-- Consent a user gave a third-party client, remembered per user and client.
CREATE TABLE consents (
    sub        text NOT NULL,
    client_id  text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes     jsonb NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sub, client_id)
);

-- Access tokens revoked before their expiry (a replayed code, an RFC 7009
-- revocation). A row may go once the token has expired.
CREATE TABLE revoked_jtis (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    reason     text NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_jtis_expires ON revoked_jtis (expires_at);
