/*  Unit tests of the secret-handling helpers: random bytes, constant-time
 *  comparison, wiping, tokens and request ids. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "secure.h"

#include <stdlib.h>
#include <string.h>

static int
s_all_zero (const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void
test_secure_random_fills_buffer_with_fresh_bytes (void **state)
{
    (void)state;
    unsigned char a[32] = {0}, b[32] = {0};
    assert_int_equal (secure_random (a, sizeof a), 0);
    assert_int_equal (secure_random (b, sizeof b), 0);
    //  2^-256 chance of a false failure.
    assert_false (s_all_zero (a, sizeof a));
    assert_memory_not_equal (a, b, sizeof a);
    assert_int_equal (secure_random (a, 0), 0);
}

static void
test_secure_equal_same_bytes (void **state)
{
    (void)state;
    assert_int_equal (secure_equal ("abcdef", 6, "abcdef", 6), 1);
    assert_int_equal (secure_equal ("", 0, "", 0), 1);
}

static void
test_secure_equal_different_bytes (void **state)
{
    (void)state;
    assert_int_equal (secure_equal ("abcdef", 6, "xbcdef", 6), 0);
    assert_int_equal (secure_equal ("abcdef", 6, "abcdeX", 6), 0);
}

static void
test_secure_equal_different_lengths (void **state)
{
    (void)state;
    //  A prefix is not equal, whatever the shorter length's bytes say.
    assert_int_equal (secure_equal ("abc", 3, "abcdef", 6), 0);
    assert_int_equal (secure_equal ("abcdef", 6, "abc", 3), 0);
    assert_int_equal (secure_equal ("", 0, "a", 1), 0);
}

static void
test_secure_equal_null_is_unequal (void **state)
{
    (void)state;
    assert_int_equal (secure_equal (NULL, 0, "a", 0), 0);
    assert_int_equal (secure_equal ("a", 0, NULL, 0), 0);
}

static void
test_secure_streq_compares_whole_strings (void **state)
{
    (void)state;
    assert_int_equal (secure_streq ("s3cret", "s3cret"), 1);
    assert_int_equal (secure_streq ("s3cret", "s3cret!"), 0);
    assert_int_equal (secure_streq ("s3cret", "S3cret"), 0);
    assert_int_equal (secure_streq ("", ""), 1);
    assert_int_equal (secure_streq (NULL, "x"), 0);
    assert_int_equal (secure_streq ("x", NULL), 0);
    assert_int_equal (secure_streq (NULL, NULL), 0);
}

static void
test_secure_wipe_zeroes_buffer (void **state)
{
    (void)state;
    unsigned char buf[64];
    memset (buf, 0xa5, sizeof buf);
    secure_wipe (buf, sizeof buf);
    assert_true (s_all_zero (buf, sizeof buf));
    secure_wipe (NULL, 10);
}

static void
test_secure_free_str_frees_and_clears_pointer (void **state)
{
    (void)state;
    char *secret = strdup ("correct horse battery staple");
    assert_non_null (secret);
    secure_free_str (&secret);
    assert_null (secret);
    //  Idempotent, and safe on NULL.
    secure_free_str (&secret);
    secure_free_str (NULL);
}

static void
test_secure_hex_is_lowercase_two_digits_per_byte (void **state)
{
    (void)state;
    const unsigned char bytes[] = {0x00, 0xff, 0x10, 0xab, 0x09};
    char out[2 * sizeof bytes + 1];
    secure_hex (bytes, sizeof bytes, out);
    assert_string_equal (out, "00ff10ab09");
    secure_hex (bytes, 0, out);
    assert_string_equal (out, "");
}

static void
test_secure_token_is_base64url_of_n_random_bytes (void **state)
{
    (void)state;
    char *a = secure_token (32);
    char *b = secure_token (32);
    assert_non_null (a);
    assert_non_null (b);
    //  32 bytes = 256 bits, as ARCHITECTURE.md asks of codes and tokens.
    assert_int_equal (strlen (a), 43);
    unsigned char raw[32];
    assert_int_equal (b64url_decode (a, strlen (a), raw, sizeof raw), 32);
    assert_string_not_equal (a, b);
    secure_free_str (&a);
    secure_free_str (&b);
    assert_null (secure_token (0));
}

static void
test_secure_request_id_is_32_hex_digits (void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal (secure_request_id (a), 0);
    assert_int_equal (secure_request_id (b), 0);
    assert_int_equal (strlen (a), 32);
    assert_int_equal (strspn (a, "0123456789abcdef"), 32);
    assert_string_not_equal (a, b);
}

//  Ids from the pool: never the same bytes twice across refills (the pool
//  is drawn once per SECURE_ID_POOL bytes), a request larger than the pool
//  refused, and each thread drawing its own.
static void
test_secure_id_random_draws_fresh_bytes_across_refills (void **state)
{
    (void)state;
    enum { N = 3 * SECURE_ID_POOL / 16 + 5 };
    static unsigned char ids[N][16];
    for (int i = 0; i < N; i++)
        assert_int_equal (secure_id_random (ids[i], 16), 0);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_memory_not_equal (ids[i], ids[j], 16);
    //  A draw that does not fit what is left refills first: 500 bytes
    //  after 16 are all fresh (not the pool's tail repeated).
    unsigned char big[500], small[16];
    assert_int_equal (secure_id_random (small, sizeof small), 0);
    assert_int_equal (secure_id_random (big, sizeof big), 0);
    assert_memory_not_equal (big, small, sizeof small);
    unsigned char too_big[SECURE_ID_POOL + 1];
    assert_int_equal (secure_id_random (too_big, sizeof too_big), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_secure_random_fills_buffer_with_fresh_bytes),
        cmocka_unit_test (test_secure_equal_same_bytes),
        cmocka_unit_test (test_secure_equal_different_bytes),
        cmocka_unit_test (test_secure_equal_different_lengths),
        cmocka_unit_test (test_secure_equal_null_is_unequal),
        cmocka_unit_test (test_secure_streq_compares_whole_strings),
        cmocka_unit_test (test_secure_wipe_zeroes_buffer),
        cmocka_unit_test (test_secure_free_str_frees_and_clears_pointer),
        cmocka_unit_test (test_secure_hex_is_lowercase_two_digits_per_byte),
        cmocka_unit_test (test_secure_token_is_base64url_of_n_random_bytes),
        cmocka_unit_test (test_secure_request_id_is_32_hex_digits),
        cmocka_unit_test (test_secure_id_random_draws_fresh_bytes_across_refills),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
