/*  Unit tests of the bounded form parser: decoding rules (WHATWG URL §5.1
 *  with strict escapes), every limit, repeated names (RFC 6749 §3.1/§3.2),
 *  empty values treated as omitted (RFC 6749 §3.1), and the encoder used to
 *  build redirect URIs (RFC 6749 Appendix B). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "form.h"

#include <stdlib.h>
#include <string.h>

static const form_limits_t s_limits = {.max_total = 1024, .max_params = 8, .max_name = 16, .max_value = 32};

static form_t *
s_parse (const char *text, form_status_t *status)
{
    return form_parse (text, text ? strlen (text) : 0, &s_limits, status);
}

static void
test_form_parses_pairs_in_order (void **state)
{
    (void)state;
    form_status_t status;
    form_t *form = s_parse ("a=1&b=two&c=", &status);
    assert_non_null (form);
    assert_int_equal (status, FORM_OK);
    assert_int_equal (form_count (form), 3);
    assert_string_equal (form_name_at (form, 0), "a");
    assert_string_equal (form_value_at (form, 0), "1");
    assert_string_equal (form_name_at (form, 1), "b");
    assert_string_equal (form_value_at (form, 1), "two");
    assert_string_equal (form_name_at (form, 2), "c");
    assert_string_equal (form_value_at (form, 2), "");
    assert_null (form_name_at (form, 3));
    assert_null (form_value_at (form, 3));
    form_destroy (&form);
    assert_null (form);
    form_destroy (&form);
}

static void
test_form_empty_input_is_empty_form (void **state)
{
    (void)state;
    form_status_t status;
    form_t *form = form_parse (NULL, 0, &s_limits, &status);
    assert_non_null (form);
    assert_int_equal (form_count (form), 0);
    assert_null (form_get (form, "a", 0));
    form_destroy (&form);
    //  Empty sequences between '&' are skipped (WHATWG URL §5.1 step 3.1).
    form = s_parse ("&&a=1&&", &status);
    assert_non_null (form);
    assert_int_equal (form_count (form), 1);
    assert_string_equal (form_get (form, "a", 0), "1");
    form_destroy (&form);
}

static void
test_form_decodes_percent_and_plus (void **state)
{
    (void)state;
    form_status_t status;
    form_t *form = s_parse ("redirect_uri=https%3A%2F%2Frp.example%2Fcb%3Fx%3D1&scope=openid+profile"
                            "&n%61me=%C3%A9t%c3%a9&eq=a=b",
                            &status);
    assert_non_null (form);
    assert_string_equal (form_get (form, "redirect_uri", 0), "https://rp.example/cb?x=1");
    assert_string_equal (form_get (form, "scope", 0), "openid profile");
    assert_string_equal (form_get (form, "name", 0), "\xc3\xa9t\xc3\xa9");
    //  Only the first '=' separates name and value.
    assert_string_equal (form_get (form, "eq", 0), "a=b");
    form_destroy (&form);
    //  A name without '=' has the empty value.
    form = s_parse ("flag", &status);
    assert_non_null (form);
    assert_string_equal (form_get (form, "flag", 0), "");
    form_destroy (&form);
}

static void
test_form_refuses_bad_escapes (void **state)
{
    (void)state;
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%4g", "a%=1", "a=1%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        form_status_t status = FORM_OK;
        form_t *form = s_parse (bad[i], &status);
        assert_null (form);
        assert_int_equal (status, FORM_BAD_ESCAPE);
    }
}

static void
test_form_refuses_nul_bytes (void **state)
{
    (void)state;
    form_status_t status = FORM_OK;
    assert_null (s_parse ("a=%00", &status));
    assert_int_equal (status, FORM_NUL);
    assert_null (s_parse ("a%00b=1", &status));
    assert_int_equal (status, FORM_NUL);
    const char raw[] = {'a', '=', 'x', '\0', 'y'};
    assert_null (form_parse (raw, sizeof raw, &s_limits, &status));
    assert_int_equal (status, FORM_NUL);
}

static void
test_form_refuses_invalid_utf8 (void **state)
{
    (void)state;
    const char *bad[] = {"a=%FF", "a=%C3", "a=%C0%AF", "a=%ED%A0%80", "a=%F4%90%80%80", "%80=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        form_status_t status = FORM_OK;
        assert_null (s_parse (bad[i], &status));
        assert_int_equal (status, FORM_BAD_UTF8);
    }
    form_status_t status;
    form_t *form = s_parse ("a=%F0%9F%94%91", &status);
    assert_non_null (form);
    assert_string_equal (form_get (form, "a", 0), "\xf0\x9f\x94\x91");
    form_destroy (&form);
}

static void
test_form_refuses_empty_name (void **state)
{
    (void)state;
    form_status_t status = FORM_OK;
    assert_null (s_parse ("a=1&=2", &status));
    assert_int_equal (status, FORM_EMPTY_NAME);
}

static void
test_form_enforces_every_limit (void **state)
{
    (void)state;
    form_status_t status = FORM_OK;
    char big[2048];
    memset (big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null (s_parse (big, &status));
    assert_int_equal (status, FORM_TOO_LARGE);

    assert_null (s_parse ("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9", &status));
    assert_int_equal (status, FORM_TOO_MANY);
    form_t *form = s_parse ("a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8", &status);
    assert_non_null (form);
    assert_int_equal (form_count (form), 8);
    form_destroy (&form);

    assert_null (s_parse ("abcdefghijklmnopq=1", &status));
    assert_int_equal (status, FORM_NAME_TOO_LONG);
    form = s_parse ("abcdefghijklmnop=1", &status);
    assert_non_null (form);
    form_destroy (&form);

    assert_null (s_parse ("a=123456789012345678901234567890123", &status));
    assert_int_equal (status, FORM_VALUE_TOO_LONG);
    //  The limit is on the decoded value: 32 escaped bytes fit.
    form = s_parse ("a=%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
                    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41",
                    &status);
    assert_non_null (form);
    assert_int_equal (strlen (form_get (form, "a", 0)), 32);
    form_destroy (&form);
}

static void
test_form_repeated_names_are_reported (void **state)
{
    (void)state;
    form_status_t status;
    form_t *form = s_parse ("scope=openid&state=x&scope=email&state=y&a=1", &status);
    assert_non_null (form);
    assert_int_equal (form_occurrences (form, "scope", 0), 2);
    assert_int_equal (form_occurrences (form, "a", 0), 1);
    assert_int_equal (form_occurrences (form, "zzz", 0), 0);
    assert_string_equal (form_first_repeated (form, 0), "scope");
    //  The first occurrence is what form_get answers.
    assert_string_equal (form_get (form, "scope", 0), "openid");
    json_t *repeated = form_repeated_json (form, 0);
    assert_non_null (repeated);
    assert_int_equal (json_array_size (repeated), 2);
    assert_string_equal (json_string_value (json_array_get (repeated, 0)), "scope");
    assert_string_equal (json_string_value (json_array_get (repeated, 1)), "state");
    json_decref (repeated);
    form_destroy (&form);

    form = s_parse ("a=1&b=2", &status);
    assert_null (form_first_repeated (form, 0));
    repeated = form_repeated_json (form, 0);
    assert_int_equal (json_array_size (repeated), 0);
    json_decref (repeated);
    form_destroy (&form);
}

static void
test_form_empty_values_count_as_omitted_when_asked (void **state)
{
    (void)state;
    form_status_t status;
    //  RFC 6749 §3.1: a parameter without a value is as if omitted.
    form_t *form = s_parse ("scope=&scope=openid&nonce=", &status);
    assert_non_null (form);
    assert_string_equal (form_get (form, "scope", 0), "");
    assert_string_equal (form_get (form, "scope", 1), "openid");
    assert_null (form_get (form, "nonce", 1));
    assert_int_equal (form_occurrences (form, "scope", 0), 2);
    assert_int_equal (form_occurrences (form, "scope", 1), 1);
    assert_string_equal (form_first_repeated (form, 0), "scope");
    assert_null (form_first_repeated (form, 1));
    json_t *repeated = form_repeated_json (form, 1);
    assert_int_equal (json_array_size (repeated), 0);
    json_decref (repeated);
    json_t *params = form_to_json (form, 1);
    assert_non_null (params);
    assert_int_equal (json_object_size (params), 1);
    assert_string_equal (json_string_value (json_object_get (params, "scope")), "openid");
    json_decref (params);
    params = form_to_json (form, 0);
    assert_int_equal (json_object_size (params), 2);
    assert_string_equal (json_string_value (json_object_get (params, "scope")), "");
    json_decref (params);
    form_destroy (&form);
}

static void
test_form_null_form_is_empty (void **state)
{
    (void)state;
    assert_int_equal (form_count (NULL), 0);
    assert_null (form_get (NULL, "a", 0));
    assert_int_equal (form_occurrences (NULL, "a", 0), 0);
    assert_null (form_first_repeated (NULL, 0));
    json_t *empty = form_to_json (NULL, 0);
    assert_int_equal (json_object_size (empty), 0);
    json_decref (empty);
    empty = form_repeated_json (NULL, 0);
    assert_int_equal (json_array_size (empty), 0);
    json_decref (empty);
}

static void
test_form_status_text_is_fixed_for_every_status (void **state)
{
    (void)state;
    for (int s = FORM_OK; s <= FORM_NO_MEMORY; s++) {
        const char *text = form_status_text ((form_status_t)s);
        assert_non_null (text);
        assert_true (strlen (text) > 0);
        //  Fit for an RFC 6749 error_description: no quote, no backslash.
        assert_null (strchr (text, '"'));
        assert_null (strchr (text, '\\'));
    }
    assert_string_equal (form_status_text (FORM_BAD_ESCAPE), "A parameter has an invalid percent-encoding");
}

//  The codes pages say a refused form with (error.form.<code>): distinct,
//  one per status, lowercase letters, digits and underscores.
static void
test_form_status_code_is_distinct_for_every_status (void **state)
{
    (void)state;
    for (int s = FORM_OK; s <= FORM_NO_MEMORY; s++) {
        const char *code = form_status_code ((form_status_t)s);
        assert_non_null (code);
        assert_true (strlen (code) > 0);
        assert_int_equal (strspn (code, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen (code));
        for (int t = FORM_OK; t < s; t++)
            assert_string_not_equal (code, form_status_code ((form_status_t)t));
    }
    assert_string_equal (form_status_code (FORM_BAD_UTF8), "bad_utf8");
    assert_string_equal (form_status_code ((form_status_t)99), "malformed");
}

static void
test_form_decode_component_is_strict (void **state)
{
    (void)state;
    char *out = form_decode_component ("a%20b+c", 7, 64, 0);
    assert_non_null (out);
    assert_string_equal (out, "a b+c");
    free (out);
    out = form_decode_component ("a%20b+c", 7, 64, 1);
    assert_string_equal (out, "a b c");
    free (out);
    //  RFC 6749 §2.3.1: a client id holding ':' arrives encoded.
    out = form_decode_component ("my%3Aclient", 11, 64, 1);
    assert_string_equal (out, "my:client");
    free (out);
    out = form_decode_component ("", 0, 64, 1);
    assert_string_equal (out, "");
    free (out);
    assert_null (form_decode_component ("%zz", 3, 64, 1));
    assert_null (form_decode_component ("%00", 3, 64, 1));
    assert_null (form_decode_component ("%FF", 3, 64, 1));
    assert_null (form_decode_component ("abcdef", 6, 5, 1));
    assert_null (form_decode_component (NULL, 0, 5, 1));
    //  Only len bytes are read.
    out = form_decode_component ("abc%zz", 3, 64, 1);
    assert_string_equal (out, "abc");
    free (out);
}

static void
test_form_encode_append_roundtrips (void **state)
{
    (void)state;
    char out[64] = "https://rp.example/cb?state=";
    long n = form_encode_append (out, sizeof out, "a b&c=d/é~");
    assert_true (n > 0);
    assert_string_equal (out, "https://rp.example/cb?state=a%20b%26c%3Dd%2F%C3%A9~");
    assert_int_equal ((size_t)n, strlen (out));
    //  Decoding the encoding gives the value back.
    const char *enc = strchr (out, '=') + 1;
    char *back = form_decode_component (enc, strlen (enc), 64, 1);
    assert_string_equal (back, "a b&c=d/é~");
    free (back);

    char small[8] = "ab";
    assert_int_equal (form_encode_append (small, sizeof small, "cdefghij"), -1);
    assert_string_equal (small, "ab");
    assert_int_equal (form_encode_append (small, sizeof small, "cd ef"), -1);
    assert_string_equal (small, "ab");
    assert_int_equal (form_encode_append (small, sizeof small, "cdefg"), 7);
    assert_string_equal (small, "abcdefg");
    assert_int_equal (form_encode_append (NULL, 0, "x"), -1);
}

static void
test_form_append_param_adds_one_encoded_pair_or_nothing (void **state)
{
    (void)state;
    char out[52] = "https://op.example/authorize";
    assert_int_equal (form_append_param (out, sizeof out, "?", "scope", "openid email"), 49);
    assert_string_equal (out, "https://op.example/authorize?scope=openid%20email");
    //  Full: whichever part does not fit, out is left as it was.
    char before[52];
    memcpy (before, out, sizeof out);
    assert_int_equal (form_append_param (out, sizeof out, "&", "x", ""), -1);
    assert_string_equal (out, before);
    char small[16] = "/p";
    assert_int_equal (form_append_param (small, sizeof small, "?", "a b", "c"), 10);
    assert_string_equal (small, "/p?a%20b=c");
    assert_int_equal (form_append_param (small, sizeof small, "&", "k", "vvvv"), -1);
    assert_string_equal (small, "/p?a%20b=c");
    assert_int_equal (form_append_param (small, sizeof small, "&", "k", "vv"), 15);
    assert_string_equal (small, "/p?a%20b=c&k=vv");
    //  No separator, a NULL value as empty; bad arguments.
    char bare[16] = "";
    assert_int_equal (form_append_param (bare, sizeof bare, "", "n", NULL), 2);
    assert_string_equal (bare, "n=");
    assert_int_equal (form_append_param (NULL, 0, "?", "n", "v"), -1);
    assert_int_equal (form_append_param (bare, sizeof bare, NULL, "n", "v"), -1);
    assert_int_equal (form_append_param (bare, sizeof bare, "?", NULL, "v"), -1);
    assert_string_equal (bare, "n=");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_form_parses_pairs_in_order),
        cmocka_unit_test (test_form_empty_input_is_empty_form),
        cmocka_unit_test (test_form_decodes_percent_and_plus),
        cmocka_unit_test (test_form_refuses_bad_escapes),
        cmocka_unit_test (test_form_refuses_nul_bytes),
        cmocka_unit_test (test_form_refuses_invalid_utf8),
        cmocka_unit_test (test_form_refuses_empty_name),
        cmocka_unit_test (test_form_enforces_every_limit),
        cmocka_unit_test (test_form_repeated_names_are_reported),
        cmocka_unit_test (test_form_empty_values_count_as_omitted_when_asked),
        cmocka_unit_test (test_form_null_form_is_empty),
        cmocka_unit_test (test_form_status_text_is_fixed_for_every_status),
        cmocka_unit_test (test_form_status_code_is_distinct_for_every_status),
        cmocka_unit_test (test_form_decode_component_is_strict),
        cmocka_unit_test (test_form_encode_append_roundtrips),
        cmocka_unit_test (test_form_append_param_adds_one_encoded_pair_or_nothing),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
