-- flow-svc: what an SSO session served and where it was last used.
-- OpenID Connect Back-Channel Logout 1.0 §2.5 and RP-Initiated Logout 1.0
-- §2: when a session ends, every client it issued a code to is told, and
-- the user is shown which applications were signed out. The account's
-- sessions page shows when and from where each session was last used.
-- Every SQL statement that touches these tables is in flow-svc/flow_store.c.

ALTER TABLE flow.sessions
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN address      text CHECK (char_length(address) <= 64),
    ADD COLUMN user_agent   text CHECK (char_length(user_agent) <= 256);

-- One row per client a session issued a code to, written before the code.
CREATE TABLE flow.session_clients (
    sid         text        NOT NULL REFERENCES flow.sessions (sid) ON DELETE CASCADE,
    client_id   text        NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 64),
    client_name text        NOT NULL CHECK (char_length(client_name) BETWEEN 1 AND 128),
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sid, client_id)
);
