-- flow-svc: brute-force lockout and audit events (docs/flows.md "Lockout").
-- Counters are moved by one INSERT ... ON CONFLICT DO UPDATE ... RETURNING each
-- (flow-svc/lockout.c), never read then written (ARCHITECTURE.md, "Security rules").

-- Per account: failed password logins since the last success. Each attempt is
-- judged by the row it found: refused while locked or once lockout_threshold
-- attempts were counted; the failure that reached the threshold sets
-- locked_until (and writes the one lockout audit event in the same statement).
-- Once locked_until has passed, the next attempt starts the count again at 1.
-- updated_at is the time of the last change, held while the count stands at
-- the threshold without a lock, so that such a count (a crash between the
-- check and the lock) restarts after lockout_seconds.
CREATE TABLE flow.lockout_accounts (
    sub          text        PRIMARY KEY REFERENCES flow.users (sub) ON DELETE CASCADE,
    failures     integer     NOT NULL CHECK (failures >= 0),
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Per client address (IPv4 host, IPv6 /64 prefix): failed password logins in a
-- fixed window of address_window_seconds that started at window_start.
CREATE TABLE flow.lockout_addresses (
    address      text        PRIMARY KEY CHECK (octet_length(address) BETWEEN 1 AND 64),
    window_start timestamptz NOT NULL,
    failures     integer     NOT NULL CHECK (failures >= 0)
);
CREATE INDEX lockout_addresses_window_start ON flow.lockout_addresses (window_start);

-- Security events (lockout, unlock, settings_set, ...). No foreign key on sub:
-- an event outlives its user. detail holds names and numbers, never secrets.
CREATE TABLE flow.audit_events (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    sub       text,
    client_ip text        CHECK (octet_length(client_ip) <= 64),
    detail    jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX audit_events_kind ON flow.audit_events (kind, id);
CREATE INDEX audit_events_sub ON flow.audit_events (sub, id);
