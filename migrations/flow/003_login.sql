-- flow-svc: SSO sessions and login flow executions.

-- One row per SSO login session. The handle in the ostiary_session cookie is
-- 256 random bits that only its holder knows: we keep its SHA-256. The sid is
-- a different random value that may be shown to relying parties (the sid
-- claim of ID tokens, OpenID Connect Front-Channel Logout §3).
CREATE TABLE flow.sessions (
    sid         text        PRIMARY KEY CHECK (sid ~ '^[A-Za-z0-9_-]{22,64}$'),
    handle_hash bytea       NOT NULL UNIQUE CHECK (octet_length(handle_hash) = 32),
    sub         text        NOT NULL REFERENCES flow.users (sub) ON DELETE CASCADE,
    -- OpenID Connect Core §2: the time the End-User authenticated, and how.
    auth_time   timestamptz NOT NULL,
    amr         jsonb       NOT NULL CHECK (jsonb_typeof(amr) = 'array'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_sub ON flow.sessions (sub);
CREATE INDEX sessions_expires_at ON flow.sessions (expires_at);

-- Flow definitions: a flow is data, a versioned graph of typed nodes
-- (ARCHITECTURE.md, "Flows"). An execution pins the name and version it
-- started with, so a new version never changes a login in progress. The
-- tables here serve the single password step of flow-svc/login.c;
-- 004_engine.sql adds what the engine that walks arbitrary graphs needs.
CREATE TABLE flow.definitions (
    name       text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,63}$'),
    version    integer     NOT NULL CHECK (version > 0),
    start_node text        NOT NULL,
    graph      jsonb       NOT NULL CHECK (jsonb_typeof(graph) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
INSERT INTO flow.definitions (name, version, start_node, graph) VALUES
    ('password_login', 1, 'password',
     '{"nodes": {"password": {"type": "password", "on": {"success": "done", "failure": "password"}},
                 "done": {"type": "end", "outcome": "success"}}}');

-- One row per execution of a flow, so that a restart of flow-svc loses
-- nothing. The handle in the ostiary_flow cookie is 256 random bits; we keep
-- its SHA-256. The CSRF token is kept as is: it is echoed in the login form
-- and grants nothing without the flow cookie it is bound to.
CREATE TABLE flow.executions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(handle_hash) = 32),
    flow_name    text        NOT NULL,
    flow_version integer     NOT NULL,
    node         text        NOT NULL,
    -- request_id, purpose, login_hint, session_sid (the session the browser
    -- had when the flow started): no secrets.
    context      jsonb       NOT NULL CHECK (jsonb_typeof(context) = 'object'),
    status       text        NOT NULL CHECK (status IN ('active', 'succeeded', 'failed', 'expired')),
    csrf         text        NOT NULL CHECK (csrf ~ '^[A-Za-z0-9_-]{43}$'),
    -- Incremented atomically before each submission is checked.
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The session a successful execution created.
    session_sid  text        REFERENCES flow.sessions (sid) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    FOREIGN KEY (flow_name, flow_version) REFERENCES flow.definitions (name, version)
);
-- The expiry sweep looks at active executions only; finished ones stay out
-- of its way however many accumulate.
CREATE INDEX executions_active_expires_at ON flow.executions (expires_at) WHERE status = 'active';
