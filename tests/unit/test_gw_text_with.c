/*  Unit tests of html_text_with: a catalogue's text and the value of its
 *  placeholder are both escaped; only the element we name wraps the value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "gateway/pages.h"

static void
test_placeholder_value_is_escaped_inside_the_named_element (void **state)
{
    (void)state;
    html_t body;
    html_init (&body);
    html_text_with (&body, "to continue to {client}", "client", "<script>&\"", "strong");
    assert_string_equal (body.data, "to continue to <strong>&lt;script&gt;&amp;&#34;</strong>");
    html_free (&body);
    html_init (&body);
    html_text_with (&body, "We sent a code to {email}. Enter it.", "email", "a@b",
                    "strong id=\"email-hint\"");
    assert_string_equal (body.data, "We sent a code to <strong id=\"email-hint\">a@b</strong>. Enter it.");
    html_free (&body);
}

static void
test_catalogue_text_is_escaped_too (void **state)
{
    (void)state;
    html_t body;
    html_init (&body);
    //  A translation cannot inject markup either.
    html_text_with (&body, "<b>{user}</b> & co", "user", "ann", NULL);
    assert_string_equal (body.data, "&lt;b&gt;ann&lt;/b&gt; &amp; co");
    html_free (&body);
}

static void
test_text_without_the_placeholder_is_plain_text (void **state)
{
    (void)state;
    html_t body;
    html_init (&body);
    html_text_with (&body, "Hello {other}", "user", "ann", "strong");
    assert_string_equal (body.data, "Hello {other}");
    html_free (&body);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_placeholder_value_is_escaped_inside_the_named_element),
        cmocka_unit_test (test_catalogue_text_is_escaped_too),
        cmocka_unit_test (test_text_without_the_placeholder_is_plain_text),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
