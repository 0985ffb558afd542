/*  Unit tests of cidr: address parsing and printing (IPv4, IPv6, mapped
 *  IPv4), socket addresses, and sets of blocks: what they hold, and every
 *  malformed list refused with a description that never quotes it. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static cidr_addr_t
s_addr (const char *text)
{
    cidr_addr_t a;
    assert_int_equal (cidr_addr_parse (text, strlen (text), &a), 0);
    return a;
}

static int
s_parses (const char *text)
{
    cidr_addr_t a;
    return cidr_addr_parse (text, strlen (text), &a) == 0;
}

static void
test_cidr_addr_parse_and_format (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    cidr_addr_t a = s_addr ("192.0.2.7");
    assert_int_equal (a.v6, 0);
    assert_int_equal (cidr_addr_format (&a, out, sizeof out), 0);
    assert_string_equal (out, "192.0.2.7");
    a = s_addr ("2001:DB8:0:0::1");
    assert_int_equal (a.v6, 1);
    assert_int_equal (cidr_addr_format (&a, out, sizeof out), 0);
    assert_string_equal (out, "2001:db8::1");
    //  A mapped IPv4 address is the IPv4 address.
    a = s_addr ("::ffff:198.51.100.9");
    assert_int_equal (a.v6, 0);
    assert_true (cidr_addr_equal (&a, &(cidr_addr_t){0}) == 0);
    cidr_addr_t b = s_addr ("198.51.100.9");
    assert_true (cidr_addr_equal (&a, &b));
    //  Too small a buffer.
    assert_int_equal (cidr_addr_format (&b, out, 5), -1);
    assert_int_equal (cidr_addr_format (NULL, out, sizeof out), -1);
}

static void
test_cidr_addr_parse_refuses_anything_else (void **state)
{
    (void)state;
    const char *bad[] = {"",
                         " 192.0.2.1",
                         "192.0.2.1 ",
                         "192.0.2",
                         "192.0.2.256",
                         "192.0.2.1:80",
                         "[2001:db8::1]",
                         "2001:db8::1%eth0",
                         "unknown",
                         "1.2.3.4.5",
                         "::g",
                         "1111:2222:3333:4444:5555:6666:7777:8888:9999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false (s_parses (bad[i]));
    //  Only len bytes count, and a NUL inside them is refused.
    cidr_addr_t a;
    assert_int_equal (cidr_addr_parse ("10.0.0.1xyz", 8, &a), 0);
    assert_int_equal (cidr_addr_parse ("10.0\0.0.1", 9, &a), -1);
    //  Longer than any address.
    char longer[200];
    memset (longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_false (s_parses (longer));
    assert_int_equal (cidr_addr_parse (NULL, 3, &a), -1);
}

static void
test_cidr_addr_from_sockaddr (void **state)
{
    (void)state;
    struct sockaddr_in in;
    memset (&in, 0, sizeof in);
    in.sin_family = AF_INET;
    inet_pton (AF_INET, "203.0.113.5", &in.sin_addr);
    cidr_addr_t a, want = s_addr ("203.0.113.5");
    assert_int_equal (cidr_addr_from_sockaddr ((struct sockaddr *)&in, sizeof in, &a), 0);
    assert_true (cidr_addr_equal (&a, &want));
    struct sockaddr_in6 in6;
    memset (&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    inet_pton (AF_INET6, "::ffff:203.0.113.5", &in6.sin6_addr);
    assert_int_equal (cidr_addr_from_sockaddr ((struct sockaddr *)&in6, sizeof in6, &a), 0);
    assert_true (cidr_addr_equal (&a, &want));
    inet_pton (AF_INET6, "2001:db8::5", &in6.sin6_addr);
    assert_int_equal (cidr_addr_from_sockaddr ((struct sockaddr *)&in6, sizeof in6, &a), 0);
    want = s_addr ("2001:db8::5");
    assert_true (cidr_addr_equal (&a, &want));
    //  Short lengths and other families.
    assert_int_equal (cidr_addr_from_sockaddr ((struct sockaddr *)&in6, sizeof in, &a), -1);
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_int_equal (cidr_addr_from_sockaddr (&other, sizeof other, &a), -1);
}

static void
test_cidr_set_contains_its_blocks (void **state)
{
    (void)state;
    const char *why = "x";
    cidr_set_t *set = cidr_set_new (" 10.0.0.0/8 ,192.0.2.1, 2001:db8::/32,\t::ffff:172.16.0.0/108", &why);
    assert_non_null (set);
    assert_null (why);
    assert_int_equal (cidr_set_count (set), 4);
    cidr_addr_t a;
    a = s_addr ("10.255.1.2");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("11.0.0.1");
    assert_false (cidr_set_contains (set, &a));
    a = s_addr ("192.0.2.1");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("192.0.2.2");
    assert_false (cidr_set_contains (set, &a));
    a = s_addr ("2001:db8:ffff::1");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("2001:db9::1");
    assert_false (cidr_set_contains (set, &a));
    //  The mapped block is 172.16.0.0/12, for either spelling of a peer.
    a = s_addr ("172.31.0.1");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("::ffff:172.20.0.1");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("172.32.0.1");
    assert_false (cidr_set_contains (set, &a));
    //  IPv4 blocks never hold IPv6 addresses.
    a = s_addr ("::a00:1");
    assert_false (cidr_set_contains (set, &a));
    assert_false (cidr_set_contains (NULL, &a));
    assert_false (cidr_set_contains (set, NULL));
    cidr_set_destroy (&set);
    assert_null (set);
    cidr_set_destroy (&set);

    //  /0 holds everything of its family; odd prefixes cut inside a byte.
    set = cidr_set_new ("0.0.0.0/0,2001:db8:8000::/33", &why);
    assert_non_null (set);
    a = s_addr ("255.1.2.3");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("2001:db8:8fff::1");
    assert_true (cidr_set_contains (set, &a));
    a = s_addr ("2001:db8:7fff::1");
    assert_false (cidr_set_contains (set, &a));
    cidr_set_destroy (&set);
}

static void
test_cidr_set_empty_list_is_empty_set (void **state)
{
    (void)state;
    const char *inputs[] = {"", "   ", NULL};
    for (size_t i = 0; i < 3; i++) {
        const char *why = "x";
        cidr_set_t *set = cidr_set_new (inputs[i], &why);
        assert_non_null (set);
        assert_null (why);
        assert_int_equal (cidr_set_count (set), 0);
        cidr_addr_t a = s_addr ("127.0.0.1");
        assert_false (cidr_set_contains (set, &a));
        cidr_set_destroy (&set);
    }
    assert_int_equal (cidr_set_count (NULL), 0);
}

static void
test_cidr_set_refuses_malformed_lists (void **state)
{
    (void)state;
    const char *bad[] = {"10.0.0.0/8,",     ",10.0.0.0/8",        "10.0.0.0/8,,192.0.2.0/24",
                         "10.0.0.0/33",     "2001:db8::/129",     "10.0.0.0/",
                         "10.0.0.0/-1",     "10.0.0.0/8a",        "10.0.0.0/0008",
                         "10.0.0.1/8",      "2001:db8::1/32",     "example.com",
                         "10.0.0.0/8 junk", "::ffff:10.0.0.0/90", "10.0.0.0 / 8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        cidr_set_t *set = cidr_set_new (bad[i], &why);
        if (set)
            fail_msg ("accepted: %s", bad[i]);
        assert_non_null (why);
        //  The description is fixed text: it never quotes the input.
        assert_null (strstr (why, "10.0"));
        assert_null (strstr (why, "db8"));
    }
    //  Too many items.
    char many[CIDR_SET_MAX * 16 + 32] = "";
    for (int i = 0; i <= CIDR_SET_MAX; i++) {
        char item[16];
        snprintf (item, sizeof item, "%s10.0.%d.0/24", i ? "," : "", i);
        strcat (many, item);
    }
    const char *why = NULL;
    assert_null (cidr_set_new (many, &why));
    assert_non_null (why);
    //  why may be NULL.
    assert_null (cidr_set_new ("bad", NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_cidr_addr_parse_and_format),
        cmocka_unit_test (test_cidr_addr_parse_refuses_anything_else),
        cmocka_unit_test (test_cidr_addr_from_sockaddr),
        cmocka_unit_test (test_cidr_set_contains_its_blocks),
        cmocka_unit_test (test_cidr_set_empty_list_is_empty_set),
        cmocka_unit_test (test_cidr_set_refuses_malformed_lists),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
