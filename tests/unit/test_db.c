/*  Unit tests of the db class: SQLSTATE mapping (no server needed), and,
 *  against the PostgreSQL named by OSTIARY_TEST_DB, prepared statements,
 *  error statuses, and reconnection after the server drops the session.
 *  Without OSTIARY_TEST_DB the server tests are skipped. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    db_t *db;
    char schema[48];
} s_fixture_t;

//  --- no server needed -----------------------------------------------------

static void
test_db_maps_sqlstate (void **state)
{
    (void)state;
    assert_int_equal (db_status_from_sqlstate ("00000"), DB_OK);
    assert_int_equal (db_status_from_sqlstate ("23505"), DB_CONFLICT); //  unique_violation
    assert_int_equal (db_status_from_sqlstate ("23503"), DB_CONFLICT); //  foreign_key_violation
    assert_int_equal (db_status_from_sqlstate ("23514"), DB_CONFLICT); //  check_violation
    assert_int_equal (db_status_from_sqlstate ("40001"), DB_RETRY);    //  serialization_failure
    assert_int_equal (db_status_from_sqlstate ("40P01"), DB_RETRY);    //  deadlock_detected
    assert_int_equal (db_status_from_sqlstate ("40002"), DB_ERROR);    //  integrity, not retryable
    assert_int_equal (db_status_from_sqlstate ("08006"), DB_UNAVAILABLE);
    assert_int_equal (db_status_from_sqlstate ("08001"), DB_UNAVAILABLE);
    assert_int_equal (db_status_from_sqlstate ("57P01"), DB_UNAVAILABLE); //  admin_shutdown
    assert_int_equal (db_status_from_sqlstate ("57P03"), DB_UNAVAILABLE); //  cannot_connect_now
    assert_int_equal (db_status_from_sqlstate ("57014"), DB_ERROR);       //  query_canceled
    assert_int_equal (db_status_from_sqlstate ("53300"), DB_UNAVAILABLE); //  too_many_connections
    assert_int_equal (db_status_from_sqlstate ("53100"), DB_UNAVAILABLE); //  disk_full
    assert_int_equal (db_status_from_sqlstate ("42P01"), DB_ERROR);       //  undefined_table
    assert_int_equal (db_status_from_sqlstate ("22012"), DB_ERROR);       //  division_by_zero
    assert_int_equal (db_status_from_sqlstate (NULL), DB_ERROR);
    assert_int_equal (db_status_from_sqlstate (""), DB_ERROR);
    assert_int_equal (db_status_from_sqlstate ("2350"), DB_ERROR);
    assert_int_equal (db_status_from_sqlstate ("235050"), DB_ERROR);
}

static void
test_db_status_names_are_stable (void **state)
{
    (void)state;
    assert_string_equal (db_status_name (DB_OK), "ok");
    assert_string_equal (db_status_name (DB_NOT_FOUND), "not_found");
    assert_string_equal (db_status_name (DB_CONFLICT), "conflict");
    assert_string_equal (db_status_name (DB_RETRY), "retry");
    assert_string_equal (db_status_name (DB_UNAVAILABLE), "unavailable");
    assert_string_equal (db_status_name (DB_ERROR), "error");
    assert_string_equal (db_status_name ((db_status_t)99), "unknown");
}

//  Sends stderr to a temporary file until s_capture_end, which returns what
//  was written there (free it).
typedef struct {
    FILE *tmp;
    int saved;
} s_capture_t;

static void
s_capture_begin (s_capture_t *capture)
{
    fflush (stderr);
    capture->tmp = tmpfile ();
    assert_non_null (capture->tmp);
    capture->saved = dup (STDERR_FILENO);
    dup2 (fileno (capture->tmp), STDERR_FILENO);
}

static char *
s_capture_end (s_capture_t *capture)
{
    fflush (stderr);
    dup2 (capture->saved, STDERR_FILENO);
    close (capture->saved);
    fseek (capture->tmp, 0, SEEK_END);
    long size = ftell (capture->tmp);
    rewind (capture->tmp);
    char *text = calloc (1, (size_t)size + 1);
    assert_non_null (text);
    assert_int_equal (fread (text, 1, (size_t)size, capture->tmp), (size_t)size);
    fclose (capture->tmp);
    return text;
}

static char *
s_capture_stderr (const char *conninfo, db_t **db)
{
    s_capture_t capture;
    s_capture_begin (&capture);
    *db = db_new (conninfo);
    return s_capture_end (&capture);
}

static void
test_db_new_never_logs_the_connection_string (void **state)
{
    (void)state;
    //  Malformed: libpq's own message would quote the password.
    db_t *db = NULL;
    char *out = s_capture_stderr ("host=/nonexistent password hunter2", &db);
    assert_null (db);
    assert_non_null (strstr (out, "malformed"));
    assert_null (strstr (out, "hunter2"));
    free (out);
    //  Unreachable: the reason is logged, the password is not.
    out = s_capture_stderr ("host=/nonexistent-ostiary port=1 password=hunter2 connect_timeout=1", &db);
    assert_null (db);
    assert_non_null (strstr (out, "level=error"));
    assert_non_null (strstr (out, "cannot connect"));
    assert_null (strstr (out, "hunter2"));
    free (out);
    assert_null (db_new (NULL));
}

static void
test_db_bytea_text_is_backslash_x_and_hex (void **state)
{
    (void)state;
    const unsigned char buf[] = {0x00, 0x7f, 0xab, 0xff};
    char out[2 * sizeof buf + 3];
    db_bytea_text (buf, sizeof buf, out);
    assert_string_equal (out, "\\x007fabff");
    db_bytea_text (buf, 0, out);
    assert_string_equal (out, "\\x");
}

static void
test_db_null_arguments_are_errors (void **state)
{
    (void)state;
    PGresult *res = (PGresult *)1;
    assert_int_equal (db_exec (NULL, "x", 0, NULL, &res), DB_ERROR);
    assert_null (res);
    assert_int_equal (db_exec_sql (NULL, "SELECT 1"), DB_ERROR);
    assert_int_equal (db_begin (NULL), DB_ERROR);
    assert_int_equal (db_commit (NULL), DB_ERROR);
    db_rollback (NULL); //  logged, nothing else
    assert_int_equal (db_prepare (NULL, "x", "SELECT 1", 0), -1);
    assert_int_equal (db_check (NULL), DB_ERROR);
    assert_null (db_conn (NULL));
    db_t *db = NULL;
    db_destroy (&db);
    db_destroy (NULL);
}

//  --- against a server ----------------------------------------------------------

static int
s_setup (void **state)
{
    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    if (!conninfo || !*conninfo)
        return 0;
    fx->db = db_new (conninfo);
    assert_non_null (fx->db);
    char hex[17];
    unsigned char raw[8];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    secure_hex (raw, sizeof raw, hex);
    snprintf (fx->schema, sizeof fx->schema, "test_db_%s", hex);
    char sql[256];
    snprintf (sql, sizeof sql, "CREATE SCHEMA %s; CREATE TABLE %s.items (id int PRIMARY KEY, v text)",
              fx->schema, fx->schema);
    assert_int_equal (db_exec_sql (fx->db, sql), DB_OK);
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    if (fx->db) {
        db_rollback (fx->db);
        char sql[128];
        snprintf (sql, sizeof sql, "DROP SCHEMA %s CASCADE", fx->schema);
        assert_int_equal (db_exec_sql (fx->db, sql), DB_OK);
        db_destroy (&fx->db);
        assert_null (fx->db);
    }
    free (fx);
    return 0;
}

static db_t *
s_db (void **state)
{
    s_fixture_t *fx = *state;
    if (!fx->db)
        skip ();
    return fx->db;
}

//  Prepares the tests' statements against the fixture's schema.
static void
s_prepare (void **state)
{
    s_fixture_t *fx = *state;
    static char insert[128], select[128];
    snprintf (insert, sizeof insert, "INSERT INTO %s.items (id, v) VALUES ($1, $2)", fx->schema);
    snprintf (select, sizeof select, "SELECT v, v IS NULL FROM %s.items WHERE id = $1", fx->schema);
    assert_int_equal (db_prepare (fx->db, "items_insert", insert, 2), 0);
    assert_int_equal (db_prepare (fx->db, "items_get", select, 1), 0);
    assert_int_equal (db_prepare (fx->db, "backend_pid", "SELECT pg_backend_pid()", 0), 0);
}

static void
test_db_prepare_all_prepares_a_table_and_stops_at_a_bad_entry (void **state)
{
    db_t *db = s_db (state);
    static const db_stmt_t good[] = {{"all_one", "SELECT 1", 0, DB_STMT_READ},
                                     {"all_echo", "SELECT $1::text", 1, DB_STMT_READ}};
    assert_int_equal (db_prepare_all (db, good, 2), 0);
    const char *params[] = {"hi"};
    PGresult *res = NULL;
    assert_int_equal (db_exec (db, "all_echo", 1, params, &res), DB_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "hi");
    PQclear (res);
    //  A statement that does not parse fails the table; what came after it was never prepared.
    static const db_stmt_t bad[] = {{"all_two", "SELECT 2", 0, DB_STMT_READ},
                                    {"all_bad", "SELEKT nonsense", 0, DB_STMT_READ},
                                    {"all_after", "SELECT 3", 0, DB_STMT_READ}};
    assert_int_equal (db_prepare_all (db, bad, 3), -1);
    assert_int_equal (db_exec (db, "all_two", 0, NULL, &res), DB_OK);
    PQclear (res);
    res = NULL;
    assert_int_not_equal (db_exec (db, "all_after", 0, NULL, &res), DB_OK);
    PQclear (res);
    assert_int_equal (db_prepare_all (db, NULL, 1), -1);
    assert_int_equal (db_prepare_all (db, NULL, 0), 0);
}

static void
test_db_prepare_and_exec_returns_rows (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    assert_int_equal (PQstatus (db_conn (db)), CONNECTION_OK);
    const char *params[] = {"1", "hello"};
    PGresult *res = NULL;
    assert_int_equal (db_exec (db, "items_insert", 2, params, &res), DB_OK);
    assert_non_null (res);
    assert_string_equal (PQcmdTuples (res), "1");
    PQclear (res);
    const char *id[] = {"1"};
    assert_int_equal (db_exec (db, "items_get", 1, id, &res), DB_OK);
    assert_int_equal (PQntuples (res), 1);
    assert_string_equal (PQgetvalue (res, 0, 0), "hello");
    PQclear (res);
    //  No row is still DB_OK: not-found is the caller's call.
    const char *missing[] = {"2"};
    assert_int_equal (db_exec (db, "items_get", 1, missing, &res), DB_OK);
    assert_int_equal (PQntuples (res), 0);
    PQclear (res);
    //  The result pointer is optional.
    assert_int_equal (db_exec (db, "items_get", 1, id, NULL), DB_OK);
}

static void
test_db_null_param_is_sql_null (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    const char *params[] = {"3", NULL};
    assert_int_equal (db_exec (db, "items_insert", 2, params, NULL), DB_OK);
    PGresult *res = NULL;
    const char *id[] = {"3"};
    assert_int_equal (db_exec (db, "items_get", 1, id, &res), DB_OK);
    assert_true (PQgetisnull (res, 0, 0));
    assert_string_equal (PQgetvalue (res, 0, 1), "t");
    PQclear (res);
}

static void
test_db_unique_violation_is_conflict (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    const char *params[] = {"7", "first"};
    assert_int_equal (db_exec (db, "items_insert", 2, params, NULL), DB_OK);
    PGresult *res = (PGresult *)1;
    params[1] = "second";
    assert_int_equal (db_exec (db, "items_insert", 2, params, &res), DB_CONFLICT);
    assert_null (res);
    //  The connection is fine afterwards.
    assert_int_equal (db_exec_sql (db, "SELECT 1"), DB_OK);
}

static void
test_db_raised_sqlstates_map_to_statuses (void **state)
{
    db_t *db = s_db (state);
    const struct {
        const char *code;
        db_status_t status;
    } cases[] = {
        {"40001", DB_RETRY},    {"40P01", DB_RETRY}, {"53300", DB_UNAVAILABLE},
        {"23503", DB_CONFLICT}, {"22023", DB_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sql[128];
        snprintf (sql, sizeof sql, "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '%s'; END $$",
                  cases[i].code);
        assert_int_equal (db_exec_sql (db, sql), cases[i].status);
    }
    assert_int_equal (db_exec_sql (db, "SELECT 1/0"), DB_ERROR);
    assert_int_equal (db_exec_sql (db, "SELEC 1"), DB_ERROR);
    assert_int_equal (db_exec_sql (db, "SELECT 1; SELECT 2"), DB_OK);
}

static void
test_db_exec_refuses_unknown_statement_and_wrong_arity (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    PGresult *res = (PGresult *)1;
    assert_int_equal (db_exec (db, "never_prepared", 0, NULL, &res), DB_ERROR);
    assert_null (res);
    const char *one[] = {"1"};
    assert_int_equal (db_exec (db, "items_insert", 1, one, NULL), DB_ERROR);
    assert_int_equal (db_exec (db, "items_get", 1, NULL, NULL), DB_ERROR);
}

static void
test_db_prepare_refuses_duplicates_and_bad_sql (void **state)
{
    db_t *db = s_db (state);
    assert_int_equal (db_prepare (db, "one", "SELECT 1", 0), 0);
    assert_int_equal (db_prepare (db, "one", "SELECT 1", 0), -1);
    assert_int_equal (db_prepare (db, "broken", "SELEKT 1", 0), -1);
    assert_int_equal (db_prepare (db, "nope", "SELECT * FROM no_such_table_anywhere", 0), -1);
    //  A refused statement is not registered.
    assert_int_equal (db_exec (db, "broken", 0, NULL, NULL), DB_ERROR);
    assert_int_equal (db_exec (db, "one", 0, NULL, NULL), DB_OK);
}

static void
test_db_transactions_commit_and_roll_back (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    const char *a[] = {"10", "kept"}, *b[] = {"11", "dropped"};
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_exec (db, "items_insert", 2, a, NULL), DB_OK);
    assert_int_equal (db_commit (db), DB_OK);
    assert_int_equal (db_begin (db), DB_OK);
    assert_int_equal (db_exec (db, "items_insert", 2, b, NULL), DB_OK);
    db_rollback (db);
    PGresult *res = NULL;
    const char *ida[] = {"10"}, *idb[] = {"11"};
    assert_int_equal (db_exec (db, "items_get", 1, ida, &res), DB_OK);
    assert_int_equal (PQntuples (res), 1);
    PQclear (res);
    assert_int_equal (db_exec (db, "items_get", 1, idb, &res), DB_OK);
    assert_int_equal (PQntuples (res), 0);
    PQclear (res);
}

static int
s_backend_pid (db_t *db)
{
    PGresult *res = NULL;
    assert_int_equal (db_exec (db, "backend_pid", 0, NULL, &res), DB_OK);
    int pid = atoi (PQgetvalue (res, 0, 0));
    PQclear (res);
    return pid;
}

//  Ends a backend from another session, as an operator or a restart would,
//  and waits until it is gone.
static void
s_terminate (int pid)
{
    PGconn *admin = PQconnectdb (getenv ("OSTIARY_TEST_DB"));
    assert_int_equal (PQstatus (admin), CONNECTION_OK);
    char pidtext[16];
    snprintf (pidtext, sizeof pidtext, "%d", pid);
    const char *params[] = {pidtext};
    PGresult *res =
        PQexecParams (admin, "SELECT pg_terminate_backend($1::int, 5000)", 1, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "t");
    PQclear (res);
    PQfinish (admin);
}

static void
test_db_reconnects_after_the_server_drops_the_session (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    int pid = s_backend_pid (db);
    s_terminate (pid);
    //  The server ended the idle session (as a restart does): the next
    //  statement finds out before it runs, reconnects, prepares every
    //  statement again and succeeds, without an error in the log. A write:
    //  nothing of it had reached the server, so nothing runs twice.
    const char *params[] = {"20", "after"};
    s_capture_t capture;
    s_capture_begin (&capture);
    db_status_t st = db_exec (db, "items_insert", 2, params, NULL);
    char *out = s_capture_end (&capture);
    assert_int_equal (st, DB_OK);
    assert_null (strstr (out, "level=error"));
    free (out);
    assert_int_not_equal (s_backend_pid (db), pid);
    PGresult *res = NULL;
    const char *id[] = {"20"};
    assert_int_equal (db_exec (db, "items_get", 1, id, &res), DB_OK);
    assert_int_equal (PQntuples (res), 1);
    PQclear (res);
}

static void
test_db_check_reopens_a_connection_the_server_closed (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    assert_int_equal (db_check (db), DB_OK);
    int pid = s_backend_pid (db);
    s_terminate (pid);
    //  No statement runs: the look at the socket finds the end, and the
    //  connection is open again (with its statements) when db_check returns.
    assert_int_equal (db_check (db), DB_OK);
    assert_int_equal (PQstatus (db_conn (db)), CONNECTION_OK);
    assert_int_not_equal (s_backend_pid (db), pid);
    assert_int_equal (db_check (db), DB_OK);
    assert_int_equal (db_check (NULL), DB_ERROR);
}

static void
test_db_check_refuses_while_a_lost_transaction_is_open (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    assert_int_equal (db_begin (db), DB_OK);
    s_terminate (s_backend_pid (db));
    //  Inside a transaction the connection is not reset behind the caller's back.
    assert_int_equal (db_check (db), DB_UNAVAILABLE);
    assert_int_equal (db_check (db), DB_UNAVAILABLE);
    db_rollback (db);
    assert_int_equal (db_check (db), DB_OK);
}

//  A statement during which the link drops: it ends its own backend when it
//  runs on backend $1 (and so changes nothing on any other one).
#define DROPS_ON_PID                                                                                         \
    "SELECT CASE WHEN pg_backend_pid() = $1::int THEN pg_terminate_backend(pg_backend_pid()) END IS NULL"

static void
test_db_read_is_run_again_once_when_the_link_drops_under_it (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    db_stmt_t read = {"drops_read", DROPS_ON_PID, 1, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &read), 0);
    char pid[16];
    snprintf (pid, sizeof pid, "%d", s_backend_pid (db));
    const char *params[] = {pid};
    PGresult *res = NULL;
    assert_int_equal (db_exec (db, "drops_read", 1, params, &res), DB_OK);
    assert_non_null (res);
    assert_string_equal (PQgetvalue (res, 0, 0), "t");
    PQclear (res);
    assert_int_not_equal (s_backend_pid (db), atoi (pid));
}

static void
test_db_write_is_never_run_again_when_the_link_drops_under_it (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    db_stmt_t write = {"drops_write", DROPS_ON_PID, 1, DB_STMT_WRITE};
    assert_int_equal (db_prepare_stmt (db, &write), 0);
    char pid[16];
    snprintf (pid, sizeof pid, "%d", s_backend_pid (db));
    const char *params[] = {pid};
    PGresult *res = (PGresult *)1;
    //  The same statement declared a write: the caller hears of the loss.
    assert_int_equal (db_exec (db, "drops_write", 1, params, &res), DB_UNAVAILABLE);
    assert_null (res);
    //  The next call runs on the new connection.
    assert_int_equal (db_exec (db, "drops_write", 1, params, &res), DB_OK);
    PQclear (res);
    //  db_prepare declares a write too.
    assert_int_equal (db_prepare (db, "drops_plain", DROPS_ON_PID, 1), 0);
    snprintf (pid, sizeof pid, "%d", s_backend_pid (db));
    assert_int_equal (db_exec (db, "drops_plain", 1, params, NULL), DB_UNAVAILABLE);
}

static void
test_db_read_inside_a_transaction_is_not_run_again (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    db_stmt_t read = {"drops_read_tx", DROPS_ON_PID, 1, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &read), 0);
    char pid[16];
    snprintf (pid, sizeof pid, "%d", s_backend_pid (db));
    const char *params[] = {pid};
    assert_int_equal (db_begin (db), DB_OK);
    //  Running it on a new connection would run it outside the transaction.
    assert_int_equal (db_exec (db, "drops_read_tx", 1, params, NULL), DB_UNAVAILABLE);
    assert_int_equal (db_exec (db, "drops_read_tx", 1, params, NULL), DB_UNAVAILABLE);
    db_rollback (db);
    assert_int_equal (db_exec (db, "drops_read_tx", 1, params, NULL), DB_OK);
}

static void
test_db_prepare_stmt_checks_its_entry (void **state)
{
    db_t *db = s_db (state);
    db_stmt_t ok = {"stmt_ok", "SELECT $1::int + 1", 1, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &ok), 0);
    assert_int_equal (db_prepare_stmt (db, &ok), -1); //  prepared twice
    db_stmt_t bad_access = {"stmt_bad_access", "SELECT 1", 0, (db_access_t)7};
    assert_int_equal (db_prepare_stmt (db, &bad_access), -1);
    db_stmt_t no_name = {"", "SELECT 1", 0, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &no_name), -1);
    db_stmt_t no_sql = {"stmt_no_sql", NULL, 0, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &no_sql), -1);
    db_stmt_t negative = {"stmt_negative", "SELECT 1", -1, DB_STMT_READ};
    assert_int_equal (db_prepare_stmt (db, &negative), -1);
    assert_int_equal (db_prepare_stmt (db, NULL), -1);
    assert_int_equal (db_prepare_stmt (NULL, &ok), -1);
    const char *params[] = {"41"};
    PGresult *res = NULL;
    assert_int_equal (db_exec (db, "stmt_ok", 1, params, &res), DB_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "42");
    PQclear (res);
    assert_int_equal (db_exec (db, "stmt_bad_access", 0, NULL, NULL), DB_ERROR); //  never registered
}

static void
test_db_lost_transaction_fails_until_rollback (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    const char *a[] = {"30", "in lost tx"}, *b[] = {"31", "after the loss"};
    assert_int_equal (db_exec_sql (db, "BEGIN"), DB_OK);
    assert_int_equal (db_exec (db, "items_insert", 2, a, NULL), DB_OK);
    s_terminate (s_backend_pid (db));
    assert_int_equal (db_exec (db, "items_insert", 2, b, NULL), DB_UNAVAILABLE);
    //  What follows belongs to a transaction that no longer exists: it must
    //  not run in autocommit on a fresh connection.
    assert_int_equal (db_exec (db, "items_insert", 2, b, NULL), DB_UNAVAILABLE);
    assert_int_equal (db_exec_sql (db, "COMMIT"), DB_UNAVAILABLE);
    assert_int_equal (db_exec_sql (db, "ROLLBACK"), DB_OK);
    //  Nothing of the lost transaction survived, and the connection works.
    PGresult *res = NULL;
    const char *id[] = {"30"};
    assert_int_equal (db_exec (db, "items_get", 1, id, &res), DB_OK);
    assert_int_equal (PQntuples (res), 0);
    PQclear (res);
    assert_int_equal (db_exec (db, "items_insert", 2, b, NULL), DB_OK);
}

static void
test_db_lost_transaction_ends_at_next_begin (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    assert_int_equal (db_exec_sql (db, "BEGIN"), DB_OK);
    s_terminate (s_backend_pid (db));
    assert_int_equal (db_exec_sql (db, "SELECT 1"), DB_UNAVAILABLE);
    assert_int_equal (db_exec_sql (db, "SELECT 1"), DB_UNAVAILABLE);
    //  A new BEGIN starts a new unit of work on a fresh connection.
    assert_int_equal (db_exec_sql (db, "BEGIN"), DB_OK);
    const char *a[] = {"40", "new tx"};
    assert_int_equal (db_exec (db, "items_insert", 2, a, NULL), DB_OK);
    assert_int_equal (db_exec_sql (db, "COMMIT"), DB_OK);
}

static void
test_db_exec_logged_logs_the_failed_statement (void **state)
{
    (void)state;
    s_capture_t capture;
    s_capture_begin (&capture);
    PGresult *res = (PGresult *)1;
    db_status_t st = db_exec_logged (NULL, "some_statement", 0, NULL, &res);
    char *out = s_capture_end (&capture);
    assert_int_equal (st, DB_ERROR);
    assert_null (res);
    assert_non_null (strstr (out, "level=error"));
    assert_non_null (strstr (out, "some_statement: error"));
    free (out);
}

static void
test_db_exec_logged_runs_the_statement_quietly (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    const char *params[] = {"1", "hello"};
    const char *id[] = {"1"};
    s_capture_t capture;
    s_capture_begin (&capture);
    PGresult *res = NULL;
    db_status_t inserted = db_exec_logged (db, "items_insert", 2, params, NULL);
    db_status_t got = db_exec_logged (db, "items_get", 1, id, &res);
    db_status_t again = db_exec_logged (db, "items_insert", 2, params, NULL);
    char *out = s_capture_end (&capture);
    assert_int_equal (inserted, DB_OK);
    assert_int_equal (got, DB_OK);
    assert_int_equal (PQntuples (res), 1);
    assert_string_equal (PQgetvalue (res, 0, 0), "hello");
    PQclear (res);
    //  Only the failure (a duplicate key) is logged, under the statement's name.
    assert_int_equal (again, DB_CONFLICT);
    assert_non_null (strstr (out, "items_insert: conflict"));
    assert_null (strstr (out, "items_get"));
    free (out);
}

//  The pool's gauges and the statement histogram: a connection counts while
//  it is open; it is in use during a statement and from BEGIN to the end of
//  its transaction; each statement is timed under its name and status.
static void
test_db_metrics_count_connections_use_and_statements (void **state)
{
    db_t *db = s_db (state);
    s_prepare (state);
    double open = metrics_get (METRIC_DB_CONNECTIONS, NULL);
    assert_true (open >= 1);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
    const char *ok_labels[] = {"items_insert", "ok"}, *conflict_labels[] = {"items_insert", "conflict"};
    double ok_before = metrics_get (METRIC_DB_STATEMENT, ok_labels);
    double conflict_before = metrics_get (METRIC_DB_STATEMENT, conflict_labels);
    const char *a[] = {"20", "x"};
    assert_int_equal (db_begin (db), DB_OK);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 1);
    assert_int_equal (db_exec (db, "items_insert", 2, a, NULL), DB_OK);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 1);
    assert_int_equal (db_commit (db), DB_OK);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
    assert_int_equal (db_exec (db, "items_insert", 2, a, NULL), DB_CONFLICT);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
    assert_true (metrics_get (METRIC_DB_STATEMENT, ok_labels) == ok_before + 1);
    assert_true (metrics_get (METRIC_DB_STATEMENT, conflict_labels) == conflict_before + 1);
    assert_int_equal (db_begin (db), DB_OK);
    db_rollback (db);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
    //  A second connection counts while it lives.
    db_t *other = db_new (getenv ("OSTIARY_TEST_DB"));
    assert_non_null (other);
    assert_true (metrics_get (METRIC_DB_CONNECTIONS, NULL) == open + 1);
    assert_int_equal (db_begin (other), DB_OK);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 1);
    db_destroy (&other);
    assert_true (metrics_get (METRIC_DB_CONNECTIONS, NULL) == open);
    assert_true (metrics_get (METRIC_DB_IN_USE, NULL) == 0);
}

#define DB_TEST(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_db_maps_sqlstate),
        cmocka_unit_test (test_db_status_names_are_stable),
        cmocka_unit_test (test_db_new_never_logs_the_connection_string),
        cmocka_unit_test (test_db_bytea_text_is_backslash_x_and_hex),
        cmocka_unit_test (test_db_null_arguments_are_errors),
        cmocka_unit_test (test_db_exec_logged_logs_the_failed_statement),
        DB_TEST (test_db_exec_logged_runs_the_statement_quietly),
        DB_TEST (test_db_prepare_all_prepares_a_table_and_stops_at_a_bad_entry),
        DB_TEST (test_db_prepare_and_exec_returns_rows),
        DB_TEST (test_db_null_param_is_sql_null),
        DB_TEST (test_db_unique_violation_is_conflict),
        DB_TEST (test_db_raised_sqlstates_map_to_statuses),
        DB_TEST (test_db_exec_refuses_unknown_statement_and_wrong_arity),
        DB_TEST (test_db_prepare_refuses_duplicates_and_bad_sql),
        DB_TEST (test_db_transactions_commit_and_roll_back),
        DB_TEST (test_db_metrics_count_connections_use_and_statements),
        DB_TEST (test_db_reconnects_after_the_server_drops_the_session),
        DB_TEST (test_db_check_reopens_a_connection_the_server_closed),
        DB_TEST (test_db_check_refuses_while_a_lost_transaction_is_open),
        DB_TEST (test_db_read_is_run_again_once_when_the_link_drops_under_it),
        DB_TEST (test_db_write_is_never_run_again_when_the_link_drops_under_it),
        DB_TEST (test_db_read_inside_a_transaction_is_not_run_again),
        DB_TEST (test_db_prepare_stmt_checks_its_entry),
        DB_TEST (test_db_lost_transaction_fails_until_rollback),
        DB_TEST (test_db_lost_transaction_ends_at_next_begin),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
