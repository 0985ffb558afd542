/*  Unit tests of forwarded: the client address behind trusted proxies from
 *  X-Forwarded-For and Forwarded (RFC 7239): only a trusted peer's headers
 *  are read, the right-most hop that is not trusted is the client, and a
 *  malformed, oversized or contradictory header gives the TCP peer. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "forwarded.h"

#include <stdlib.h>
#include <string.h>

static cidr_set_t *s_trusted;

static int
s_setup (void **state)
{
    (void)state;
    s_trusted = cidr_set_new ("10.0.0.0/8, 2001:db8:aaaa::/48", NULL);
    return s_trusted ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    cidr_set_destroy (&s_trusted);
    return 0;
}

//  The client's text for peer and the header lines (NULL-terminated
//  arrays, either may be NULL), and where it came from.
static forwarded_source_t
s_client (const char *peer, const char *const *xff, const char *const *fwd, char out[CIDR_ADDR_TEXT_MAX])
{
    cidr_addr_t p, client;
    assert_int_equal (cidr_addr_parse (peer, strlen (peer), &p), 0);
    size_t nx = 0, nf = 0;
    while (xff && xff[nx])
        nx++;
    while (fwd && fwd[nf])
        nf++;
    forwarded_headers_t h = {.xff = xff, .xff_count = nx, .forwarded = fwd, .forwarded_count = nf};
    forwarded_source_t source = forwarded_client (s_trusted, &p, &h, &client);
    assert_int_equal (cidr_addr_format (&client, out, CIDR_ADDR_TEXT_MAX), 0);
    return source;
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void
test_forwarded_untrusted_peer_is_the_client (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    assert_int_equal (s_client ("192.0.2.9", LINES ("198.51.100.1"), LINES ("for=198.51.100.1"), out),
                      FORWARDED_PEER);
    assert_string_equal (out, "192.0.2.9");
    //  No trusted set at all.
    cidr_addr_t p, client;
    assert_int_equal (cidr_addr_parse ("10.0.0.1", 8, &p), 0);
    const char *xff[] = {"198.51.100.1"};
    forwarded_headers_t h = {.xff = xff, .xff_count = 1};
    assert_int_equal (forwarded_client (NULL, &p, &h, &client), FORWARDED_PEER);
    assert_true (cidr_addr_equal (&client, &p));
    assert_int_equal (forwarded_client (s_trusted, &p, NULL, &client), FORWARDED_PEER);
    assert_true (cidr_addr_equal (&client, &p));
}

static void
test_forwarded_xff_right_most_untrusted_hop (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    //  The client's own claim (left) is never read past the real hop.
    assert_int_equal (s_client ("10.0.0.1", LINES ("6.6.6.6, 198.51.100.7"), NULL, out), FORWARDED_XFF);
    assert_string_equal (out, "198.51.100.7");
    //  Trusted hops are skipped, across repeated header lines.
    assert_int_equal (s_client ("10.0.0.1", LINES ("6.6.6.6, 203.0.113.4", "10.1.1.1 ,10.2.2.2"), NULL, out),
                      FORWARDED_XFF);
    assert_string_equal (out, "203.0.113.4");
    //  Garbage left of the client is not read.
    assert_int_equal (s_client ("10.0.0.1", LINES ("<script>, ,unknown,203.0.113.4"), NULL, out),
                      FORWARDED_XFF);
    assert_string_equal (out, "203.0.113.4");
    //  Ports and brackets, IPv6.
    assert_int_equal (s_client ("10.0.0.1", LINES ("203.0.113.4:5555"), NULL, out), FORWARDED_XFF);
    assert_string_equal (out, "203.0.113.4");
    assert_int_equal (s_client ("10.0.0.1", LINES ("[2001:db8::7]:443"), NULL, out), FORWARDED_XFF);
    assert_string_equal (out, "2001:db8::7");
    assert_int_equal (s_client ("2001:db8:aaaa::1", LINES ("2001:db8::8, 2001:db8:aaaa::2"), NULL, out),
                      FORWARDED_XFF);
    assert_string_equal (out, "2001:db8::8");
    //  Every hop trusted: the left-most one.
    assert_int_equal (s_client ("10.0.0.1", LINES ("10.9.9.9, 10.8.8.8"), NULL, out), FORWARDED_XFF);
    assert_string_equal (out, "10.9.9.9");
    //  Blank lines add nothing; no hop at all is the peer.
    assert_int_equal (s_client ("10.0.0.1", LINES ("  "), NULL, out), FORWARDED_PEER);
    assert_string_equal (out, "10.0.0.1");
}

static void
test_forwarded_rfc7239_for (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    assert_int_equal (
        s_client ("10.0.0.1", NULL, LINES ("for=6.6.6.6, for=198.51.100.7;proto=https;by=10.0.0.1"), out),
        FORWARDED_RFC7239);
    assert_string_equal (out, "198.51.100.7");
    assert_int_equal (
        s_client ("10.0.0.1", NULL, LINES ("For=\"[2001:db8:cafe::17]:4711\"", "for=10.3.3.3"), out),
        FORWARDED_RFC7239);
    assert_string_equal (out, "2001:db8:cafe::17");
    assert_int_equal (s_client ("10.0.0.1", NULL, LINES ("proto=http; for=\"198.51.100.8:80\""), out),
                      FORWARDED_RFC7239);
    assert_string_equal (out, "198.51.100.8");
}

static void
test_forwarded_unusable_headers_give_the_peer (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    const char *bad_xff[] = {"198.51.100.7,",       "unknown",      "198.51.100.7 junk", "[198.51.100.7]",
                             "198.51.100.7:99999x", "2001:db8::1]", "[2001:db8::1",      "1.2.3.4:"};
    for (size_t i = 0; i < sizeof bad_xff / sizeof bad_xff[0]; i++) {
        assert_int_equal (s_client ("10.0.0.1", LINES (bad_xff[i]), NULL, out), FORWARDED_PEER);
        assert_string_equal (out, "10.0.0.1");
    }
    const char *bad_fwd[] = {"for=unknown",   "for=_hidden",       "proto=https", "for=1.2.3.4;for=5.6.7.8",
                             "for=\"1.2.3.4", "for=\"1.\\2.3.4\"", "=1.2.3.4",    "for",
                             "for=1.2.3.4,"};
    for (size_t i = 0; i < sizeof bad_fwd / sizeof bad_fwd[0]; i++) {
        assert_int_equal (s_client ("10.0.0.1", NULL, LINES (bad_fwd[i]), out), FORWARDED_PEER);
        assert_string_equal (out, "10.0.0.1");
    }
    //  Too many trusted hops to walk.
    char chain[FORWARDED_MAX_HOPS * 12 + 16] = "";
    for (int i = 0; i <= FORWARDED_MAX_HOPS; i++)
        strcat (chain, i ? ",10.0.0.9" : "10.0.0.9");
    assert_int_equal (s_client ("10.0.0.1", LINES (chain), NULL, out), FORWARDED_PEER);
    //  A hop longer than any address, and a line longer than the limit.
    char hop[FORWARDED_HOP_MAX + 8];
    memset (hop, '1', sizeof hop - 1);
    hop[sizeof hop - 1] = '\0';
    assert_int_equal (s_client ("10.0.0.1", LINES (hop), NULL, out), FORWARDED_PEER);
    char *line = malloc (FORWARDED_FIELD_MAX + 32);
    assert_non_null (line);
    memset (line, ' ', FORWARDED_FIELD_MAX + 16);
    strcpy (line + FORWARDED_FIELD_MAX + 16, "198.51.100.7");
    assert_int_equal (s_client ("10.0.0.1", LINES (line), NULL, out), FORWARDED_PEER);
    free (line);
}

static void
test_forwarded_both_headers_must_agree (void **state)
{
    (void)state;
    char out[CIDR_ADDR_TEXT_MAX];
    assert_int_equal (s_client ("10.0.0.1", LINES ("198.51.100.7"), LINES ("for=198.51.100.7"), out),
                      FORWARDED_RFC7239);
    assert_string_equal (out, "198.51.100.7");
    //  A header the proxy does not manage came from the client.
    assert_int_equal (s_client ("10.0.0.1", LINES ("198.51.100.7"), LINES ("for=6.6.6.6"), out),
                      FORWARDED_PEER);
    assert_string_equal (out, "10.0.0.1");
    assert_int_equal (s_client ("10.0.0.1", LINES ("198.51.100.7"), LINES ("for=unknown"), out),
                      FORWARDED_PEER);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_forwarded_untrusted_peer_is_the_client),
        cmocka_unit_test (test_forwarded_xff_right_most_untrusted_hop),
        cmocka_unit_test (test_forwarded_rfc7239_for),
        cmocka_unit_test (test_forwarded_unusable_headers_give_the_peer),
        cmocka_unit_test (test_forwarded_both_headers_must_agree),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
