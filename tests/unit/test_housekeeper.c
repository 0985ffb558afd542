/*  Unit tests of the housekeeper thread: rounds on a connection of its own,
 *  wake, reconnection after a failed round, an unreachable database, and
 *  clean stops. The tests that need a server use OSTIARY_TEST_DB and are
 *  skipped without it. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "housekeeper.h"
#include "log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    atomic_int rounds;   //  calls of the round function
    atomic_int prepares; //  calls of the prepare function
    int fail_first;      //  the first round answers DB_ERROR
} s_probe_t;

static int
s_prepare (db_t *db)
{
    (void)db;
    return 0;
}

static s_probe_t *s_current;

static int
s_counting_prepare (db_t *db)
{
    atomic_fetch_add (&s_current->prepares, 1);
    return s_prepare (db);
}

static db_status_t
s_round (db_t *db, void *arg)
{
    s_probe_t *probe = arg;
    int n = atomic_fetch_add (&probe->rounds, 1);
    if (probe->fail_first && n == 0)
        return DB_ERROR;
    //  The connection is a live one.
    return db_exec_sql (db, "SELECT 1");
}

//  Waits up to ms milliseconds for housekeeper_rounds to reach n.
static int
s_wait_rounds (housekeeper_t *hk, long n, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (housekeeper_rounds (hk) >= n)
            return 1;
        usleep (10000);
    }
    return housekeeper_rounds (hk) >= n;
}

static const char *
s_server (void)
{
    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    return conninfo && *conninfo ? conninfo : NULL;
}

static void
test_first_round_at_once_and_wake_runs_the_next_now (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    s_probe_t probe = {0};
    housekeeper_cfg_t cfg = {.name = "test",
                             .conninfo = s_server (),
                             .interval_s = 3600,
                             .prepare = s_prepare,
                             .round = s_round,
                             .arg = &probe};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    assert_true (s_wait_rounds (hk, 1, 5000));
    assert_int_equal (atomic_load (&probe.rounds), 1);
    //  The interval is an hour: only the wake can bring the second round.
    housekeeper_wake (hk);
    assert_true (s_wait_rounds (hk, 2, 5000));
    assert_int_equal (atomic_load (&probe.rounds), 2);
    housekeeper_destroy (&hk);
    assert_null (hk);
}

static void
test_failed_round_makes_a_new_connection (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    s_probe_t probe = {.fail_first = 1};
    s_current = &probe;
    housekeeper_cfg_t cfg = {.conninfo = s_server (),
                             .interval_s = 3600,
                             .prepare = s_counting_prepare,
                             .round = s_round,
                             .arg = &probe};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    assert_true (s_wait_rounds (hk, 1, 5000));
    assert_int_equal (atomic_load (&probe.prepares), 1);
    housekeeper_wake (hk);
    assert_true (s_wait_rounds (hk, 2, 5000));
    //  The connection of the failed round was dropped and made again.
    assert_int_equal (atomic_load (&probe.prepares), 2);
    housekeeper_wake (hk);
    assert_true (s_wait_rounds (hk, 3, 5000));
    //  A successful round keeps its connection.
    assert_int_equal (atomic_load (&probe.prepares), 2);
    housekeeper_destroy (&hk);
}

static void
test_unreachable_database_skips_the_round_and_keeps_going (void **state)
{
    (void)state;
    s_probe_t probe = {0};
    housekeeper_cfg_t cfg = {.conninfo = "host=/nonexistent-ostiary port=1 connect_timeout=1",
                             .interval_s = 3600,
                             .round = s_round,
                             .arg = &probe};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    assert_true (s_wait_rounds (hk, 1, 5000));
    housekeeper_wake (hk);
    assert_true (s_wait_rounds (hk, 2, 5000));
    assert_int_equal (atomic_load (&probe.rounds), 0);
    housekeeper_destroy (&hk);
}

static void
test_stop_does_not_wait_for_the_interval (void **state)
{
    (void)state;
    s_probe_t probe = {0};
    housekeeper_cfg_t cfg = {
        .conninfo = "host=/nonexistent-ostiary port=1", .interval_s = 86400, .round = s_round, .arg = &probe};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    assert_true (s_wait_rounds (hk, 1, 5000));
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    housekeeper_destroy (&hk);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    assert_true (t1.tv_sec - t0.tv_sec < 5);
    housekeeper_destroy (&hk); //  idempotent
    housekeeper_destroy (NULL);
}

//  A round that pauses: first a short pause (which must end on its own
//  with 0), then a long one (which the stop must cut short with -1).
typedef struct {
    atomic_int short_pause; //  what the short pause answered, + 10
    atomic_int long_pause;  //  what the long pause answered, + 10
    atomic_int in_long;     //  1 once the long pause started
} s_pauser_t;

static db_status_t
s_pausing_round (db_t *db, void *arg)
{
    (void)db;
    s_pauser_t *p = arg;
    atomic_store (&p->short_pause, housekeeper_pause (20) + 10);
    atomic_store (&p->in_long, 1);
    atomic_store (&p->long_pause, housekeeper_pause (3600 * 1000L) + 10);
    return DB_OK;
}

static void
test_pause_waits_within_a_round_and_ends_at_stop (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    //  Outside a round there is nothing to pause.
    assert_int_equal (housekeeper_pause (10), -1);
    s_pauser_t pauser = {0};
    housekeeper_cfg_t cfg = {
        .conninfo = s_server (), .interval_s = 86400, .round = s_pausing_round, .arg = &pauser};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    for (int i = 0; i < 500 && !atomic_load (&pauser.in_long); i++)
        usleep (10000);
    assert_int_equal (atomic_load (&pauser.in_long), 1);
    assert_int_equal (atomic_load (&pauser.short_pause), 10);
    //  A stop ends the pause at once.
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    housekeeper_destroy (&hk);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    assert_true (t1.tv_sec - t0.tv_sec < 5);
    assert_int_equal (atomic_load (&pauser.long_pause), 9);
}

static void
test_new_refuses_a_config_without_round_or_connection (void **state)
{
    (void)state;
    housekeeper_cfg_t no_round = {.conninfo = "host=/x", .interval_s = 1};
    assert_null (housekeeper_new (&no_round));
    housekeeper_cfg_t no_db = {.round = s_round, .interval_s = 1};
    assert_null (housekeeper_new (&no_db));
    housekeeper_cfg_t negative = {.conninfo = "host=/x", .round = s_round, .interval_s = -1};
    assert_null (housekeeper_new (&negative));
    assert_null (housekeeper_new (NULL));
}

int
main (void)
{
    log_init ("test", OST_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_first_round_at_once_and_wake_runs_the_next_now),
        cmocka_unit_test (test_failed_round_makes_a_new_connection),
        cmocka_unit_test (test_unreachable_database_skips_the_round_and_keeps_going),
        cmocka_unit_test (test_stop_does_not_wait_for_the_interval),
        cmocka_unit_test (test_pause_waits_within_a_round_and_ends_at_stop),
        cmocka_unit_test (test_new_refuses_a_config_without_round_or_connection),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
