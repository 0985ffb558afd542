-- keys-svc: its audit trail in the one shape of every service's
-- (docs/audit.md, common/audit.h): time, event, actor, subject, client,
-- address, trace id, outcome, details. keys.audit (one row per admin
-- command) becomes keys.audit_events with its rows kept: the command names
-- the event (key_rotate, key_retire, key_rewrap; key_admin for the others),
-- the peer is the actor, and replica, command, arguments and error go into
-- details. A key-encryption key was never recorded; its "(given)" mark goes.
ALTER TABLE keys.audit RENAME TO audit_events;
ALTER INDEX keys.audit_at RENAME TO audit_events_at;
ALTER TABLE keys.audit_events DROP CONSTRAINT IF EXISTS audit_outcome_check;

ALTER TABLE keys.audit_events
    ADD COLUMN event     text,
    ADD COLUMN actor     text CHECK (octet_length(actor) <= 255),
    ADD COLUMN subject   text CHECK (octet_length(subject) <= 255),
    ADD COLUMN client_id text CHECK (octet_length(client_id) <= 255),
    ADD COLUMN address   text CHECK (octet_length(address) <= 255),
    ADD COLUMN trace_id  text CHECK (octet_length(trace_id) <= 128),
    ADD COLUMN details   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object');

UPDATE keys.audit_events SET
    event = CASE command WHEN 'rotate' THEN 'key_rotate' WHEN 'retire' THEN 'key_retire'
                         WHEN 'rewrap' THEN 'key_rewrap' ELSE 'key_admin' END,
    actor = peer,
    subject = CASE WHEN command = 'retire' THEN args->>'kid' END,
    details = jsonb_build_object('command', command, 'args', args - 'kek', 'replica', replica)
        || CASE WHEN code IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('error', code, 'description', detail) END,
    outcome = CASE WHEN outcome = 'ok' THEN 'success' WHEN code = 'forbidden' THEN 'refused' ELSE 'failure' END;

ALTER TABLE keys.audit_events
    DROP COLUMN replica, DROP COLUMN peer, DROP COLUMN command, DROP COLUMN args, DROP COLUMN code,
    DROP COLUMN detail;
ALTER TABLE keys.audit_events ALTER COLUMN event SET NOT NULL;
ALTER TABLE keys.audit_events
    ADD CONSTRAINT audit_events_event_check CHECK (event ~ '^[a-z][a-z0-9_]{0,63}$'),
    ADD CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('success', 'failure', 'refused'));

CREATE INDEX audit_events_event ON keys.audit_events (event, id);
CREATE INDEX audit_events_subject ON keys.audit_events (subject, id);
