-- flow-svc: the flow engine (docs/flows.md). Applied inside schema
-- flow. No foreign key names a table of 005 (lockout) or 006 (outbox).

-- Flow names follow their file names (flows/verify-email.json), so '-' is
-- allowed; kind says what the success of the flow means.
ALTER TABLE flow.definitions DROP CONSTRAINT IF EXISTS definitions_name_check;
ALTER TABLE flow.definitions ADD CONSTRAINT definitions_name_check CHECK (name ~ '^[a-z][a-z0-9_-]{0,63}$');

-- Execution states of docs/flows.md. 'active' stays for the executions of
-- the password_login flow of flow-svc/login.c;
-- the engine reads it as 'running'.
ALTER TABLE flow.executions DROP CONSTRAINT IF EXISTS executions_status_check;
ALTER TABLE flow.executions ADD CONSTRAINT executions_status_check
    CHECK (status IN ('active', 'running', 'waiting', 'succeeded', 'failed', 'expired'));
-- ui: the last step shown (no secrets), so that a reload shows the same step.
-- node_attempts: submissions at the current node, counted before the check
-- and reset when the execution moves on (codes: the fifth wrong one fails).
ALTER TABLE flow.executions ADD COLUMN ui jsonb CHECK (ui IS NULL OR jsonb_typeof(ui) = 'object');
ALTER TABLE flow.executions ADD COLUMN node_attempts integer NOT NULL DEFAULT 0 CHECK (node_attempts >= 0);
DROP INDEX IF EXISTS flow.executions_active_expires_at;
CREATE INDEX executions_live_expires_at ON flow.executions (expires_at)
    WHERE status IN ('active', 'running', 'waiting');

-- Action tokens (docs/flows.md, "Action tokens"): 256 random bits that only
-- the link or the outside system holds; we keep HMAC-SHA256(flow key, token).
-- Consumed by one conditional UPDATE ... WHERE used_at IS NULL.
CREATE TABLE flow.action_tokens (
    hash         bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    purpose      text        NOT NULL CHECK (purpose IN ('magic_link', 'webhook_callback')),
    execution_id bigint      NOT NULL REFERENCES flow.executions (id) ON DELETE CASCADE,
    node         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX action_tokens_execution ON flow.action_tokens (execution_id);
CREATE INDEX action_tokens_expires_at ON flow.action_tokens (expires_at);

-- RFC 6238 secrets, sealed (AES-256-GCM under a key derived from the flow
-- key, bound to the sub). last_step: the last time step accepted, so that a
-- code is never accepted twice (RFC 6238 §5.2).
CREATE TABLE flow.user_totp (
    sub           text        PRIMARY KEY REFERENCES flow.users (sub) ON DELETE CASCADE,
    secret_sealed text        NOT NULL,
    last_step     bigint      NOT NULL DEFAULT -1,
    enrolled_at   timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes of a TOTP enrollment, shown once, kept as
-- HMAC-SHA256(flow key, sub || code); each is consumed by one conditional UPDATE.
CREATE TABLE flow.recovery_codes (
    sub        text        NOT NULL REFERENCES flow.users (sub) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (sub, code_hash)
);
