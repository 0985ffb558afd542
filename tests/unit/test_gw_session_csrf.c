/*  Unit tests of pages_session_csrf: the CSRF token of the forms that act on
 *  the SSO session (/logout's confirmation, /account/sessions), derived from
 *  the session cookie's handle. Known answers computed with Python's hashlib:
 *  base64url(SHA-256("ostiary " purpose "\n" handle)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "gateway/pages.h"

#include <string.h>

#define HANDLE "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void
test_token_is_the_known_answer_per_purpose (void **state)
{
    (void)state;
    char out[PAGES_CSRF_CHARS + 1];
    assert_int_equal (pages_session_csrf (HANDLE, "logout confirmation", out), 0);
    assert_string_equal (out, "DRtbt7FCavx7VrsZTDK6pTipvQj68NoiHjAw-EzwKJs");
    assert_int_equal (pages_session_csrf (HANDLE, "account sessions", out), 0);
    assert_string_equal (out, "E-PElb02kN8NXqrATiSkFHrEDbhY9GauFhl9l1QxrX8");
}

static void
test_token_is_not_the_stored_hash_of_the_handle (void **state)
{
    (void)state;
    char out[PAGES_CSRF_CHARS + 1];
    assert_int_equal (pages_session_csrf (HANDLE, "logout confirmation", out), 0);
    //  base64url(SHA-256(handle)): what flow-svc keeps of the cookie.
    assert_string_not_equal (out, "DwBzhbb51LfusnSGBa_hqYSgo7-j8BTQnip4TOnlzRo");
    assert_int_equal (strlen (out), PAGES_CSRF_CHARS);
}

static void
test_another_handle_gives_another_token (void **state)
{
    (void)state;
    char a[PAGES_CSRF_CHARS + 1], b[PAGES_CSRF_CHARS + 1];
    assert_int_equal (pages_session_csrf (HANDLE, "account sessions", a), 0);
    assert_int_equal (
        pages_session_csrf ("BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "account sessions", b), 0);
    assert_string_not_equal (a, b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_token_is_the_known_answer_per_purpose),
        cmocka_unit_test (test_token_is_not_the_stored_hash_of_the_handle),
        cmocka_unit_test (test_another_handle_gives_another_token),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
