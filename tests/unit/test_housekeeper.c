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

//  ------------------------------------------------------ housekeeper_work_off

//  A backlog of rows per kind that s_fake_batch takes from, batch by batch,
//  recording the order of the kinds it was called for.
typedef struct {
    long backlog[4];
    long batch;
    int fail_kind; //  this kind fails at its second batch (-1: none)
    int calls[64]; //  kinds, in call order
    int ncalls;
    int sleep_ms;       //  each batch takes this long
    db_status_t result; //  what housekeeper_work_off returned
    long done[4];
    atomic_int finished;
    long duty;
} s_backlog_t;

static db_status_t
s_fake_batch (db_t *db, int kind, void *arg, long *done)
{
    (void)db;
    s_backlog_t *b = arg;
    int seen = 0;
    for (int i = 0; i < b->ncalls; i++)
        seen += b->calls[i] == kind;
    if (b->ncalls < 64)
        b->calls[b->ncalls++] = kind;
    if (kind == b->fail_kind && seen == 1)
        return DB_ERROR;
    if (b->sleep_ms)
        usleep ((useconds_t)b->sleep_ms * 1000);
    long n = b->backlog[kind] < b->batch ? b->backlog[kind] : b->batch;
    b->backlog[kind] -= n;
    *done = n;
    return DB_OK;
}

static db_status_t
s_work_off_round (db_t *db, void *arg)
{
    s_backlog_t *b = arg;
    if (atomic_load (&b->finished))
        return DB_OK;
    b->result = housekeeper_work_off (db, 4, s_fake_batch, b, b->batch, b->duty, b->done, NULL);
    atomic_store (&b->finished, 1);
    return DB_OK;
}

//  Runs one round of housekeeper_work_off over b and waits for it.
static void
s_run_work_off (s_backlog_t *b)
{
    housekeeper_cfg_t cfg = {
        .conninfo = s_server (), .interval_s = 86400, .round = s_work_off_round, .arg = b};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    for (int i = 0; i < 3000 && !atomic_load (&b->finished); i++)
        usleep (10000);
    assert_int_equal (atomic_load (&b->finished), 1);
    housekeeper_destroy (&hk);
}

static void
test_work_off_takes_every_kind_in_turn_until_none_is_full (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    s_backlog_t b = {.backlog = {1200, 100, 0, 2500}, .batch = 500, .fail_kind = -1, .duty = 100};
    s_run_work_off (&b);
    assert_int_equal (b.result, DB_OK);
    assert_int_equal (b.done[0], 1200);
    assert_int_equal (b.done[1], 100);
    assert_int_equal (b.done[2], 0);
    assert_int_equal (b.done[3], 2500);
    //  In turn: a kind with a short backlog is done in the first pass; the
    //  others go on, one batch each per pass, until a batch is not full.
    int expected[] = {0, 1, 2, 3, 0, 3, 0, 3, 3, 3, 3};
    assert_int_equal (b.ncalls, (int)(sizeof expected / sizeof expected[0]));
    for (int i = 0; i < b.ncalls; i++)
        assert_int_equal (b.calls[i], expected[i]);
}

static void
test_work_off_ends_at_the_first_failure (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    s_backlog_t b = {.backlog = {5000, 5000, 5000, 5000}, .batch = 500, .fail_kind = 1, .duty = 100};
    s_run_work_off (&b);
    assert_int_equal (b.result, DB_ERROR);
    //  0, 1, 2, 3, then 0 and the failing second batch of kind 1.
    assert_int_equal (b.ncalls, 6);
    assert_int_equal (b.done[0], 1000);
    assert_int_equal (b.done[1], 500);
    assert_int_equal (b.done[2], 500);
    assert_int_equal (b.done[3], 500);
}

static void
test_work_off_paces_itself_and_ends_when_the_housekeeper_stops (void **state)
{
    (void)state;
    if (!s_server ())
        skip ();
    //  Batches of 20 ms at a duty of 1 %: each is followed by ~2 s of pause,
    //  which a stop must cut short.
    s_backlog_t b = {.backlog = {1000000, 0, 0, 0}, .batch = 500, .fail_kind = -1, .sleep_ms = 20, .duty = 1};
    housekeeper_cfg_t cfg = {
        .conninfo = s_server (), .interval_s = 86400, .round = s_work_off_round, .arg = &b};
    housekeeper_t *hk = housekeeper_new (&cfg);
    assert_non_null (hk);
    //  Stopped during the first batch or the pause after it.
    for (int i = 0; i < 3000 && b.ncalls < 1; i++)
        usleep (10000);
    housekeeper_destroy (&hk);
    assert_int_equal (atomic_load (&b.finished), 1);
    assert_int_equal (b.result, DB_OK);
    //  Nothing ran after the stop: one batch of kind 0, no other kind.
    assert_int_equal (b.ncalls, 1);
    assert_int_equal (b.done[0], 500);
}

static void
test_work_off_refuses_bad_arguments (void **state)
{
    (void)state;
    s_backlog_t b = {.batch = 500, .fail_kind = -1};
    long done[HOUSEKEEPER_KINDS_MAX + 1];
    assert_int_equal (
        housekeeper_work_off (NULL, HOUSEKEEPER_KINDS_MAX + 1, s_fake_batch, &b, 500, 10, done, NULL),
        DB_ERROR);
    assert_int_equal (housekeeper_work_off (NULL, 4, NULL, &b, 500, 10, done, NULL), DB_ERROR);
    assert_int_equal (housekeeper_work_off (NULL, 4, s_fake_batch, &b, 0, 10, done, NULL), DB_ERROR);
    assert_int_equal (housekeeper_work_off (NULL, 4, s_fake_batch, &b, 500, 0, done, NULL), DB_ERROR);
    assert_int_equal (housekeeper_work_off (NULL, 4, s_fake_batch, &b, 500, 101, done, NULL), DB_ERROR);
    assert_int_equal (b.ncalls, 0);
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
        cmocka_unit_test (test_work_off_takes_every_kind_in_turn_until_none_is_full),
        cmocka_unit_test (test_work_off_ends_at_the_first_failure),
        cmocka_unit_test (test_work_off_paces_itself_and_ends_when_the_housekeeper_stops),
        cmocka_unit_test (test_work_off_refuses_bad_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
