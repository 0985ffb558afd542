-- flow-svc: an index for each purge of the janitor (flow-svc/flow_store.c,
-- flow_purge_*), on the very expression each one orders by and within the
-- very condition it filters on, so that a batch walks the oldest rows it
-- may delete and costs what it deletes, however large the table.
CREATE INDEX executions_finished_updated ON flow.executions (updated_at)
    WHERE status IN ('succeeded', 'failed', 'expired');
CREATE INDEX sessions_ended_at ON flow.sessions ((least(expires_at, coalesce(revoked_at, expires_at))))
    WHERE revoked_at IS NOT NULL OR logout_queued_at IS NOT NULL;
CREATE INDEX outbox_finished ON flow.outbox ((coalesce(sent_at, created_at)))
    WHERE status IN ('sent', 'dead');
