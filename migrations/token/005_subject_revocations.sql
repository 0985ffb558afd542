-- token-svc: revocation by subject. When flow-svc disables a user it asks
-- token-svc (token.subject_revoke) to end everything issued to them: their
-- refresh-token families and the access tokens those and their code
-- exchanges issued are revoked at once, and this row remembers when, so
-- that what was authenticated before it can never be used again: a code or
-- a family whose auth_time is not after revoked_at is refused (a code
-- exchanged while the revocation ran, a family it started). Refresh then
-- needs no round trip to flow-svc to ask whether the user is still active.
-- A user enabled again logs in anew (flow-svc revoked their sessions), so
-- what they get then has a later auth_time.
-- Every SQL statement that touches this table is in token-svc/token_store.c.

CREATE TABLE subject_revocations (
    sub        text PRIMARY KEY,
    revoked_at timestamptz NOT NULL,
    reason     text NOT NULL
);
CREATE INDEX subject_revocations_at ON subject_revocations (revoked_at);

-- token.subject_revoke finds a subject's codes (to burn the unused ones and
-- revoke what the used ones issued) without reading the whole table.
CREATE INDEX codes_sub ON codes (sub);
