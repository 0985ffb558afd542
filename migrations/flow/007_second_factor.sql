-- flow-svc: brute-force protection of second factors across executions
-- (docs/flows.md "Lockout"; NIST SP 800-63B §5.2.2; OWASP Multifactor
-- Authentication Cheat Sheet). A flow execution allows five wrong codes;
-- these tables limit wrong codes and code emails across executions. Each
-- counter moves by one statement (flow-svc/lockout_store.c), never read then
-- written (ARCHITECTURE.md, "Security rules").

-- Wrong second-factor codes (TOTP codes, TOTP recovery codes, email codes)
-- since the last code that verified, per account: key is the account's sub.
-- A recovery for an address or username that names no (enabled) account
-- counts too, under key 'u:' || HMAC of what was typed, with sub NULL, so
-- that an unknown identifier locks exactly like a known account and the lock
-- tells nothing about whether it exists. In a recovery (the user only named,
-- nothing proven) the page shows the lock of what was typed, known or not,
-- under that 'u:' key; the account's own recovery counter, key 'r:' || sub,
-- caps the guesses of all its names together without the page telling, and
-- never locks the login's second factor (key = sub). A password success leaves the row
-- alone. Each attempt is judged by the row it found (as in
-- flow.lockout_accounts): refused while locked or once code_lockout_threshold
-- attempts were counted; the failure that reached the threshold sets
-- locked_until and writes the one second_factor_lockout audit event in the
-- same statement. updated_at is the time of the last change (held while the
-- count stands at the threshold without a lock).
CREATE TABLE flow.lockout_codes (
    key          text        PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 80),
    sub          text        REFERENCES flow.users (sub) ON DELETE CASCADE,
    failures     integer     NOT NULL CHECK (failures >= 0),
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (sub IS NULL OR key = sub OR key = 'r:' || sub)
);
CREATE INDEX lockout_codes_sub ON flow.lockout_codes (sub);
-- The sweep of rows of unknown identifiers left idle.
CREATE INDEX lockout_codes_idle ON flow.lockout_codes (updated_at) WHERE sub IS NULL;

-- Code emails queued per account in a fixed window of code_mail_window_seconds
-- that started at window_start; above code_mail_cap none is queued (the page
-- does not change) and the first refused one writes a code_mail_capped audit
-- event.
CREATE TABLE flow.code_mail_counters (
    sub          text        PRIMARY KEY REFERENCES flow.users (sub) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    sent         integer     NOT NULL CHECK (sent >= 0)
);
