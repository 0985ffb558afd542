-- token-svc: its audit events in the one shape of every service's audit
-- trail (docs/audit.md, common/audit.h): time, event, actor, subject, client,
-- address, trace id, outcome, details. The rows written so far are kept: sub
-- and client_ip become subject and address, family_id moves into details.
ALTER TABLE token.audit_events RENAME COLUMN sub TO subject;
ALTER TABLE token.audit_events RENAME COLUMN client_ip TO address;

ALTER TABLE token.audit_events
    ADD COLUMN actor    text CHECK (octet_length(actor) <= 255),
    ADD COLUMN trace_id text CHECK (octet_length(trace_id) <= 128),
    ADD COLUMN outcome  text NOT NULL DEFAULT 'success'
        CHECK (outcome IN ('success', 'failure', 'refused')),
    ADD COLUMN details  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object');

UPDATE token.audit_events SET
    details = CASE WHEN family_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('family_id', family_id) END,
    actor = CASE WHEN event = 'subject_revoked' THEN 'system' ELSE 'client' END,
    outcome = CASE WHEN event IN ('refresh_token_reuse', 'code_replay') THEN 'refused' ELSE 'success' END;

ALTER TABLE token.audit_events ALTER COLUMN outcome DROP DEFAULT;
ALTER TABLE token.audit_events DROP COLUMN family_id;
ALTER TABLE token.audit_events
    ADD CONSTRAINT audit_events_event_check CHECK (event ~ '^[a-z][a-z0-9_]{0,63}$'),
    ADD CONSTRAINT audit_events_text_check CHECK (octet_length(subject) <= 255
        AND octet_length(client_id) <= 255 AND octet_length(address) <= 255);

CREATE INDEX audit_events_event ON token.audit_events (event, id);
CREATE INDEX audit_events_subject ON token.audit_events (subject, id);
