-- token-svc: every janitor purge (token-svc/token_store.c) finds what it
-- deletes through an index, so that a batch costs what it deletes and a
-- purge with nothing to delete costs nearly nothing, however many live rows
-- the table holds. codes, revoked_jtis, family_jtis and authz_requests had
-- theirs (expires_at) already; refresh_families had none of the three
-- columns its purge reads.
--
-- created_at never changes and revoked_at changes once, so indexing them
-- costs rotation nothing. last_used_at changes at every rotation, and an
-- index on it would make none of those updates HOT (see
-- 006_refresh_family_hot_updates.sql). idle_mark is its coarse copy: a
-- rotation writes it only when it is older than least(1 day, idle timeout
-- / 8), and writing a column its old value leaves the update HOT. So
-- last_used_at < idle_mark + that slack always holds, and a family whose
-- idle_mark is older than the idle cutoff by the slack is idle past it too.
ALTER TABLE refresh_families ADD COLUMN idle_mark timestamptz;
UPDATE refresh_families SET idle_mark = last_used_at;
ALTER TABLE refresh_families
    ALTER COLUMN idle_mark SET NOT NULL,
    ALTER COLUMN idle_mark SET DEFAULT now();

CREATE INDEX refresh_families_created ON refresh_families (created_at);
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX refresh_families_idle_mark ON refresh_families (idle_mark);
