/*  Unit tests of the audit record: the registry of common/audit.def, the
 *  checks every record passes (ownership, bounded printable texts, no member
 *  named like a secret), and the one shape's statements (insert, list with
 *  its filters and cursor, purge) against the PostgreSQL named by
 *  OSTIARY_TEST_DB, in a scratch schema; those are skipped without it. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

//  ------------------------------------------------------------ the registry

static void
test_every_event_has_a_name_an_owner_and_a_meaning (void **state)
{
    (void)state;
    for (int i = 0; i < AUDIT_EV_COUNT; i++) {
        const char *name = audit_event_name ((audit_event_t)i);
        assert_non_null (name);
        assert_int_equal (audit_event_find (name), i);
        const char *svc = audit_event_service ((audit_event_t)i);
        assert_true (!strcmp (svc, "flow") || !strcmp (svc, "token") || !strcmp (svc, "keys"));
        assert_true (strlen (audit_event_doc ((audit_event_t)i)) > 10);
    }
    assert_null (audit_event_name (AUDIT_EV_COUNT));
    assert_null (audit_event_service ((audit_event_t)-1));
    assert_int_equal (audit_event_find ("no_such_event"), -1);
    assert_int_equal (audit_event_find (NULL), -1);
    assert_string_equal (audit_event_service (AUDIT_EV_refresh_token_reuse), "token");
    assert_string_equal (audit_event_service (AUDIT_EV_lockout), "flow");
    assert_string_equal (audit_event_service (AUDIT_EV_key_rotate), "keys");
    assert_string_equal (audit_outcome_name (AUDIT_SUCCESS), "success");
    assert_string_equal (audit_outcome_name (AUDIT_FAILURE), "failure");
    assert_string_equal (audit_outcome_name (AUDIT_REFUSED), "refused");
    assert_null (audit_outcome_name ((audit_outcome_t)3));
}

//  ------------------------------------------------------------ audit_check

static void
test_a_record_of_its_own_event_passes (void **state)
{
    (void)state;
    json_t *details = json_pack ("{s:s, s:[s]}", "reason", "wrong_password", "scopes", "openid");
    audit_record_t r = {.event = AUDIT_EV_login_failed,
                        .outcome = AUDIT_FAILURE,
                        .actor = "user",
                        .subject = "sub-1",
                        .client_id = "rp",
                        .address = "203.0.113.9",
                        .details = details};
    char why[96] = "";
    assert_int_equal (audit_check (&r, "flow", why, sizeof why), 0);
    r.details = NULL;
    r.address = "";
    assert_int_equal (audit_check (&r, "flow", why, sizeof why), 0);
    json_decref (details);
}

static void
test_another_services_event_is_refused (void **state)
{
    (void)state;
    audit_record_t r = {.event = AUDIT_EV_code_replay, .outcome = AUDIT_REFUSED};
    char why[96] = "";
    assert_int_equal (audit_check (&r, "flow", why, sizeof why), -1);
    assert_string_equal (why, "event: owned by another service");
    assert_int_equal (audit_check (&r, "token", why, sizeof why), 0);
    r.event = AUDIT_EV_COUNT;
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    r.event = AUDIT_EV_code_replay;
    r.outcome = (audit_outcome_t)7;
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    assert_int_equal (audit_check (NULL, "token", why, sizeof why), -1);
}

static void
test_texts_must_be_bounded_and_printable (void **state)
{
    (void)state;
    char long_text[AUDIT_TEXT_MAX + 2];
    memset (long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    audit_record_t r = {.event = AUDIT_EV_client_add, .outcome = AUDIT_SUCCESS, .subject = long_text};
    char why[96];
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    assert_string_equal (why, "subject: too long or not printable");
    long_text[AUDIT_TEXT_MAX] = '\0';
    assert_int_equal (audit_check (&r, "token", why, sizeof why), 0);
    r.subject = "a\nb";
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    r.subject = NULL;
    r.address = "1.2.3.4\r";
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    assert_string_equal (why, "address: too long or not printable");
}

static void
test_details_naming_a_secret_are_refused_at_any_depth (void **state)
{
    (void)state;
    static const char *const names[] = {"password", "client_secret", "code", "refresh_token", "kek", "token"};
    char why[96];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *flat = json_pack ("{s:s}", names[i], "x");
        json_t *deep = json_pack ("{s:[{s:{s:s}}]}", "args", "inner", names[i], "x");
        audit_record_t r = {.event = AUDIT_EV_client_add, .outcome = AUDIT_SUCCESS, .details = flat};
        assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
        r.details = deep;
        assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
        json_decref (flat);
        json_decref (deep);
    }
    json_t *array = json_array ();
    audit_record_t r = {.event = AUDIT_EV_client_add, .outcome = AUDIT_SUCCESS, .details = array};
    assert_int_equal (audit_check (&r, "token", why, sizeof why), -1);
    assert_string_equal (why, "details: not an object");
    json_decref (array);
}

//  ------------------------------------------------------------ audit_follow

static void
test_the_follower_shows_each_id_once_and_waits_for_a_hole (void **state)
{
    (void)state;
    audit_follow_t *f = audit_follow_new (10, 1000);
    assert_non_null (f);
    assert_int_equal (audit_follow_cursor (f), 10);
    assert_false (audit_follow_fresh (f, 10, 0));
    //  12 is committed before 11.
    assert_true (audit_follow_fresh (f, 12, 0));
    audit_follow_settle (f, 0);
    assert_int_equal (audit_follow_cursor (f), 10);
    assert_true (audit_follow_fresh (f, 11, 500));
    assert_false (audit_follow_fresh (f, 12, 500));
    audit_follow_settle (f, 500);
    assert_int_equal (audit_follow_cursor (f), 12);
    assert_false (audit_follow_fresh (f, 11, 500));
    //  A hole that never fills (a rollback) is given up after settle_ms.
    assert_true (audit_follow_fresh (f, 14, 600));
    audit_follow_settle (f, 1599);
    assert_int_equal (audit_follow_cursor (f), 12);
    audit_follow_settle (f, 1600);
    assert_int_equal (audit_follow_cursor (f), 14);
    //  At most AUDIT_FOLLOW_MAX ids are kept: the lowest hole goes first.
    for (int64_t id = 16; id < 16 + 2 * (AUDIT_FOLLOW_MAX + 1); id += 2)
        assert_true (audit_follow_fresh (f, id, 2000));
    assert_true (audit_follow_cursor (f) > 14);
    audit_follow_destroy (&f);
    assert_null (f);
    audit_follow_destroy (&f);
}

//  ------------------------------------------------------------ against a server

//  The one shape in a scratch schema: the columns every service's migration
//  gives <schema>.audit_events.
#define SCHEMA "audit_unit"
static db_t *s_db;

static int
s_setup (void **state)
{
    (void)state;
    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    if (!conninfo || !*conninfo)
        return 0;
    s_db = db_new (conninfo);
    assert_non_null (s_db);
    assert_int_equal (db_exec_sql (s_db,
                                   "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE; CREATE SCHEMA " SCHEMA ";"
                                   "CREATE TABLE " SCHEMA ".audit_events (id bigint GENERATED ALWAYS AS "
                                   "IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), event text "
                                   "NOT NULL, actor text, subject text, client_id text, address text, "
                                   "trace_id text, outcome text NOT NULL, details jsonb NOT NULL)"),
                      DB_OK);
    static const db_stmt_t stmts[] = {
        {"t_insert", AUDIT_SQL_INSERT (SCHEMA), AUDIT_SQL_INSERT_PARAMS, DB_STMT_WRITE},
        {"t_list", AUDIT_SQL_LIST (SCHEMA), AUDIT_SQL_LIST_PARAMS, DB_STMT_READ},
        {"t_purge", AUDIT_SQL_PURGE (SCHEMA), AUDIT_SQL_PURGE_PARAMS, DB_STMT_WRITE},
    };
    assert_int_equal (db_prepare_all (s_db, stmts, 3), 0);
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    if (s_db)
        assert_int_equal (db_exec_sql (s_db, "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE"), DB_OK);
    db_destroy (&s_db);
    return 0;
}

static void
test_records_are_written_listed_in_order_and_paged (void **state)
{
    (void)state;
    if (!s_db)
        skip ();
    //  The owner of these events is token; the scratch schema stands in.
    log_set_context ("0123456789abcdef0123456789abcdef", "token.revoke");
    for (int i = 0; i < 5; i++) {
        char sub[16];
        snprintf (sub, sizeof sub, "sub-%d", i % 2);
        json_t *details = json_pack ("{s:i}", "n", i);
        audit_record_t r = {.event = i < 3 ? AUDIT_EV_token_revoked : AUDIT_EV_client_add,
                            .outcome = AUDIT_SUCCESS,
                            .actor = "client",
                            .subject = sub,
                            .client_id = "rp",
                            .address = "",
                            .details = details};
        assert_int_equal (audit_insert (s_db, "t_insert", "token", &r), DB_OK);
        json_decref (details);
    }
    //  Another service's event never reaches the table.
    audit_record_t wrong = {.event = AUDIT_EV_lockout, .outcome = AUDIT_REFUSED};
    assert_int_equal (audit_insert (s_db, "t_insert", "token", &wrong), DB_ERROR);
    log_set_context (NULL, NULL);

    audit_filter_t all = {.limit = 100};
    json_t *out = NULL;
    assert_int_equal (audit_list (s_db, "t_list", &all, &out), DB_OK);
    json_t *events = json_object_get (out, "events");
    assert_int_equal (json_array_size (events), 5);
    json_t *first = json_array_get (events, 0);
    assert_string_equal (json_string_value (json_object_get (first, "service")), SCHEMA);
    assert_string_equal (json_string_value (json_object_get (first, "event")), "token_revoked");
    assert_string_equal (json_string_value (json_object_get (first, "outcome")), "success");
    assert_string_equal (json_string_value (json_object_get (first, "client_id")), "rp");
    assert_true (json_is_null (json_object_get (first, "address")));
    const char *trace = json_string_value (json_object_get (first, "trace_id"));
    //  The trace id of the thread's request when the record was written.
    assert_string_equal (trace, "0123456789abcdef0123456789abcdef");
    assert_int_equal (strlen (json_string_value (json_object_get (first, "time"))), 27);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (first, "details"), "n")), 0);
    json_int_t last_id = json_integer_value (json_object_get (json_array_get (events, 4), "id"));
    assert_int_equal (json_integer_value (json_object_get (out, "cursor")), last_id);
    json_decref (out);

    //  Filters: event, subject; a page and the next from its cursor; the
    //  newest (last), still oldest first.
    audit_filter_t f = {.event = "token_revoked", .subject = "sub-0", .limit = 100};
    assert_int_equal (audit_list (s_db, "t_list", &f, &out), DB_OK);
    assert_int_equal (json_array_size (json_object_get (out, "events")), 2);
    json_decref (out);
    audit_filter_t page = {.limit = 2};
    assert_int_equal (audit_list (s_db, "t_list", &page, &out), DB_OK);
    page.cursor = json_integer_value (json_object_get (out, "cursor"));
    page.has_cursor = true;
    json_decref (out);
    assert_int_equal (audit_list (s_db, "t_list", &page, &out), DB_OK);
    events = json_object_get (out, "events");
    assert_int_equal (json_array_size (events), 2);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (events, 0), "id")),
                      page.cursor + 1);
    json_decref (out);
    audit_filter_t newest = {.limit = 2, .last = true};
    assert_int_equal (audit_list (s_db, "t_list", &newest, &out), DB_OK);
    events = json_object_get (out, "events");
    assert_int_equal (json_integer_value (json_object_get (json_array_get (events, 1), "id")), last_id);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (events, 0), "id")), last_id - 1);
    json_decref (out);
    //  Nothing after the last: no cursor.
    audit_filter_t after = {.limit = 10, .has_cursor = true, .cursor = last_id};
    assert_int_equal (audit_list (s_db, "t_list", &after, &out), DB_OK);
    assert_int_equal (json_array_size (json_object_get (out, "events")), 0);
    assert_null (json_object_get (out, "cursor"));
    json_decref (out);
    //  since/until in seconds since the epoch.
    audit_filter_t future = {.limit = 10, .has_since = true, .since = 4000000000};
    assert_int_equal (audit_list (s_db, "t_list", &future, &out), DB_OK);
    assert_int_equal (json_array_size (json_object_get (out, "events")), 0);
    json_decref (out);
    audit_filter_t past = {.limit = 10, .has_until = true, .until = 1000000000};
    assert_int_equal (audit_list (s_db, "t_list", &past, &out), DB_OK);
    assert_int_equal (json_array_size (json_object_get (out, "events")), 0);
    json_decref (out);
}

static void
test_purge_deletes_only_old_events_in_batches (void **state)
{
    (void)state;
    if (!s_db)
        skip ();
    assert_int_equal (db_exec_sql (s_db, "TRUNCATE " SCHEMA ".audit_events;"
                                         "INSERT INTO " SCHEMA ".audit_events (at, event, outcome, details)"
                                         " SELECT now() - interval '40 days', 'client_add', 'success', '{}'"
                                         " FROM generate_series(1, 5);"
                                         "INSERT INTO " SCHEMA ".audit_events (event, outcome, details)"
                                         " VALUES ('client_add', 'success', '{}')"),
                      DB_OK);
    int deleted = 0;
    assert_int_equal (audit_purge (s_db, "t_purge", 30, 2, &deleted), DB_OK);
    assert_int_equal (deleted, 2);
    assert_int_equal (audit_purge (s_db, "t_purge", 30, 10, &deleted), DB_OK);
    assert_int_equal (deleted, 3);
    assert_int_equal (audit_purge (s_db, "t_purge", 30, 10, &deleted), DB_OK);
    assert_int_equal (deleted, 0);
    json_t *out = NULL;
    audit_filter_t all = {.limit = 100};
    assert_int_equal (audit_list (s_db, "t_list", &all, &out), DB_OK);
    assert_int_equal (json_array_size (json_object_get (out, "events")), 1);
    json_decref (out);
}

//  The ids of one audit_list page from cursor, each offered to the follower;
//  appends those it shows to shown (a JSON array of ids).
static void
s_poll (audit_follow_t *f, json_t *shown, int64_t now_ms)
{
    audit_filter_t filter = {.limit = 100, .has_cursor = true, .cursor = audit_follow_cursor (f)};
    json_t *out = NULL;
    assert_int_equal (audit_list (s_db, "t_list", &filter, &out), DB_OK);
    size_t i;
    json_t *event;
    json_array_foreach (json_object_get (out, "events"), i, event)
    {
        json_int_t id = json_integer_value (json_object_get (event, "id"));
        if (audit_follow_fresh (f, id, now_ms))
            json_array_append_new (shown, json_integer (id));
    }
    json_decref (out);
    audit_follow_settle (f, now_ms);
}

static void
test_following_shows_an_event_committed_after_a_later_one (void **state)
{
    (void)state;
    if (!s_db)
        skip ();
    assert_int_equal (db_exec_sql (s_db, "TRUNCATE " SCHEMA ".audit_events RESTART IDENTITY"), DB_OK);
    audit_follow_t *f = audit_follow_new (0, 30000);
    json_t *shown = json_array ();
    //  Another writer takes id N in a transaction it has not committed ...
    db_t *other = db_new (getenv ("OSTIARY_TEST_DB"));
    assert_non_null (other);
    assert_int_equal (db_exec_sql (other,
                                   "BEGIN; INSERT INTO " SCHEMA ".audit_events (event, outcome, details)"
                                   " VALUES ('client_add', 'success', '{}')"),
                      DB_OK);
    //  ... while N+1 is committed and listed first.
    assert_int_equal (db_exec_sql (s_db, "INSERT INTO " SCHEMA ".audit_events (event, outcome, details)"
                                         " VALUES ('client_add', 'success', '{}')"),
                      DB_OK);
    s_poll (f, shown, 0);
    assert_int_equal (json_array_size (shown), 1);
    json_int_t later = json_integer_value (json_array_get (shown, 0));
    assert_int_equal (db_exec_sql (other, "COMMIT"), DB_OK);
    s_poll (f, shown, 1000);
    s_poll (f, shown, 2000);
    //  N is shown, once, and N+1 not again.
    assert_int_equal (json_array_size (shown), 2);
    assert_int_equal (json_integer_value (json_array_get (shown, 1)), later - 1);
    assert_int_equal (audit_follow_cursor (f), later);
    db_destroy (&other);
    json_decref (shown);
    audit_follow_destroy (&f);
}

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_event_has_a_name_an_owner_and_a_meaning),
        cmocka_unit_test (test_a_record_of_its_own_event_passes),
        cmocka_unit_test (test_another_services_event_is_refused),
        cmocka_unit_test (test_texts_must_be_bounded_and_printable),
        cmocka_unit_test (test_details_naming_a_secret_are_refused_at_any_depth),
        cmocka_unit_test (test_records_are_written_listed_in_order_and_paged),
        cmocka_unit_test (test_purge_deletes_only_old_events_in_batches),
        cmocka_unit_test (test_the_follower_shows_each_id_once_and_waits_for_a_hole),
        cmocka_unit_test (test_following_shows_an_event_committed_after_a_later_one),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
