/*  Unit tests of the migration runner against the PostgreSQL named by
 *  OSTIARY_TEST_DB (skipped without it). Each test uses a fresh service name,
 *  hence a fresh schema, and a fresh folder of migration files. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "secure.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    db_t *db;
    char service[32];
    char root[64];
    char dir[128];
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    if (!conninfo || !*conninfo)
        return 0;
    fx->db = db_new (conninfo);
    assert_non_null (fx->db);
    unsigned char raw[6];
    char hex[13];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    secure_hex (raw, sizeof raw, hex);
    snprintf (fx->service, sizeof fx->service, "test_mig_%s", hex);
    snprintf (fx->root, sizeof fx->root, "/tmp/ostiary-migrate-XXXXXX");
    assert_non_null (mkdtemp (fx->root));
    snprintf (fx->dir, sizeof fx->dir, "%s/%s", fx->root, fx->service);
    assert_int_equal (mkdir (fx->dir, 0700), 0);
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    if (fx->db) {
        char sql[128];
        snprintf (sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", fx->service);
        assert_int_equal (db_exec_sql (fx->db, sql), DB_OK);
        db_destroy (&fx->db);
        DIR *d = opendir (fx->dir);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[512];
            snprintf (path, sizeof path, "%s/%s", fx->dir, e->d_name);
            unlink (path);
        }
        if (d)
            closedir (d);
        rmdir (fx->dir);
        rmdir (fx->root);
    }
    free (fx);
    return 0;
}

static s_fixture_t *
s_fx (void **state)
{
    s_fixture_t *fx = *state;
    if (!fx->db)
        skip ();
    return fx;
}

static void
s_write (s_fixture_t *fx, const char *name, const char *text)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", fx->dir, name);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    assert_int_equal (fputs (text, f) >= 0, 1);
    fclose (f);
}

//  The value of a one-row, one-column query, as a long (-1 when NULL). fmt
//  may name the test's schema with up to two %s.
static long
s_scalar (s_fixture_t *fx, const char *fmt)
{
    char sql[512];
    snprintf (sql, sizeof sql, fmt, fx->service, fx->service);
    PGresult *res = PQexec (db_conn (fx->db), sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        fail_msg ("%s: %s", sql, PQresultErrorMessage (res));
    long v = PQgetisnull (res, 0, 0) ? -1 : atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return v;
}

static long
s_applied_count (s_fixture_t *fx)
{
    return s_scalar (fx, "SELECT count(*) FROM %s.schema_migrations");
}

static int
s_table_exists (s_fixture_t *fx, const char *table)
{
    char fmt[256];
    snprintf (fmt, sizeof fmt, "SELECT count(*) FROM pg_tables WHERE schemaname = '%%s' AND tablename = '%s'",
              table);
    return s_scalar (fx, fmt) == 1;
}

static int
s_schema_exists (s_fixture_t *fx)
{
    return s_scalar (fx, "SELECT count(*) FROM pg_namespace WHERE nspname = '%s'") == 1;
}

static void
test_migrate_applies_once_and_is_idempotent (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_init.sql",
             "-- the first migration\n"
             "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);\n"
             "INSERT INTO items VALUES (1, 'one');\n");
    s_write (fx, "002_more.sql",
             "ALTER TABLE items ADD COLUMN extra int;\nINSERT INTO items VALUES (2, 'two', 2);\n");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 2);
    assert_true (s_schema_exists (fx));
    assert_int_equal (s_applied_count (fx), 2);
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM %s.items"), 2);
    assert_int_equal (
        s_scalar (fx, "SELECT count(*) FROM %s.schema_migrations WHERE version = 1 AND name = 'init'"
                      " AND applied_at IS NOT NULL"),
        1);
    assert_int_equal (
        s_scalar (fx, "SELECT count(*) FROM %s.schema_migrations WHERE version = 2 AND name = 'more'"), 1);
    //  Running again applies nothing and changes nothing.
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 0);
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 0);
    assert_int_equal (s_applied_count (fx), 2);
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM %s.items"), 2);
}

static void
test_migrate_applies_new_files_later (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_init.sql", "CREATE TABLE a (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 1);
    s_write (fx, "002_b.sql", "CREATE TABLE b (x int);");
    s_write (fx, "003_c.sql", "CREATE TABLE c (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 2);
    assert_true (s_table_exists (fx, "b"));
    assert_true (s_table_exists (fx, "c"));
    assert_int_equal (s_applied_count (fx), 3);
}

static void
test_migrate_runs_files_in_the_service_schema (void **state)
{
    s_fixture_t *fx = s_fx (state);
    //  Unqualified names land in the service's schema, not in public.
    s_write (fx, "001_init.sql", "CREATE TABLE settings (name text PRIMARY KEY);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 1);
    assert_true (s_table_exists (fx, "settings"));
    assert_int_equal (s_scalar (fx,
                                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = "
                                "'settings'"),
                      0);
    //  SET LOCAL ends with the transaction: the session's path is unchanged.
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM (SELECT current_setting('search_path') AS p) s "
                                    "WHERE p LIKE '%%%s%%'"),
                      0);
}

static void
test_migrate_orders_by_number_and_allows_skipped_numbers (void **state)
{
    s_fixture_t *fx = s_fx (state);
    //  010 needs 002's table; 10 sorts after 2 only as a number.
    s_write (fx, "010_fill.sql", "INSERT INTO t VALUES (10);");
    s_write (fx, "002_t.sql", "CREATE TABLE t (x int);");
    s_write (fx, "README.md", "not a migration");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 2);
    assert_int_equal (s_scalar (fx, "SELECT max(x) FROM %s.t"), 10);
    assert_int_equal (s_scalar (fx, "SELECT max(version) FROM %s.schema_migrations"), 10);
}

static void
test_migrate_rejects_duplicate_numbers (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_a.sql", "CREATE TABLE a (x int);");
    s_write (fx, "001_b.sql", "CREATE TABLE b (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    //  Refused before anything was touched.
    assert_false (s_schema_exists (fx));
    //  Same number with different zero padding is still a duplicate.
    char path[512];
    snprintf (path, sizeof path, "%s/001_b.sql", fx->dir);
    unlink (path);
    s_write (fx, "1_b.sql", "CREATE TABLE b (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
}

static void
test_migrate_rejects_file_below_highest_applied (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_a.sql", "CREATE TABLE a (x int);");
    s_write (fx, "003_c.sql", "CREATE TABLE c (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 2);
    //  002 arrives after 003 was applied: forward-only refuses it, and
    //  refuses to apply 004 past the hole either.
    s_write (fx, "002_b.sql", "CREATE TABLE b (x int);");
    s_write (fx, "004_d.sql", "CREATE TABLE d (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    assert_false (s_table_exists (fx, "b"));
    assert_false (s_table_exists (fx, "d"));
    assert_int_equal (s_applied_count (fx), 2);
}

static void
test_migrate_rejects_renamed_applied_file (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_init.sql", "CREATE TABLE a (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 1);
    char path[512];
    snprintf (path, sizeof path, "%s/001_init.sql", fx->dir);
    unlink (path);
    s_write (fx, "001_other.sql", "CREATE TABLE other (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    assert_false (s_table_exists (fx, "other"));
}

static void
test_migrate_failing_file_rolls_back_and_is_not_recorded (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_ok.sql", "CREATE TABLE ok (x int);");
    s_write (fx, "002_bad.sql", "CREATE TABLE half (x int);\nSELECT 1/0;\n");
    s_write (fx, "003_after.sql", "CREATE TABLE after (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    assert_true (s_table_exists (fx, "ok"));
    //  The failed file left nothing behind, and nothing after it ran.
    assert_false (s_table_exists (fx, "half"));
    assert_false (s_table_exists (fx, "after"));
    assert_int_equal (s_applied_count (fx), 1);
    //  Fixed, it applies with what follows.
    s_write (fx, "002_bad.sql", "CREATE TABLE half (x int);\n");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 2);
    assert_int_equal (s_applied_count (fx), 3);
}

static void
test_migrate_rejects_misnamed_sql_files (void **state)
{
    s_fixture_t *fx = s_fx (state);
    const char *bad[] = {"init.sql",      "1-init.sql",       "001_.sql",
                         "001_in it.sql", "0000000001_x.sql", "a01_x.sql"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_write (fx, bad[i], "CREATE TABLE x (x int);");
        assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
        char path[512];
        snprintf (path, sizeof path, "%s/%s", fx->dir, bad[i]);
        unlink (path);
    }
    assert_false (s_schema_exists (fx));
}

static void
test_migrate_rejects_file_over_one_mebibyte (void **state)
{
    s_fixture_t *fx = s_fx (state);
    size_t size = 1024 * 1024 + 1;
    char *text = malloc (size + 1);
    assert_non_null (text);
    memset (text, ' ', size);
    memcpy (text, "SELECT 1;", 9);
    text[size] = '\0';
    s_write (fx, "001_big.sql", text);
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    //  Exactly 1 MiB is fine.
    text[size - 1] = '\0';
    s_write (fx, "001_big.sql", text);
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 1);
    free (text);
}

static void
test_migrate_rejects_bad_arguments (void **state)
{
    s_fixture_t *fx = s_fx (state);
    assert_int_equal (migrate_run (fx->db, fx->root, "Bad"), -1);
    assert_int_equal (migrate_run (fx->db, fx->root, "a;drop"), -1);
    assert_int_equal (migrate_run (fx->db, fx->root, "x\"y"), -1);
    assert_int_equal (migrate_run (fx->db, fx->root, NULL), -1);
    assert_int_equal (migrate_run (fx->db, NULL, fx->service), -1);
    assert_int_equal (migrate_run (NULL, fx->root, fx->service), -1);
    //  A service without a folder is a configuration error, not "nothing to do".
    assert_int_equal (migrate_run (fx->db, "/nonexistent-ostiary", fx->service), -1);
}

static void
test_migrate_empty_folder_creates_bookkeeping_only (void **state)
{
    s_fixture_t *fx = s_fx (state);
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 0);
    assert_true (s_schema_exists (fx));
    assert_int_equal (s_applied_count (fx), 0);
}

static void
test_migrate_releases_the_advisory_lock (void **state)
{
    s_fixture_t *fx = s_fx (state);
    s_write (fx, "001_a.sql", "CREATE TABLE a (x int);");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), 1);
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                                    "pg_backend_pid()"),
                      0);
    //  Also after a failure.
    s_write (fx, "002_bad.sql", "SELECT 1/0;");
    assert_int_equal (migrate_run (fx->db, fx->root, fx->service), -1);
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                                    "pg_backend_pid()"),
                      0);
}

#define RACERS 4

typedef struct {
    const s_fixture_t *fx;
    int result;
} s_racer_t;

static void *
s_race (void *arg)
{
    s_racer_t *racer = arg;
    db_t *db = db_new (getenv ("OSTIARY_TEST_DB"));
    racer->result = db ? migrate_run (db, racer->fx->root, racer->fx->service) : -2;
    db_destroy (&db);
    return NULL;
}

static void
test_migrate_concurrent_replicas_apply_each_file_once (void **state)
{
    s_fixture_t *fx = s_fx (state);
    //  The sleep widens the window in which replicas would collide without
    //  the lock; a second application of 001 would fail on CREATE TABLE.
    s_write (fx, "001_a.sql", "CREATE TABLE a (x int); SELECT pg_sleep(0.2);");
    s_write (fx, "002_b.sql", "INSERT INTO a VALUES (1);");
    pthread_t threads[RACERS];
    s_racer_t racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (s_racer_t){fx, -3};
        assert_int_equal (pthread_create (&threads[i], NULL, s_race, &racers[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join (threads[i], NULL);
        assert_true (racers[i].result >= 0);
        total += racers[i].result;
    }
    assert_int_equal (total, 2);
    assert_int_equal (s_applied_count (fx), 2);
    assert_int_equal (s_scalar (fx, "SELECT count(*) FROM %s.a"), 1);
}

#define M(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        M (test_migrate_applies_once_and_is_idempotent),
        M (test_migrate_applies_new_files_later),
        M (test_migrate_runs_files_in_the_service_schema),
        M (test_migrate_orders_by_number_and_allows_skipped_numbers),
        M (test_migrate_rejects_duplicate_numbers),
        M (test_migrate_rejects_file_below_highest_applied),
        M (test_migrate_rejects_renamed_applied_file),
        M (test_migrate_failing_file_rolls_back_and_is_not_recorded),
        M (test_migrate_rejects_misnamed_sql_files),
        M (test_migrate_rejects_file_over_one_mebibyte),
        M (test_migrate_rejects_bad_arguments),
        M (test_migrate_empty_folder_creates_bookkeeping_only),
        M (test_migrate_releases_the_advisory_lock),
        M (test_migrate_concurrent_replicas_apply_each_file_once),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
