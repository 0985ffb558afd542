/*  Unit tests of pages_accepts_html: whether an Accept header value
 *  (RFC 9110 §12.5.1) prefers an HTML page to the JSON error of the API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "gateway/pages.h"

static void
test_browser_navigation_prefers_html (void **state)
{
    (void)state;
    //  Chromium's and Firefox's Accept of a navigation.
    assert_true (
        pages_accepts_html ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                            "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"));
    assert_true (pages_accepts_html ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    assert_true (pages_accepts_html ("TEXT/HTML"));
    assert_true (pages_accepts_html ("application/xhtml+xml"));
}

static void
test_api_clients_get_json (void **state)
{
    (void)state;
    assert_false (pages_accepts_html (NULL));
    assert_false (pages_accepts_html (""));
    assert_false (pages_accepts_html ("*/*"));
    assert_false (pages_accepts_html ("application/json"));
    assert_false (pages_accepts_html ("text/*"));
}

static void
test_quality_decides_between_html_and_json (void **state)
{
    (void)state;
    assert_false (pages_accepts_html ("application/json, text/html;q=0.5"));
    assert_true (pages_accepts_html ("application/json;q=0.4, text/html"));
    assert_false (pages_accepts_html ("text/html;q=0"));
    assert_false (pages_accepts_html ("text/html;q=1, application/json"));
    assert_true (pages_accepts_html (" text/html ; charset=utf-8 ; q=0.9 , application/json ; q=0.1"));
    assert_false (pages_accepts_html ("text/html;q=nonsense"));
    assert_false (pages_accepts_html ("text/htmlx, text/htm"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_browser_navigation_prefers_html),
        cmocka_unit_test (test_api_clients_get_json),
        cmocka_unit_test (test_quality_decides_between_html_and_json),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
