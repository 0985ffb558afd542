/*  Unit tests of totp: base32 (RFC 4648 §10 vectors), HOTP (RFC 4226
 *  Appendix D), TOTP (RFC 6238 Appendix B), replay refusal, otpauth URIs. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "secure.h"
#include "totp.h"

#include <stdlib.h>
#include <string.h>

//  RFC 6238 Appendix B / RFC 4226 Appendix D: the ASCII of "12345678901234567890".
static const unsigned char s_key[] = "12345678901234567890";
#define KEYLEN 20

static void
test_base32_encodes_rfc4648_vectors (void **state)
{
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    //  RFC 4648 §10, without the padding.
    const char *out[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
    for (size_t i = 0; i < 7; i++) {
        char buf[32];
        assert_int_equal (base32_encode (in[i], strlen (in[i]), buf, sizeof buf), (long)strlen (out[i]));
        assert_string_equal (buf, out[i]);
        assert_int_equal (base32_encoded_len (strlen (in[i])), strlen (out[i]));
        unsigned char back[32];
        assert_int_equal (base32_decode (out[i], strlen (out[i]), back, sizeof back), (long)strlen (in[i]));
        assert_memory_equal (back, in[i], strlen (in[i]));
    }
}

static void
test_base32_decode_accepts_lower_case_spaces_and_padding (void **state)
{
    (void)state;
    unsigned char back[16];
    assert_int_equal (base32_decode ("mzxw 6ytb oi======", 18, back, sizeof back), 6);
    assert_memory_equal (back, "foobar", 6);
}

static void
test_base32_decode_rejects_bad_text (void **state)
{
    (void)state;
    unsigned char back[64];
    //  Outside the alphabet: 0, 1, 8, 9 and punctuation.
    assert_int_equal (base32_decode ("MZXW0", 5, back, sizeof back), -1);
    assert_int_equal (base32_decode ("MZ-W6", 5, back, sizeof back), -1);
    //  A final quantum of 1, 3 or 6 symbols cannot come from whole bytes.
    assert_int_equal (base32_decode ("M", 1, back, sizeof back), -1);
    assert_int_equal (base32_decode ("MZX", 3, back, sizeof back), -1);
    //  Non-zero trailing bits: "MZ" is 'f', "M7" is not canonical.
    assert_int_equal (base32_decode ("M7", 2, back, sizeof back), -1);
    //  Data after padding.
    assert_int_equal (base32_decode ("MY==MY", 6, back, sizeof back), -1);
    //  The output buffer bounds the result.
    assert_int_equal (base32_decode ("MZXW6YTBOI", 10, back, 5), -1);
    //  The input length is bounded before anything is read.
    char big[TOTP_MAX_B32 + 40];
    memset (big, 'A', sizeof big);
    assert_int_equal (base32_decode (big, sizeof big, back, sizeof back), -1);
}

static void
test_base32_encode_refuses_a_short_buffer (void **state)
{
    (void)state;
    char buf[5];
    assert_int_equal (base32_encode ("foo", 3, buf, sizeof buf), -1);
}

static void
test_hotp_matches_rfc4226_appendix_d (void **state)
{
    (void)state;
    const char *expect[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
    for (int i = 0; i < 10; i++) {
        char out[9];
        assert_int_equal (totp_code (s_key, KEYLEN, i, 6, out), 0);
        assert_string_equal (out, expect[i]);
    }
}

static void
test_totp_matches_rfc6238_appendix_b_sha1 (void **state)
{
    (void)state;
    const int64_t times[] = {59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000};
    const char *expect[] = {"94287082", "07081804", "14050471", "89005924", "69279037", "65353130"};
    for (int i = 0; i < 6; i++) {
        char out[9];
        assert_int_equal (totp_code (s_key, KEYLEN, totp_step (times[i]), 8, out), 0);
        assert_string_equal (out, expect[i]);
        int64_t matched = -1;
        assert_int_equal (totp_check (s_key, KEYLEN, times[i], expect[i], 0, -1, &matched), 1);
        assert_int_equal (matched, totp_step (times[i]));
    }
}

static void
test_totp_code_refuses_bad_input (void **state)
{
    (void)state;
    char out[9];
    assert_int_equal (totp_code (NULL, 20, 1, 6, out), -1);
    assert_int_equal (totp_code (s_key, 0, 1, 6, out), -1);
    assert_int_equal (totp_code (s_key, TOTP_MAX_KEY + 1, 1, 6, out), -1);
    assert_int_equal (totp_code (s_key, KEYLEN, -1, 6, out), -1);
    assert_int_equal (totp_code (s_key, KEYLEN, 1, 5, out), -1);
    assert_int_equal (totp_code (s_key, KEYLEN, 1, 9, out), -1);
}

static void
test_totp_check_accepts_the_window_and_nothing_beyond (void **state)
{
    (void)state;
    int64_t now = 1111111111, step = totp_step (now), matched = 0;
    char prev[9], next[9], far[9];
    assert_int_equal (totp_code (s_key, KEYLEN, step - 1, 6, prev), 0);
    assert_int_equal (totp_code (s_key, KEYLEN, step + 1, 6, next), 0);
    assert_int_equal (totp_code (s_key, KEYLEN, step - 2, 6, far), 0);
    assert_int_equal (totp_check (s_key, KEYLEN, now, prev, 1, -1, &matched), 1);
    assert_int_equal (matched, step - 1);
    assert_int_equal (totp_check (s_key, KEYLEN, now, next, 1, -1, &matched), 1);
    assert_int_equal (matched, step + 1);
    assert_int_equal (totp_check (s_key, KEYLEN, now, far, 1, -1, &matched), 0);
    assert_int_equal (totp_check (s_key, KEYLEN, now, prev, 0, -1, &matched), 0);
}

static void
test_totp_check_never_accepts_a_used_step_again (void **state)
{
    (void)state;
    int64_t now = 1234567890, step = totp_step (now), matched = 0;
    char code[9], prev[9];
    assert_int_equal (totp_code (s_key, KEYLEN, step, 6, code), 0);
    assert_int_equal (totp_code (s_key, KEYLEN, step - 1, 6, prev), 0);
    assert_int_equal (totp_check (s_key, KEYLEN, now, code, 1, -1, &matched), 1);
    assert_int_equal (matched, step);
    //  RFC 6238 §5.2: the same code again, and an older one, are refused.
    assert_int_equal (totp_check (s_key, KEYLEN, now, code, 1, matched, &matched), 0);
    assert_int_equal (totp_check (s_key, KEYLEN, now + 29, code, 1, step, &matched), 0);
    assert_int_equal (totp_check (s_key, KEYLEN, now, prev, 1, step, &matched), 0);
}

static void
test_totp_check_refuses_malformed_codes (void **state)
{
    (void)state;
    int64_t matched = 0;
    assert_int_equal (totp_check (s_key, KEYLEN, 59, "12345", 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, "123456789", 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, "12345a", 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, " 123456", 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, "", 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, NULL, 1, -1, &matched), -1);
    assert_int_equal (totp_check (s_key, KEYLEN, 59, "123456", 11, -1, &matched), -1);
    assert_int_equal (totp_check (NULL, KEYLEN, 59, "123456", 1, -1, &matched), -1);
}

static void
test_totp_uri_is_percent_encoded_otpauth (void **state)
{
    (void)state;
    char *uri = totp_uri ("Ostiary Demo", "alice@example.com", (const unsigned char *)"foobar", 6);
    assert_non_null (uri);
    assert_string_equal (uri, "otpauth://totp/Ostiary%20Demo:alice%40example.com?secret=MZXW6YTBOI"
                              "&issuer=Ostiary%20Demo&algorithm=SHA1&digits=6&period=30");
    secure_free_str (&uri);
    uri = totp_uri ("A&B", "x?y=z#", s_key, KEYLEN);
    assert_non_null (uri);
    assert_non_null (strstr (uri, "totp/A%26B:x%3Fy%3Dz%23?"));
    assert_non_null (strstr (uri, "&issuer=A%26B&"));
    secure_free_str (&uri);
}

static void
test_totp_uri_refuses_bad_labels (void **state)
{
    (void)state;
    char long_name[300];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_null (totp_uri ("", "alice", s_key, KEYLEN));
    assert_null (totp_uri ("Ost", "", s_key, KEYLEN));
    assert_null (totp_uri ("Ost:iary", "alice", s_key, KEYLEN));
    assert_null (totp_uri (long_name, "alice", s_key, KEYLEN));
    assert_null (totp_uri ("Ost", long_name, s_key, KEYLEN));
    assert_null (totp_uri ("Ost", "alice", s_key, 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_base32_encodes_rfc4648_vectors),
        cmocka_unit_test (test_base32_decode_accepts_lower_case_spaces_and_padding),
        cmocka_unit_test (test_base32_decode_rejects_bad_text),
        cmocka_unit_test (test_base32_encode_refuses_a_short_buffer),
        cmocka_unit_test (test_hotp_matches_rfc4226_appendix_d),
        cmocka_unit_test (test_totp_matches_rfc6238_appendix_b_sha1),
        cmocka_unit_test (test_totp_code_refuses_bad_input),
        cmocka_unit_test (test_totp_check_accepts_the_window_and_nothing_beyond),
        cmocka_unit_test (test_totp_check_never_accepts_a_used_step_again),
        cmocka_unit_test (test_totp_check_refuses_malformed_codes),
        cmocka_unit_test (test_totp_uri_is_percent_encoded_otpauth),
        cmocka_unit_test (test_totp_uri_refuses_bad_labels),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
