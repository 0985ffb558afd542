/*  Unit tests of the runtime settings table (common/settings.def): every
 *  definition is well formed, lookups, a default replaced within bounds
 *  only, stored values outside bounds ignored, and the per-thread copy that
 *  reads the store again only when invalidated or old. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "settings_table.h"

#include <string.h>

static void
test_every_setting_has_an_owner_bounds_and_a_description (void **state)
{
    (void)state;
    for (int id = 0; id < SETTING_COUNT; id++) {
        const setting_def_t *d = settings_def (id);
        assert_non_null (d);
        assert_int_equal (settings_find (d->name), id);
        assert_true (!strcmp (d->service, "flow") || !strcmp (d->service, "token"));
        assert_true (d->min <= d->def && d->def <= d->max);
        //  The shape setting of proto/ops.def bounds a description to 255 bytes.
        assert_true (strlen (d->description) > 10 && strlen (d->description) <= 255);
    }
    assert_null (settings_def (SETTING_COUNT));
    assert_null (settings_def (-1));
    assert_int_equal (settings_find ("no_such_setting"), -1);
    assert_int_equal (settings_find (NULL), -1);
    assert_string_equal (settings_def (SETTING_PKCE_REQUIRED)->service, "token");
    assert_string_equal (settings_def (SETTING_LOCKOUT_THRESHOLD)->service, "flow");
}

static void
test_default_is_replaced_only_within_bounds (void **state)
{
    (void)state;
    assert_int_equal (settings_set_default (SETTING_PKCE_REQUIRED, 0), 0);
    assert_int_equal (settings_def (SETTING_PKCE_REQUIRED)->def, 0);
    assert_int_equal (settings_set_default (SETTING_PKCE_REQUIRED, 2), -1);
    assert_int_equal (settings_set_default (SETTING_COUNT, 1), -1);
    assert_int_equal (settings_def (SETTING_PKCE_REQUIRED)->def, 0);
    assert_int_equal (settings_set_default (SETTING_PKCE_REQUIRED, 1), 0);
}

static void
test_stored_values_outside_bounds_are_ignored (void **state)
{
    (void)state;
    json_t *stored =
        json_pack ("{s:i, s:i, s:s}", "lockout_threshold", 7, "lockout_seconds", 0, "pkce_required", "yes");
    assert_int_equal (settings_value (stored, SETTING_LOCKOUT_THRESHOLD), 7);
    assert_int_equal (settings_value (stored, SETTING_LOCKOUT_SECONDS), 900);
    assert_int_equal (settings_value (stored, SETTING_PKCE_REQUIRED), 1);
    assert_int_equal (settings_value (NULL, SETTING_CODE_MAIL_CAP), 5);
    json_decref (stored);
}

//  A store for settings_get: counts its reads, answers s_stored.
static int s_loads;
static long s_stored_threshold = 3;
static int s_fail;

static db_status_t
s_load (db_t *db, json_t **stored)
{
    (void)db;
    s_loads++;
    if (s_fail) {
        *stored = NULL;
        return DB_UNAVAILABLE;
    }
    *stored = json_pack ("{s:I}", "lockout_threshold", (json_int_t)s_stored_threshold);
    return DB_OK;
}

static void
test_thread_copy_is_read_again_only_after_invalidate (void **state)
{
    (void)state;
    settings_invalidate ();
    s_loads = 0;
    assert_int_equal (settings_get (NULL, s_load, SETTING_LOCKOUT_THRESHOLD), 3);
    assert_int_equal (settings_get (NULL, s_load, SETTING_LOCKOUT_SECONDS), 900);
    assert_int_equal (s_loads, 1);
    s_stored_threshold = 4;
    //  Within the refresh period the copy stands.
    assert_int_equal (settings_get (NULL, s_load, SETTING_LOCKOUT_THRESHOLD), 3);
    settings_invalidate ();
    assert_int_equal (settings_get (NULL, s_load, SETTING_LOCKOUT_THRESHOLD), 4);
    assert_int_equal (s_loads, 2);
    //  A store that fails keeps the values in force.
    s_fail = 1;
    settings_invalidate ();
    assert_int_equal (settings_get (NULL, s_load, SETTING_LOCKOUT_THRESHOLD), 4);
    s_fail = 0;
    assert_int_equal (settings_get (NULL, s_load, SETTING_COUNT), 0);
}

static void
test_setting_object_has_the_shape_members (void **state)
{
    (void)state;
    json_t *obj = settings_object (SETTING_PKCE_REQUIRED, 0);
    assert_non_null (obj);
    assert_string_equal (json_string_value (json_object_get (obj, "name")), "pkce_required");
    assert_int_equal (json_integer_value (json_object_get (obj, "value")), 0);
    assert_int_equal (json_integer_value (json_object_get (obj, "min")), 0);
    assert_int_equal (json_integer_value (json_object_get (obj, "max")), 1);
    assert_string_equal (json_string_value (json_object_get (obj, "service")), "token");
    json_decref (obj);
    assert_null (settings_object (-1, 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_setting_has_an_owner_bounds_and_a_description),
        cmocka_unit_test (test_default_is_replaced_only_within_bounds),
        cmocka_unit_test (test_stored_values_outside_bounds_are_ignored),
        cmocka_unit_test (test_thread_copy_is_read_again_only_after_invalidate),
        cmocka_unit_test (test_setting_object_has_the_shape_members),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
