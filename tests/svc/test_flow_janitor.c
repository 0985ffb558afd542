/*  flow-svc's janitor at scale: every statement of its round walks an index
 *  (generic and custom plans), on tables that hold what a busy deployment
 *  holds, so that a batch costs what it deletes and not the table. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "flow-svc/flow_store.h"
#include "ost.h"
#include "svc_harness.h"

#include <stdlib.h>

static void
test_every_janitor_statement_walks_an_index (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  Many users' worth in miniature: 40,000 sessions over 30 days (a tenth
    //  ended, some told), 60,000 executions (mostly finished), 20,000 action
    //  tokens and 40,000 outbox rows (mostly delivered).
    svc_sql_exec (svc_h,
                  "INSERT INTO flow.users (sub, username) SELECT 'plans-user-' || lpad(i::text, 12, '0'),"
                  " 'plans-' || i FROM generate_series(1, 2000) i");
    svc_sql_exec (
        svc_h,
        "INSERT INTO flow.sessions (sid, handle_hash, sub, auth_time, amr, created_at, expires_at,"
        " revoked_at, logout_queued_at)"
        " SELECT 'plans-session-' || lpad(i::text, 12, '0'), sha256(int8send(i)),"
        " 'plans-user-' || lpad((1 + i %% 2000)::text, 12, '0'), c, '[\"pwd\"]', c, c + interval '1 day',"
        " CASE WHEN i %% 10 = 3 THEN c + interval '1 hour' END,"
        " CASE WHEN i %% 10 = 5 AND c + interval '1 day' < now() THEN c + interval '1 day' END"
        " FROM generate_series(1, 40000) i, LATERAL (SELECT now() - interval '30 days' * (1 - i / 40000.0) "
        "AS c) x");
    svc_sql_exec (
        svc_h,
        "INSERT INTO flow.executions (handle_hash, flow_name, flow_version, node, context, status, csrf,"
        " created_at, updated_at, expires_at)"
        " SELECT sha256(int8send(-i)), 'password_login', 1, 'password', '{}',"
        " (ARRAY['active', 'succeeded', 'succeeded', 'failed', 'expired'])[1 + i %% 5],"
        " repeat('a', 43), c, c + interval '2 minutes', c + interval '10 minutes'"
        " FROM generate_series(1, 60000) i, LATERAL (SELECT now() - interval '30 days' * (1 - i / "
        "60000.0) AS c) x");
    svc_sql_exec (svc_h,
                  "INSERT INTO flow.action_tokens (hash, purpose, execution_id, node, created_at, expires_at)"
                  " SELECT sha256(int8send(id) || 'a'), 'magic_link', id, 'n', updated_at, updated_at + "
                  "interval '15 minutes'"
                  " FROM flow.executions ORDER BY id DESC LIMIT 20000");
    svc_sql_exec (svc_h,
                  "INSERT INTO flow.outbox (kind, payload, status, created_at, sent_at)"
                  " SELECT 'email', NULL,"
                  " CASE WHEN i %% 20 < 2 THEN 'dead' ELSE 'sent' END, c,"
                  " CASE WHEN i %% 20 > 1 THEN c + interval '1 second' END"
                  " FROM generate_series(1, 40000) i, LATERAL (SELECT now() - interval '30 days' * (1 - "
                  "i / 40000.0) AS c) x");
    svc_sql_exec (svc_h,
                  "ANALYZE flow.users, flow.sessions, flow.executions, flow.action_tokens, flow.outbox");

    db_t *db = db_new (getenv ("OSTIARY_TEST_DB"));
    assert_non_null (db);
    assert_int_equal (flow_store_prepare (db), 0);
    //  Every statement of the janitor's round, with its parameters (a batch
    //  of 500, 7 days of retention).
    static const char *const statements[] = {"flow_exec_expire(500)",
                                             "flow_session_expire(500)",
                                             "flow_action_sweep(500)",
                                             "flow_purge_executions(500, 604800)",
                                             "flow_purge_sessions(500, 604800)",
                                             "flow_purge_outbox(500, 604800)"};
    int bad = svc_seq_scans (db, statements, sizeof statements / sizeof statements[0]);
    db_destroy (&db);
    svc_sql_exec (svc_h,
                  "DELETE FROM flow.outbox WHERE kind = 'email' AND created_at < now() - interval '1 hour'");
    svc_sql_exec (svc_h, "DELETE FROM flow.executions WHERE handle_hash IN (SELECT sha256(int8send(-i))"
                         " FROM generate_series(1, 60000) i)");
    svc_sql_exec (svc_h, "DELETE FROM flow.users WHERE sub LIKE 'plans-user-%%'");
    assert_int_equal (bad, 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_janitor_statement_walks_an_index),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
