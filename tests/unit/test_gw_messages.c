/*  Unit tests of the pages' coded messages: every code a page may say a
 *  refusal with has its sentence in the English catalogue (locales/en.json,
 *  or OSTIARY_LOCALES_DIR), which test_i18n holds every other language to.
 *  The codes come from their one table each: the OAuth codes of
 *  proto/errors.def that a page shows (pages_bus_error: "error.oauth.<code>"),
 *  the reasons of proto/page_errors.def ("error.page.<reason>"), and the
 *  statuses of form_parse ("error.form.<code>"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

//  cmocka.h after the headers it needs (a block of its own keeps clang-format from sorting it first).
#include <cmocka.h>

#include "form.h"
#include "i18n.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>

static i18n_t *
s_catalogues (void)
{
    const char *dir = getenv ("OSTIARY_LOCALES_DIR");
    i18n_t *self = i18n_new (dir ? dir : "locales");
    assert_non_null (self);
    return self;
}

//  1 when English has prefix + code, else 0 (printed).
static int
s_has (const i18n_t *self, const char *prefix, const char *code)
{
    char key[I18N_MAX_KEY + 1];
    snprintf (key, sizeof key, "%s%s", prefix, code);
    if (i18n_has (self, "en", key))
        return 1;
    print_error ("en.json has no \"%s\"\n", key);
    return 0;
}

//  A page shows the code an HTTP client would get (proto_err_http); our
//  own faults (5xx) all get the one "temporarily unavailable" page.
static void
test_every_oauth_code_a_page_shows_has_a_message (void **state)
{
    (void)state;
    i18n_t *self = s_catalogues ();
    int missing = 0, codes = 0;
    for (int id = 0; id < OST_ERR__COUNT; id++) {
        const err_def_t *shown = proto_err_http ((ost_err_t)id);
        if (shown->http_status >= 500)
            continue;
        codes++;
        missing += !s_has (self, "error.oauth.", shown->code);
    }
    assert_true (codes > 10);
    assert_int_equal (missing, 0);
    i18n_destroy (&self);
}

static void
test_every_page_error_reason_has_a_message (void **state)
{
    (void)state;
    i18n_t *self = s_catalogues ();
    int missing = 0;
    for (int id = 0; id < OST_PAGE_ERR__COUNT; id++)
        missing += !s_has (self, "error.page.", proto_page_err ((ost_page_err_t)id));
    assert_int_equal (missing, 0);
    i18n_destroy (&self);
}

//  FORM_NO_MEMORY is answered 503 "temporarily unavailable", never as a
//  refused form.
static void
test_every_refused_form_status_has_a_message (void **state)
{
    (void)state;
    i18n_t *self = s_catalogues ();
    int missing = 0;
    for (int s = FORM_OK + 1; s < FORM_NO_MEMORY; s++)
        missing += !s_has (self, "error.form.", form_status_code ((form_status_t)s));
    assert_int_equal (missing, 0);
    i18n_destroy (&self);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_oauth_code_a_page_shows_has_a_message),
        cmocka_unit_test (test_every_page_error_reason_has_a_message),
        cmocka_unit_test (test_every_refused_form_status_has_a_message),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
