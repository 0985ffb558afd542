/*  token-svc's janitor in-process (tests/svc/svc_harness.h): one round works
 *  off a backlog larger than many batches and deletes every row that can no
 *  longer matter and no other; and each purge statement finds its rows
 *  through an index on tables with realistic statistics (tens of thousands
 *  of rows, ANALYZEd), with the plans the janitor's connection uses (generic)
 *  and those of any other (custom). Rows are written with SQL, as the
 *  service would have written them, their times in the past. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "ost.h"
#include "svc_harness.h"
#include "token-svc/janitor.h"
#include "token-svc/token_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Rows per kind of dead row: more than a round of the old janitor could
//  delete at this batch size (20 batches per kind and round).
#define BATCH 100
#define DEAD 3000

static void
s_client (const char *id)
{
    svc_sql_exec (
        svc_h,
        "INSERT INTO token.clients (client_id, name, type, secret_hash, redirect_uris, grant_types,"
        " response_types, scopes, token_endpoint_auth_method, id_token_alg, first_party)"
        " VALUES ('%s', 'janitor test', 'confidential', sha256('%s'), '[\"https://rp.example/cb\"]',"
        " '[\"authorization_code\",\"refresh_token\"]', '[\"code\"]', '[\"openid\"]',"
        " 'client_secret_basic', 'ES256', true)",
        id, id);
}

//  n families of client, sub, created and last used the given intervals
//  ago, revoked that long ago (NULL: not revoked); two refresh tokens each
//  and one access token's jti expiring jti_exp from now (NULL: none).
static void
s_families (const char *client, const char *sub, int n, const char *created, const char *used,
            const char *revoked, const char *jti_exp)
{
    char revoked_sql[96] = "NULL";
    if (revoked)
        snprintf (revoked_sql, sizeof revoked_sql, "now() - interval '%s'", revoked);
    svc_sql_exec (
        svc_h,
        "WITH f AS (INSERT INTO token.refresh_families (client_id, sub, auth_time, amr, scopes,"
        " created_at, last_used_at, idle_mark, revoked_at)"
        " SELECT '%s', '%s', 0, '[\"pwd\"]', '[\"openid\"]', now() - interval '%s',"
        " now() - interval '%s', now() - interval '%s', %s FROM generate_series(1, %d) RETURNING id),"
        " t AS (INSERT INTO token.refresh_tokens (token_hash, family_id)"
        " SELECT sha256(int8send(id) || int4send(k)), id FROM f, generate_series(1, 2) k)"
        " INSERT INTO token.family_jtis (jti, family_id, expires_at)"
        " SELECT '%s-' || id, id, now() + interval '%s' FROM f WHERE %d = 1",
        client, sub, created, used, used, revoked_sql, n, sub, jti_exp ? jti_exp : "0 s", jti_exp ? 1 : 0);
}

static long
s_count (const char *sql)
{
    return svc_sql_long (svc_h, "%s", sql);
}

static void
test_one_round_deletes_every_dead_row_and_no_live_one (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_client ("jan");
    //  Dead families: revoked over an hour ago, past the absolute lifetime
    //  (30 days), idle past the idle timeout (14 days) by more than the
    //  hour's margin and idle_mark's slack (a day at this timeout); their
    //  access tokens long expired.
    s_families ("jan", "dead-revoked", DEAD / 3, "2 days", "1 day", "2 hours", "-1 hour");
    s_families ("jan", "dead-old", DEAD / 3, "31 days", "1 day", NULL, "-1 day");
    s_families ("jan", "dead-idle", DEAD / 3, "20 days", "16 days", NULL, NULL);
    //  Live: in use; revoked but with an access token still unexpired (a
    //  revocation of its user must still find it); idle just under the
    //  timeout; past the lifetime by less than the hour's margin.
    s_families ("jan", "keep-live", 500, "1 day", "1 hour", NULL, "10 minutes");
    s_families ("jan", "keep-issuing", 50, "1 day", "1 hour", "2 hours", "10 minutes");
    s_families ("jan", "keep-idle", 50, "20 days", "13 days", NULL, NULL);
    s_families ("jan", "keep-margin", 50, "30 days 30 minutes", "1 hour", NULL, NULL);
    //  Expired jtis of live families (the access tokens of older rotations).
    svc_sql_exec (svc_h, "INSERT INTO token.family_jtis (jti, family_id, expires_at)"
                         " SELECT 'dead-jti-' || id, id, now() - interval '10 minutes'"
                         " FROM token.refresh_families WHERE sub = 'keep-live'");
    //  Revocations: of tokens expired beyond the 5-minute leeway, within
    //  it, and live.
    svc_sql_exec (svc_h,
                  "INSERT INTO token.revoked_jtis (jti, expires_at, reason) SELECT 'dead-' || i,"
                  " now() - interval '10 minutes', 'test' FROM generate_series(1, %d) i",
                  DEAD);
    svc_sql_exec (svc_h, "INSERT INTO token.revoked_jtis (jti, expires_at, reason) SELECT 'keep-' || i,"
                         " now() - interval '1 minute' + (i %% 2) * interval '1 hour', 'test'"
                         " FROM generate_series(1, 200) i");
    //  Codes: expired over an hour ago; the same but whose access token is
    //  still unexpired (a replay must still find it to revoke); unexpired.
    svc_sql_exec (
        svc_h,
        "INSERT INTO token.codes (code_hash, client_id, redirect_uri, redirect_uri_sent, scopes, sub,"
        " auth_time, amr, expires_at, issued_jti, issued_exp)"
        " SELECT sha256(int8send(i)), 'jan', 'https://rp.example/cb', true, '[]',"
        " CASE WHEN i <= %d THEN 'dead' ELSE 'keep' END, 0, '[]',"
        " CASE WHEN i <= %d + 100 THEN now() - interval '2 hours' ELSE now() + interval '1 minute' END,"
        " CASE WHEN i > %d THEN 'j' || i END,"
        " CASE WHEN i > %d THEN now() + interval '10 minutes' END"
        " FROM generate_series(1, %d + 200) i",
        DEAD, DEAD, DEAD, DEAD, DEAD);
    svc_sql_exec (svc_h,
                  "INSERT INTO token.authz_requests (id_hash, client_id, redirect_uri, redirect_uri_sent,"
                  " response_mode, state, scopes, details, expires_at)"
                  " SELECT sha256(int8send(i)), 'jan', 'https://rp.example/cb', true, 'query',"
                  " CASE WHEN i <= %d THEN 'dead' ELSE 'keep' END, '[]', '{}',"
                  " CASE WHEN i <= %d THEN now() - interval '2 hours' ELSE now() + interval '5 minutes' END"
                  " FROM generate_series(1, %d + 100) i",
                  DEAD, DEAD, DEAD);
    //  Subject markers past the lifetime plus two hours, and recent ones.
    svc_sql_exec (
        svc_h,
        "INSERT INTO token.subject_revocations (sub, revoked_at, reason)"
        " SELECT CASE WHEN i <= %d THEN 'dead-' ELSE 'keep-' END || i,"
        " CASE WHEN i <= %d THEN now() - interval '30 days 3 hours' ELSE now() - interval '1 day' END,"
        " 'test' FROM generate_series(1, %d + 100) i",
        DEAD, DEAD, DEAD);
    svc_sql_exec (svc_h, "ANALYZE token.refresh_families, token.refresh_tokens, token.family_jtis,"
                         " token.revoked_jtis, token.codes, token.authz_requests, token.subject_revocations");

    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    config_t *cfg = config_new ();
    assert_non_null (cfg);
    const char *why = NULL;
    assert_int_equal (config_set (cfg, "OSTIARY_DB", conninfo, &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_JANITOR_INTERVAL", "86400", &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_JANITOR_BATCH", "100", &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_JANITOR_DUTY", "50", &why), 0);
    token_janitor_t *janitor = token_janitor_new (cfg);
    assert_non_null (janitor);
    //  Its first round starts at once; the next one would be a day later.
    for (int i = 0; i < 1200 && token_janitor_rounds (janitor) < 1; i++)
        usleep (50000);
    long rounds = token_janitor_rounds (janitor);
    token_janitor_destroy (&janitor);
    config_destroy (&cfg);
    assert_int_equal (rounds, 1);

    //  Everything dead is gone...
    assert_int_equal (s_count ("SELECT count(*) FROM token.refresh_families WHERE sub LIKE 'dead-%'"), 0);
    assert_int_equal (s_count ("SELECT count(*) FROM token.refresh_tokens t JOIN token.refresh_families f"
                               " ON f.id = t.family_id WHERE f.sub LIKE 'dead-%'"),
                      0);
    assert_int_equal (
        s_count ("SELECT count(*) FROM token.family_jtis WHERE expires_at < now() - interval '5 minutes'"),
        0);
    assert_int_equal (s_count ("SELECT count(*) FROM token.revoked_jtis WHERE jti LIKE 'dead-%'"), 0);
    assert_int_equal (s_count ("SELECT count(*) FROM token.codes WHERE sub = 'dead'"), 0);
    assert_int_equal (s_count ("SELECT count(*) FROM token.authz_requests WHERE state = 'dead'"), 0);
    assert_int_equal (s_count ("SELECT count(*) FROM token.subject_revocations WHERE sub LIKE 'dead-%'"), 0);
    //  ... and nothing live was touched.
    assert_int_equal (s_count ("SELECT count(*) FROM token.refresh_families WHERE sub LIKE 'keep-%'"), 650);
    assert_int_equal (s_count ("SELECT count(*) FROM token.refresh_tokens t JOIN token.refresh_families f"
                               " ON f.id = t.family_id WHERE f.sub LIKE 'keep-%'"),
                      1300);
    assert_int_equal (s_count ("SELECT count(*) FROM token.family_jtis WHERE jti LIKE 'keep-%'"), 550);
    assert_int_equal (s_count ("SELECT count(*) FROM token.revoked_jtis WHERE jti LIKE 'keep-%'"), 200);
    assert_int_equal (s_count ("SELECT count(*) FROM token.codes WHERE sub = 'keep'"), 200);
    assert_int_equal (s_count ("SELECT count(*) FROM token.authz_requests WHERE state = 'keep'"), 100);
    assert_int_equal (s_count ("SELECT count(*) FROM token.subject_revocations WHERE sub LIKE 'keep-%'"),
                      100);
}

static void
test_every_purge_walks_an_index (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  A busy deployment's tables in miniature: 50,000 families over the
    //  last 30 days, mostly live; three refresh tokens and a jti each;
    //  revocations, codes, requests, subject markers and audit events by
    //  the thousand.
    s_client ("plans");
    svc_sql_exec (
        svc_h,
        "WITH f AS (INSERT INTO token.refresh_families (client_id, sub, auth_time, amr, scopes, created_at,"
        " last_used_at, idle_mark, revoked_at)"
        " SELECT 'plans', 'u' || (i %% 5000), 0, '[]', '[]', c, u, u,"
        " CASE WHEN i %% 50 = 7 THEN greatest(c, now() - random() * interval '5 days') END"
        " FROM generate_series(1, 50000) i,"
        " LATERAL (SELECT now() - interval '30 days' * (1 - i / 50000.0) AS c) x,"
        " LATERAL (SELECT greatest(c, now() - random() * interval '13 days') AS u) y RETURNING id, "
        "last_used_at),"
        " t AS (INSERT INTO token.refresh_tokens (token_hash, family_id)"
        " SELECT sha256(int8send(id) || int4send(k)), id FROM f, generate_series(1, 3) k)"
        " INSERT INTO token.family_jtis (jti, family_id, expires_at)"
        " SELECT 'p-' || id, id, last_used_at + interval '10 minutes' FROM f");
    svc_sql_exec (svc_h,
                  "INSERT INTO token.revoked_jtis (jti, expires_at, reason) SELECT 'p-' || i,"
                  " now() + (random() - 0.1) * interval '1 day', 'test' FROM generate_series(1, 50000) i");
    svc_sql_exec (svc_h,
                  "INSERT INTO token.codes (code_hash, client_id, redirect_uri, redirect_uri_sent, scopes,"
                  " sub, auth_time, amr, expires_at) SELECT sha256(int8send(-i)), 'plans', 'x', true, '[]',"
                  " 'u', 0, '[]', now() + (random() - 0.1) * interval '1 day'"
                  " FROM generate_series(1, 20000) i");
    svc_sql_exec (svc_h,
                  "INSERT INTO token.authz_requests (id_hash, client_id, redirect_uri, redirect_uri_sent,"
                  " response_mode, scopes, details, expires_at) SELECT sha256(int8send(-i)), 'plans', 'x',"
                  " true, 'query', '[]', '{}', now() + (random() - 0.1) * interval '1 day'"
                  " FROM generate_series(1, 20000) i");
    svc_sql_exec (svc_h, "INSERT INTO token.subject_revocations (sub, revoked_at, reason) SELECT 'p-' || i,"
                         " now() - random() * interval '40 days', 'test' FROM generate_series(1, 20000) i");
    svc_sql_exec (svc_h,
                  "INSERT INTO token.audit_events (at, event, actor, outcome)"
                  " SELECT now() - random() * interval '400 days', 'refresh_token_reuse', 'client', 'refused'"
                  " FROM generate_series(1, 20000) i");
    svc_sql_exec (svc_h, "ANALYZE token.refresh_families, token.refresh_tokens, token.family_jtis,"
                         " token.revoked_jtis, token.codes, token.authz_requests, token.subject_revocations,"
                         " token.audit_events");

    db_t *db = db_new (getenv ("OSTIARY_TEST_DB"));
    assert_non_null (db);
    assert_int_equal (token_store_prepare (db), 0);
    //  The purge statements by name, with their parameters.
    static const char *const purges[] = {"token_purge_requests(500)",
                                         "token_purge_codes(500)",
                                         "token_purge_revoked(500)",
                                         "token_purge_family_jtis(500)",
                                         "token_purge_families(500, 2592000, 1209600)",
                                         "token_purge_subjects(500, 2592000)",
                                         "token_audit_purge(365, 500)"};
    int bad = svc_seq_scans (db, purges, sizeof purges / sizeof purges[0]);
    db_destroy (&db);
    assert_int_equal (bad, 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_one_round_deletes_every_dead_row_and_no_live_one),
        cmocka_unit_test (test_every_purge_walks_an_index),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
