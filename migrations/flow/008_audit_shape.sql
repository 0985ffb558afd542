-- flow-svc: its audit events in the one shape of every service's audit trail
-- (docs/audit.md, common/audit.h): time, event, actor, subject, client,
-- address, trace id, outcome, details. The rows written so far are kept:
-- kind, sub, client_ip and detail become event, subject, address and details,
-- and the new members are filled from what each event meant.
ALTER TABLE flow.audit_events RENAME COLUMN kind TO event;
ALTER TABLE flow.audit_events RENAME COLUMN sub TO subject;
ALTER TABLE flow.audit_events RENAME COLUMN client_ip TO address;
ALTER TABLE flow.audit_events RENAME COLUMN detail TO details;
ALTER INDEX flow.audit_events_kind RENAME TO audit_events_event;
ALTER INDEX flow.audit_events_sub RENAME TO audit_events_subject;

ALTER TABLE flow.audit_events
    ADD COLUMN actor     text CHECK (octet_length(actor) <= 255),
    ADD COLUMN client_id text CHECK (octet_length(client_id) <= 255),
    ADD COLUMN trace_id  text CHECK (octet_length(trace_id) <= 128),
    ADD COLUMN outcome   text NOT NULL DEFAULT 'success'
        CHECK (outcome IN ('success', 'failure', 'refused'));

UPDATE flow.audit_events SET
    actor = CASE WHEN event IN ('unlock', 'settings_set', 'token_revoke_failed') THEN 'admin' ELSE 'system' END,
    outcome = CASE
        WHEN event IN ('lockout', 'second_factor_lockout', 'code_mail_capped') THEN 'refused'
        WHEN event = 'token_revoke_failed' THEN 'failure'
        ELSE 'success' END;
-- settings_set's subject is the setting it changed.
UPDATE flow.audit_events SET subject = details->>'name' WHERE event = 'settings_set' AND subject IS NULL;

ALTER TABLE flow.audit_events ALTER COLUMN outcome DROP DEFAULT;
ALTER TABLE flow.audit_events DROP CONSTRAINT IF EXISTS audit_events_client_ip_check;
ALTER TABLE flow.audit_events ADD CONSTRAINT audit_events_address_check CHECK (octet_length(address) <= 255);

-- The janitor deletes events past OSTIARY_AUDIT_RETENTION_DAYS by time.
CREATE INDEX audit_events_at ON flow.audit_events (at);
