/*  Unit tests of connlimit: per-address counts, the cap, release freeing a
 *  slot, addresses forgotten at 0, and counts kept right under threads. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "connlimit.h"

#include <pthread.h>
#include <string.h>

static cidr_addr_t
s_addr (const char *text)
{
    cidr_addr_t a;
    assert_int_equal (cidr_addr_parse (text, strlen (text), &a), 0);
    return a;
}

static void
test_connlimit_caps_each_address (void **state)
{
    (void)state;
    connlimit_t *limit = connlimit_new (2);
    assert_non_null (limit);
    cidr_addr_t a = s_addr ("192.0.2.1"), b = s_addr ("2001:db8::1"), mapped = s_addr ("::ffff:192.0.2.1");
    assert_int_equal (connlimit_acquire (limit, &a), 0);
    assert_int_equal (connlimit_acquire (limit, &mapped), 0);
    //  The third of the same address (either spelling) is refused.
    assert_int_equal (connlimit_acquire (limit, &a), -1);
    assert_int_equal (connlimit_count (limit, &a), 2);
    //  Another address has its own count.
    assert_int_equal (connlimit_acquire (limit, &b), 0);
    assert_int_equal (connlimit_addresses (limit), 2);
    //  A release frees a slot.
    connlimit_release (limit, &a);
    assert_int_equal (connlimit_count (limit, &a), 1);
    assert_int_equal (connlimit_acquire (limit, &a), 0);
    connlimit_release (limit, &a);
    connlimit_release (limit, &a);
    assert_int_equal (connlimit_count (limit, &a), 0);
    assert_int_equal (connlimit_addresses (limit), 1);
    //  A release of an address without connections changes nothing.
    connlimit_release (limit, &a);
    assert_int_equal (connlimit_count (limit, &a), 0);
    assert_int_equal (connlimit_addresses (limit), 1);
    connlimit_destroy (&limit);
    assert_null (limit);
    connlimit_destroy (&limit);
}

static void
test_connlimit_zero_counts_without_a_cap (void **state)
{
    (void)state;
    connlimit_t *limit = connlimit_new (0);
    assert_non_null (limit);
    cidr_addr_t a = s_addr ("198.51.100.2");
    for (int i = 0; i < 1000; i++)
        assert_int_equal (connlimit_acquire (limit, &a), 0);
    assert_int_equal (connlimit_count (limit, &a), 1000);
    connlimit_destroy (&limit);
    //  NULL arguments.
    assert_int_equal (connlimit_acquire (NULL, &a), -1);
    assert_int_equal (connlimit_count (NULL, &a), 0);
    assert_int_equal (connlimit_addresses (NULL), 0);
    connlimit_release (NULL, &a);
}

static connlimit_t *s_shared;

static void *
s_worker (void *arg)
{
    cidr_addr_t a = *(const cidr_addr_t *)arg;
    for (int i = 0; i < 10000; i++) {
        if (connlimit_acquire (s_shared, &a) == 0)
            connlimit_release (s_shared, &a);
    }
    return NULL;
}

static void
test_connlimit_threads (void **state)
{
    (void)state;
    s_shared = connlimit_new (3);
    assert_non_null (s_shared);
    cidr_addr_t addrs[4] = {s_addr ("10.0.0.1"), s_addr ("10.0.0.2"), s_addr ("10.0.0.1"), s_addr ("::1")};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_worker, &addrs[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join (threads[i], NULL);
    assert_int_equal (connlimit_addresses (s_shared), 0);
    connlimit_destroy (&s_shared);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_connlimit_caps_each_address),
        cmocka_unit_test (test_connlimit_zero_counts_without_a_cap),
        cmocka_unit_test (test_connlimit_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
