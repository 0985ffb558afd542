/*  token-svc's runtime settings in-process (tests/svc/svc_harness.h):
 *  token.settings_list and token.settings_set with their bounds, the
 *  optimistic check of expected, the audit event, and pkce_required: the
 *  global default of PKCE enforcement (RFC 9700 §2.1.1) that a client
 *  without a choice of its own follows at /authorize, and a client with one
 *  does not. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc_harness.h"

#include <stdio.h>
#include <string.h>

//  A confidential client; pkce: its own choice as a JSON member, or "".
static void
s_client (char *id, size_t size, const char *pkce)
{
    svc_unique (id, size, "st");
    json_decref (svc_ok (svc_h, "token.client_add",
                         "{\"client_id\": \"%s\", \"redirect_uris\": [\"https://rp.example/%s\"]%s}", id, id,
                         pkce));
}

//  token.authorize without a code_challenge: 1 when the request was stored,
//  0 when refused for the missing challenge.
static int
s_accepted_without_pkce (const char *id)
{
    json_t *r = svc_ok (svc_h, "token.authorize",
                        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%s\", \"redirect_uri\":"
                        " \"https://rp.example/%s\", \"scope\": \"openid\"}}",
                        id, id);
    int stored = json_object_get (r, "request") != NULL;
    if (!stored)
        assert_string_equal (svc_str (r, "redirect.params.error_description"),
                             "code_challenge is required for this client");
    json_decref (r);
    return stored;
}

static void
s_set (const char *body)
{
    json_decref (svc_ok (svc_h, "token.settings_set", "%s", body));
}

static void
test_settings_list_shows_token_settings_with_bounds (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.settings_list", NULL);
    json_t *list = json_object_get (r, "settings");
    assert_int_equal (json_array_size (list), 2);
    json_t *s = json_array_get (list, 0);
    assert_string_equal (svc_str (s, "name"), "pkce_required");
    assert_string_equal (svc_str (s, "service"), "token");
    assert_int_equal (svc_int (s, "min"), 0);
    assert_int_equal (svc_int (s, "max"), 1);
    s = json_array_get (list, 1);
    assert_string_equal (svc_str (s, "name"), "clock_skew");
    assert_string_equal (svc_str (s, "service"), "token");
    assert_int_equal (svc_int (s, "min"), 0);
    assert_int_equal (svc_int (s, "max"), 300);
    json_decref (r);
}

static void
test_pkce_required_toggles_authorize_for_clients_without_a_choice (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char plain[64], own_on[64], own_off[64];
    s_client (plain, sizeof plain, "");
    s_client (own_on, sizeof own_on, ", \"require_pkce\": true");
    s_client (own_off, sizeof own_off, ", \"require_pkce\": false");
    assert_false (s_accepted_without_pkce (plain));
    assert_false (s_accepted_without_pkce (own_on));
    assert_true (s_accepted_without_pkce (own_off));
    //  Off: the client without a choice follows; the others keep theirs. The
    //  replica that stored it applies it at once.
    s_set ("{\"name\": \"pkce_required\", \"value\": 0}");
    assert_true (s_accepted_without_pkce (plain));
    assert_false (s_accepted_without_pkce (own_on));
    assert_true (s_accepted_without_pkce (own_off));
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", plain);
    assert_false (svc_bool (r, "client.require_pkce"));
    json_decref (r);
    //  Back to the default (required).
    s_set ("{\"name\": \"pkce_required\", \"value\": null}");
    assert_false (s_accepted_without_pkce (plain));
    assert_true (s_accepted_without_pkce (own_off));
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.settings WHERE name = 'pkce_required'"), 0);
}

static void
test_settings_set_refuses_bad_input_and_stale_expected (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    assert_string_equal (svc_err (svc_h, "token.settings_set", "{\"name\": \"pkce_required\", \"value\": 2}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.settings_set", "{\"name\": \"pkce_required\"}"),
                         "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "token.settings_set", "{\"name\": \"lockout_threshold\", \"value\": 3}"),
        "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.settings_set", "{\"name\": \"nope\", \"value\": 1}"),
                         "invalid_request");
    //  expected names the value the change was based on.
    assert_string_equal (
        svc_err (svc_h, "token.settings_set", "{\"name\": \"pkce_required\", \"value\": 0, \"expected\": 0}"),
        "conflict");
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.settings"), 0);
    s_set ("{\"name\": \"pkce_required\", \"value\": 0, \"expected\": 1}");
    s_set ("{\"name\": \"pkce_required\", \"value\": null, \"expected\": 0}");
}

static void
test_settings_set_is_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_set ("{\"name\": \"pkce_required\", \"value\": 0}");
    s_set ("{\"name\": \"pkce_required\", \"value\": null}");
    json_t *r = svc_ok (svc_h, "token.audit_list",
                        "{\"event\": \"token_settings_set\", \"last\": true, \"limit\": 2}");
    json_t *events = json_object_get (r, "events");
    assert_int_equal (json_array_size (events), 2);
    json_t *first = json_array_get (events, 0), *second = json_array_get (events, 1);
    assert_string_equal (svc_str (first, "subject"), "pkce_required");
    assert_int_equal (svc_int (first, "details.effective"), 0);
    assert_int_equal (svc_int (first, "details.previous"), 1);
    assert_true (json_is_null (json_object_get (json_object_get (second, "details"), "value")));
    assert_int_equal (svc_int (second, "details.effective"), 1);
    json_decref (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_settings_list_shows_token_settings_with_bounds),
        cmocka_unit_test (test_pkce_required_toggles_authorize_for_clients_without_a_choice),
        cmocka_unit_test (test_settings_set_refuses_bad_input_and_stale_expected),
        cmocka_unit_test (test_settings_set_is_audited),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
