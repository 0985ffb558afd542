/*  Unit tests of the gateway's Authorization header parsers: Bearer
 *  (RFC 6750 §2.1) and Basic client credentials (RFC 6749 §2.3.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "gateway/http.h"
#include "gateway/routes.h"

#include <string.h>

static void
test_bearer_token_is_read (void **state)
{
    (void)state;
    char out[64];
    assert_int_equal (http_bearer_parse ("Bearer abc.DEF-_~+/==", out, sizeof out), 1);
    assert_string_equal (out, "abc.DEF-_~+/==");
    assert_int_equal (http_bearer_parse ("bearer   tok  ", out, sizeof out), 1);
    assert_string_equal (out, "tok");
    assert_int_equal (http_bearer_parse (NULL, out, sizeof out), 0);
    assert_int_equal (http_bearer_parse ("Basic YTpi", out, sizeof out), 0);
    assert_int_equal (http_bearer_parse ("Bearerx tok", out, sizeof out), 0);
    assert_int_equal (http_bearer_parse ("Bearer a=b", out, sizeof out), -1);
    assert_int_equal (http_bearer_parse ("Bearer toolong", out, 5), -1);
}

//  "Bearer" alone ends the string where the token would start: nothing
//  after its NUL may be read as the token (here the rest of a buffer that
//  holds more, as civetweb's request buffer does).
static void
test_bearer_scheme_alone_is_malformed_and_reads_nothing_beyond (void **state)
{
    (void)state;
    const char buffer[] = "Bearer\0stolen";
    char out[64] = "";
    assert_int_equal (http_bearer_parse (buffer, out, sizeof out), -1);
    assert_string_not_equal (out, "stolen");
    assert_int_equal (http_bearer_parse ("Bearer ", out, sizeof out), -1);
}

static void
test_basic_credentials_are_form_decoded (void **state)
{
    (void)state;
    json_t *basic = NULL;
    //  base64("client%3Aid:p%40ss+word")
    assert_int_equal (token_basic_parse ("Basic Y2xpZW50JTNBaWQ6cCU0MHNzK3dvcmQ=", &basic), 1);
    assert_string_equal (json_string_value (json_object_get (basic, "client_id")), "client:id");
    assert_string_equal (json_string_value (json_object_get (basic, "client_secret")), "p@ss word");
    json_decref (basic);
    assert_int_equal (token_basic_parse (NULL, &basic), 0);
    assert_int_equal (token_basic_parse ("Basic", &basic), -1);
    assert_int_equal (token_basic_parse ("Basic bm9jb2xvbg==", &basic), -1); //  "nocolon"
    assert_int_equal (token_basic_parse ("Basic OnNlY3JldA==", &basic), -1); //  ":secret"
    assert_null (basic);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bearer_token_is_read),
        cmocka_unit_test (test_bearer_scheme_alone_is_malformed_and_reads_nothing_beyond),
        cmocka_unit_test (test_basic_credentials_are_form_decoded),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
