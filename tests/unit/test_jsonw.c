/*  Unit tests of jsonw: the same text as json_dumps with JSON_COMPACT (and
 *  JSON_SORT_KEYS) for every kind of value, escape and nesting, and the same
 *  refusals. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jsonw.h"

#include <stdlib.h>
#include <string.h>

//  jsonw_dump and json_dumps agree on json, in both key orders.
static void
s_agree (const json_t *json)
{
    for (int sort = 0; sort < 2; sort++) {
        char *expected = json_dumps (json, JSON_COMPACT | (sort ? JSON_SORT_KEYS : 0));
        size_t len = 0;
        char *got = jsonw_dump (json, sort, &len);
        if (!expected) {
            assert_null (got);
            continue;
        }
        assert_non_null (got);
        assert_string_equal (got, expected);
        assert_int_equal (len, strlen (expected));
        free (expected);
        free (got);
    }
}

static void
test_jsonw_token_response (void **state)
{
    (void)state;
    json_t *json =
        json_pack ("{s:s, s:s, s:I, s:s}", "access_token", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
                   "token_type", "Bearer", "expires_in", (json_int_t)3600, "scope", "profile email");
    char *got = jsonw_dump (json, 0, NULL);
    assert_string_equal (got, "{\"access_token\":\"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\","
                              "\"token_type\":\"Bearer\",\"expires_in\":3600,\"scope\":\"profile email\"}");
    free (got);
    got = jsonw_dump (json, 1, NULL);
    assert_string_equal (got, "{\"access_token\":\"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\","
                              "\"expires_in\":3600,\"scope\":\"profile email\",\"token_type\":\"Bearer\"}");
    free (got);
    s_agree (json);
    json_decref (json);
}

static void
test_jsonw_every_kind (void **state)
{
    (void)state;
    json_t *json = json_pack ("{s:[i, I, f, f, f, b, b, n], s:{}, s:[], s:{s:{s:[{}]}}, s:s}", "numbers", 0,
                              (json_int_t)-9223372036854775807LL - 1, 1.5, 100.0, 1e300, 1, 0, "empty",
                              "none", "deep", "a", "b", "", "");
    s_agree (json);
    json_decref (json);
}

static void
test_jsonw_escapes (void **state)
{
    (void)state;
    //  Every byte below 0x20, the two that are always escaped, and what is
    //  never escaped ('/', DEL, UTF-8 of two, three and four bytes).
    char all[40];
    for (int i = 0; i < 32; i++)
        all[i] = (char)(i + 1 == 32 ? 31 : i + 1);
    json_t *json = json_object ();
    json_object_set_new (json, "controls", json_stringn (all, 31));
    json_object_set_new (json, "nul", json_stringn ("a\0b", 3));
    json_object_set_new (json, "quotes", json_string ("\"\\/\x7f"));
    json_object_set_new (json, "utf8",
                         json_string ("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xef\xbf\xbf"));
    json_object_set_new (json, "key \"\n\xc3\xa9", json_string ("v"));
    json_object_set_new (json, "B", json_true ());
    json_object_set_new (json, "A", json_false ());
    json_object_set_new (json, "AB", json_null ());
    s_agree (json);
    json_decref (json);
}

static void
test_jsonw_refuses_what_jansson_refuses (void **state)
{
    (void)state;
    //  Not an object or an array.
    json_t *s = json_string ("x");
    assert_null (jsonw_dump (s, 0, NULL));
    assert_null (json_dumps (s, JSON_COMPACT));
    json_decref (s);
    //  Strings that are not UTF-8 (overlong, surrogate, beyond U+10FFFF,
    //  a lone continuation byte, a sequence cut short).
    const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82", "a\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *json = json_pack ("{s:o}", "v", json_string_nocheck (bad[i]));
        assert_null (json_dumps (json, JSON_COMPACT));
        assert_null (jsonw_dump (json, 0, NULL));
        json_decref (json);
    }
    //  Too deep.
    json_t *deep = json_array ();
    json_t *inner = deep;
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) {
        json_t *next = json_array ();
        json_array_append_new (inner, next);
        inner = next;
    }
    assert_null (jsonw_dump (deep, 0, NULL));
    json_decref (deep);
}

//  A random value of depth at most depth, from rand() (seeded by the test).
static json_t *
s_random (int depth)
{
    int kind = rand () % (depth > 0 ? 8 : 6);
    switch (kind) {
    case 0:
        return json_integer ((json_int_t)rand () - RAND_MAX / 2);
    case 1:
        return json_real ((double)rand () / 7.0);
    case 2:
        return rand () % 2 ? json_true () : json_null ();
    case 3:
    case 4:
    case 5: {
        char text[64];
        size_t n = (size_t)(rand () % 40);
        for (size_t i = 0; i < n; i++) {
            int c = rand () % 100;
            text[i] = c < 5    ? (char)(rand () % 32)
                      : c < 10 ? '"'
                      : c < 15 ? '\\'
                               : (char)(' ' + rand () % 95);
        }
        return json_stringn (text, n);
    }
    case 6: {
        json_t *a = json_array ();
        for (int i = rand () % 5; i > 0; i--)
            json_array_append_new (a, s_random (depth - 1));
        return a;
    }
    default: {
        json_t *o = json_object ();
        for (int i = rand () % 6; i > 0; i--) {
            char key[8];
            snprintf (key, sizeof key, "%c%d", 'a' + rand () % 26, rand () % 100);
            json_object_set_new (o, key, s_random (depth - 1));
        }
        return o;
    }
    }
}

static void
test_jsonw_random_documents (void **state)
{
    (void)state;
    srand (23);
    for (int i = 0; i < 2000; i++) {
        json_t *json = json_object ();
        json_object_set_new (json, "v", s_random (4));
        json_object_set_new (json, "w", s_random (3));
        s_agree (json);
        json_decref (json);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_jsonw_token_response),
        cmocka_unit_test (test_jsonw_every_kind),
        cmocka_unit_test (test_jsonw_escapes),
        cmocka_unit_test (test_jsonw_refuses_what_jansson_refuses),
        cmocka_unit_test (test_jsonw_random_documents),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
