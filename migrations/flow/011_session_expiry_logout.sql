-- flow-svc: a session that ends on its own (its expires_at passes) tells the
-- clients it served, as one that is ended does (OpenID Connect Back-Channel
-- Logout 1.0 §2.5). The janitor picks each expired, unrevoked session whose
-- logout_queued_at is NULL, sets it and queues one outbox row per client
-- in the same transaction: told once, never twice. A revoked session was
-- told by the transaction that revoked it. The purge deletes no session
-- before that. Every SQL statement that touches this table is in
-- flow-svc/flow_store.c.
ALTER TABLE flow.sessions ADD COLUMN logout_queued_at timestamptz;

-- Sessions that expired before this migration ended without a word: they
-- stay so (their relying parties have long since seen them end).
UPDATE flow.sessions SET logout_queued_at = expires_at WHERE revoked_at IS NULL AND expires_at <= now();

-- The janitor's query: expired sessions not yet told, oldest first.
CREATE INDEX sessions_untold ON flow.sessions (expires_at) WHERE revoked_at IS NULL AND logout_queued_at IS NULL;
