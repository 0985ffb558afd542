-- bench/scale.sql - `make bench SCALE=1M`: token-svc's tables as a busy
-- deployment has them, loaded in one go with generate_series (psql -v
-- scale=N, N = families; the other tables follow from it):
--
--   refresh_families  N      created over the last 30 days (id in creation
--                            order); 5 % past the absolute lifetime, ~2.5 %
--                            idle past OSTIARY_REFRESH_IDLE_TIMEOUT, 2 %
--                            revoked (most of them hours or days ago)
--   refresh_tokens    3 N    three per family: two consumed, the last live
--   family_jtis       N      one per family: those of dead families expired,
--                            90 % of the others still live (600 s tokens)
--   revoked_jtis      N      90 % still live, 10 % expired
--   codes             N / 5  90 % unexpired, 10 % long expired
--
-- The dead rows (~10 % of each table) are the backlog a janitor that fell
-- behind leaves. They belong to the client bench-scale (made here), so the
-- bench's own clients and their removal by bench/seed.sh do not touch them.
-- Defaults: OSTIARY_REFRESH_MAX_LIFETIME 30 days, IDLE_TIMEOUT 14 days.
\set ON_ERROR_STOP 1
SET search_path TO token;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
-- One transaction: the janitor must not see a family before its tokens
-- and jtis are there (it would delete the dead-looking family at once).
BEGIN;

INSERT INTO clients (client_id, name, type, secret_hash, redirect_uris, grant_types, response_types, scopes,
                     token_endpoint_auth_method, id_token_alg, first_party)
VALUES ('bench-scale', 'bench SCALE rows', 'confidential', sha256('bench-scale'), '["http://127.0.0.1/cb"]',
        '["authorization_code","refresh_token"]', '["code"]', '["openid","offline_access"]',
        'client_secret_basic', 'ES256', true)
ON CONFLICT (client_id) DO NOTHING;

CREATE TEMP TABLE scale_f AS
SELECT i, created_at,
       CASE WHEN i % 40 = 1 AND created_at < now() - interval '15 days' THEN created_at
            ELSE greatest(created_at, now() - r * interval '13 days') END AS last_used_at,
       CASE WHEN i % 50 = 7 THEN greatest(created_at, now() - interval '2 hours' - r * interval '10 days') END
           AS revoked_at
FROM (SELECT i, random() AS r,
             CASE WHEN i <= :scale / 20 THEN now() - interval '31 days' - random() * interval '1 day'
                  ELSE now() - interval '30 days' * (1 - i::float8 / :scale) END AS created_at
      FROM generate_series(1, :scale) AS i) x;

-- idle_mark (migrations/token/011_purge_indexes.sql), where the schema has
-- it, as token-svc writes it: here last_used_at itself.
SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'token'
               AND table_name = 'refresh_families' AND column_name = 'idle_mark') AS has_idle_mark \gset
\if :has_idle_mark
\set idle_col ', idle_mark'
\set idle_val ', last_used_at'
\else
\set idle_col ''
\set idle_val ''
\endif

INSERT INTO refresh_families (id, client_id, sub, sid, auth_time, amr, scopes, created_at, last_used_at,
                              revoked_at, revoke_reason :idle_col)
OVERRIDING SYSTEM VALUE
SELECT i, 'bench-scale', 'user-' || (i % 200000), 'sid-' || i, extract(epoch FROM created_at)::bigint,
       '["pwd"]', '["openid","offline_access"]', created_at, last_used_at, revoked_at,
       CASE WHEN revoked_at IS NOT NULL THEN 'logout' END :idle_val
FROM scale_f;
SELECT setval(pg_get_serial_sequence('token.refresh_families', 'id'), (SELECT max(id) FROM refresh_families));

INSERT INTO refresh_tokens (token_hash, family_id, created_at, consumed_at, successor_hash)
SELECT sha256(int8send(i) || int4send(n)), i, f.last_used_at - (3 - n) * interval '10 minutes',
       CASE WHEN n < 3 THEN f.last_used_at - (2 - n) * interval '10 minutes' END,
       CASE WHEN n < 3 THEN sha256(int8send(i) || int4send(n + 1)) END
FROM generate_series(1, 3) AS n, refresh_families f, LATERAL (SELECT f.id AS i) x
WHERE f.client_id = 'bench-scale';

-- A family is dead (what the janitor may delete) when revoked over an hour
-- ago, or past either lifetime by an hour.
CREATE TEMP TABLE scale_dead AS
SELECT id FROM refresh_families
WHERE client_id = 'bench-scale'
  AND (revoked_at < now() - interval '1 hour' OR created_at < now() - interval '30 days 1 hour'
       OR last_used_at < now() - interval '14 days 1 hour');
CREATE UNIQUE INDEX ON scale_dead (id);

INSERT INTO family_jtis (jti, family_id, expires_at)
SELECT 'scale-' || f.id, f.id,
       CASE WHEN d.id IS NOT NULL OR f.id % 10 = 3 THEN now() - interval '10 minutes' - random() * interval '1 day'
            ELSE now() + random() * interval '600 seconds' END
FROM refresh_families f LEFT JOIN scale_dead d ON d.id = f.id
WHERE f.client_id = 'bench-scale';

INSERT INTO revoked_jtis (jti, expires_at, reason, revoked_at)
SELECT 'scale-r-' || i,
       CASE WHEN i % 10 = 3 THEN now() - interval '10 minutes' - random() * interval '1 day'
            ELSE now() + random() * interval '1 day' END,
       'revoked', now() - interval '1 hour'
FROM generate_series(1, :scale) AS i;

INSERT INTO codes (code_hash, client_id, redirect_uri, redirect_uri_sent, scopes, sub, auth_time, amr, created_at,
                   expires_at, consumed_at, issued_jti, issued_exp)
SELECT sha256(int8send(-i)), 'bench-scale', 'http://127.0.0.1/cb', true, '["openid"]', 'user-' || (i % 200000),
       extract(epoch FROM now())::bigint, '["pwd"]', e - interval '60 seconds', e,
       CASE WHEN i % 2 = 0 THEN e - interval '30 seconds' END,
       CASE WHEN i % 2 = 0 THEN 'scale-c-' || i END,
       CASE WHEN i % 2 = 0 THEN e + interval '600 seconds' END
FROM generate_series(1, :scale / 5) AS i,
     LATERAL (SELECT CASE WHEN i % 10 = 3 THEN now() - interval '2 hours' - random() * interval '1 day'
                          ELSE now() + random() * interval '1 day' END AS e) x;

COMMIT;
ANALYZE refresh_families, refresh_tokens, family_jtis, revoked_jtis, codes;

SELECT 'refresh_families' AS "table", count(*) AS "rows", (SELECT count(*) FROM scale_dead) AS dead
FROM refresh_families
UNION ALL SELECT 'refresh_tokens', count(*), NULL FROM refresh_tokens
UNION ALL SELECT 'family_jtis', count(*), count(*) FILTER (WHERE expires_at < now() - interval '5 minutes') FROM family_jtis
UNION ALL SELECT 'revoked_jtis', count(*), count(*) FILTER (WHERE expires_at < now() - interval '5 minutes') FROM revoked_jtis
UNION ALL SELECT 'codes', count(*), count(*) FILTER (WHERE expires_at < now() - interval '1 hour') FROM codes;
