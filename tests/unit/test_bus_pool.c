/*  Unit tests of common/bus_pool: clients made only when every one is in use,
 *  the last given back taken first, the cap, idle ones destroyed, and one
 *  thread per client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "bus_pool.h"
#include "log.h"

#include <pthread.h>
#include <string.h>

//  Nothing listens there: a DEALER connects to inproc all the same.
#define ENDPOINT "inproc://test-bus-pool"
//  Longer than any test: nothing is destroyed for idleness.
#define KEEP_MS 3600000L

static void
test_a_client_is_made_on_the_first_take_and_reused_after (void **state)
{
    (void)state;
    bus_pool_t *pool = bus_pool_new (ENDPOINT, 0, NULL, 4, KEEP_MS);
    assert_non_null (pool);
    assert_int_equal (bus_pool_size (pool), 0);
    bus_client_t *a = bus_pool_take (pool);
    assert_non_null (a);
    assert_int_equal (bus_pool_size (pool), 1);
    bus_pool_give (pool, a);
    for (int i = 0; i < 5; i++) {
        bus_client_t *again = bus_pool_take (pool);
        assert_ptr_equal (again, a);
        bus_pool_give (pool, again);
    }
    assert_int_equal (bus_pool_size (pool), 1);
    bus_pool_destroy (&pool);
    assert_null (pool);
}

static void
test_a_second_client_only_while_the_first_is_taken_and_last_given_first_taken (void **state)
{
    (void)state;
    bus_pool_t *pool = bus_pool_new (ENDPOINT, 0, NULL, 4, KEEP_MS);
    bus_client_t *a = bus_pool_take (pool);
    bus_client_t *b = bus_pool_take (pool);
    assert_non_null (a);
    assert_non_null (b);
    assert_ptr_not_equal (a, b);
    assert_int_equal (bus_pool_size (pool), 2);
    bus_pool_give (pool, a);
    bus_pool_give (pool, b);
    //  b went back last: it is taken first, then a; nothing new is made.
    assert_ptr_equal (bus_pool_take (pool), b);
    assert_ptr_equal (bus_pool_take (pool), a);
    assert_int_equal (bus_pool_size (pool), 2);
    bus_pool_give (pool, b);
    bus_pool_give (pool, a);
    bus_pool_destroy (&pool);
}

static void
test_no_client_past_the_cap_until_one_comes_back (void **state)
{
    (void)state;
    bus_pool_t *pool = bus_pool_new (ENDPOINT, 0, NULL, 2, KEEP_MS);
    bus_client_t *a = bus_pool_take (pool), *b = bus_pool_take (pool);
    assert_non_null (a);
    assert_non_null (b);
    assert_null (bus_pool_take (pool));
    assert_int_equal (bus_pool_size (pool), 2);
    bus_pool_give (pool, a);
    assert_ptr_equal (bus_pool_take (pool), a);
    bus_pool_give (pool, a);
    bus_pool_give (pool, b);
    bus_pool_destroy (&pool);
}

static void
test_an_endpoint_that_cannot_be_connected_gives_no_client_and_counts_none (void **state)
{
    (void)state;
    bus_pool_t *pool = bus_pool_new ("nonsense://here", 0, NULL, 2, KEEP_MS);
    assert_non_null (pool);
    assert_null (bus_pool_take (pool));
    assert_null (bus_pool_take (pool));
    assert_int_equal (bus_pool_size (pool), 0);
    bus_pool_destroy (&pool);
}

static void
test_bad_arguments (void **state)
{
    (void)state;
    assert_null (bus_pool_new (NULL, 0, NULL, 2, KEEP_MS));
    assert_null (bus_pool_new (ENDPOINT, 0, NULL, 0, KEEP_MS));
    assert_null (bus_pool_take (NULL));
    assert_int_equal (bus_pool_size (NULL), 0);
    bus_pool_give (NULL, NULL);
    bus_pool_destroy (NULL);
    bus_pool_t *none = NULL;
    bus_pool_destroy (&none);
    assert_null (bus_pool_new (ENDPOINT, 0, NULL, 2, -1));
}

//  With idle_ms 0 every client given back before the last is idle long
//  enough: a give destroys them, the one given back stays and is reused.
static void
test_clients_idle_past_idle_ms_are_destroyed_at_the_next_give (void **state)
{
    (void)state;
    bus_pool_t *pool = bus_pool_new (ENDPOINT, 0, NULL, 4, 0);
    bus_client_t *a = bus_pool_take (pool), *b = bus_pool_take (pool), *c = bus_pool_take (pool);
    assert_non_null (a);
    assert_non_null (b);
    assert_non_null (c);
    assert_int_equal (bus_pool_size (pool), 3);
    bus_pool_give (pool, a);
    assert_int_equal (bus_pool_size (pool), 3);
    bus_pool_give (pool, b);
    //  a went: b stays, c is still out.
    assert_int_equal (bus_pool_size (pool), 2);
    bus_pool_give (pool, c);
    assert_int_equal (bus_pool_size (pool), 1);
    assert_ptr_equal (bus_pool_take (pool), c);
    bus_pool_give (pool, c);
    assert_int_equal (bus_pool_size (pool), 1);
    bus_pool_destroy (&pool);
    //  The same gives under a long idle_ms keep all three.
    pool = bus_pool_new (ENDPOINT, 0, NULL, 4, KEEP_MS);
    a = bus_pool_take (pool), b = bus_pool_take (pool), c = bus_pool_take (pool);
    bus_pool_give (pool, a);
    bus_pool_give (pool, b);
    bus_pool_give (pool, c);
    assert_int_equal (bus_pool_size (pool), 3);
    bus_pool_destroy (&pool);
}

//  Threads take and give back; no client is ever held by two at once, and
//  no more are made than threads.
#define THREADS 8
#define ROUNDS 300

typedef struct {
    bus_pool_t *pool;
    pthread_mutex_t lock;
    bus_client_t *held[THREADS];
    int clashes;
    int failures;
} s_shared_t;

static void *
s_worker (void *arg)
{
    s_shared_t *shared = arg;
    for (int round = 0; round < ROUNDS; round++) {
        bus_client_t *client = bus_pool_take (shared->pool);
        pthread_mutex_lock (&shared->lock);
        if (!client)
            shared->failures++;
        int slot = -1;
        for (int i = 0; client && i < THREADS; i++) {
            if (shared->held[i] == client)
                shared->clashes++;
            if (!shared->held[i] && slot < 0)
                slot = i;
        }
        if (client && slot >= 0)
            shared->held[slot] = client;
        pthread_mutex_unlock (&shared->lock);
        sched_yield ();
        pthread_mutex_lock (&shared->lock);
        for (int i = 0; client && i < THREADS; i++)
            if (shared->held[i] == client) {
                shared->held[i] = NULL;
                break;
            }
        pthread_mutex_unlock (&shared->lock);
        bus_pool_give (shared->pool, client);
    }
    return NULL;
}

static void
test_threads_never_share_a_client_and_make_no_more_than_run_at_once (void **state)
{
    (void)state;
    s_shared_t shared = {.pool = bus_pool_new (ENDPOINT, 0, NULL, THREADS, KEEP_MS)};
    pthread_mutex_init (&shared.lock, NULL);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_worker, &shared), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join (threads[i], NULL);
    assert_int_equal (shared.clashes, 0);
    assert_int_equal (shared.failures, 0);
    assert_in_range (bus_pool_size (shared.pool), 1, THREADS);
    pthread_mutex_destroy (&shared.lock);
    bus_pool_destroy (&shared.pool);
}

int
main (void)
{
    log_init ("test", OST_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_client_is_made_on_the_first_take_and_reused_after),
        cmocka_unit_test (test_a_second_client_only_while_the_first_is_taken_and_last_given_first_taken),
        cmocka_unit_test (test_no_client_past_the_cap_until_one_comes_back),
        cmocka_unit_test (test_an_endpoint_that_cannot_be_connected_gives_no_client_and_counts_none),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_clients_idle_past_idle_ms_are_destroyed_at_the_next_give),
        cmocka_unit_test (test_threads_never_share_a_client_and_make_no_more_than_run_at_once),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
