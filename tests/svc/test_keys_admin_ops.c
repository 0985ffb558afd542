/*  keys-svc's admin commands on the bus, in-process (tests/svc/svc_harness.h):
 *  keys.key_status, key_list, key_rotate and key_retire run the admin
 *  socket's own commands and are audited alike; keys.admin_call runs them
 *  for an admin whose access token token-svc verified (token.admin_check),
 *  refuses any other op before it looks at the token, and names the actor
 *  admin:<sub>. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc_harness.h"

#include <stdio.h>
#include <string.h>

#define ADMIN_CLIENT "admin-console"
#define REDIRECT "https://admin.example/cb"

//  The admin client (OSTIARY_ADMIN_CLIENT_ID), registered by s_setup.
static svc_client_t s_admin = {.id = ADMIN_CLIENT, .redirect_uri = REDIRECT};

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    static const char *const settings[] = {"OSTIARY_ADMIN_CLIENT_ID=" ADMIN_CLIENT,
                                           "OSTIARY_CLIENT_CACHE_MS=0", NULL};
    svc_h = svc_harness_new (settings);
    if (svc_h) {
        json_t *r = svc_ok (svc_h, "token.client_add",
                            "{\"client_id\": \"" ADMIN_CLIENT "\", \"redirect_uris\": [\"" REDIRECT "\"],"
                            " \"first_party\": true, \"scopes\": [\"openid\", \"admin\"],"
                            " \"token_endpoint_auth_method\": \"client_secret_post\"}");
        snprintf (s_admin.secret, sizeof s_admin.secret, "%s", svc_str (r, "client_secret"));
        json_decref (r);
    }
    return 0;
}

//  The admin client's access token (scope "openid admin") for a new user,
//  who holds the admin role when admin is set: into token; the user's sub
//  into sub.
static void
s_admin_token (int admin, char *token, size_t tsize, char *sub, size_t ssize)
{
    char username[64];
    svc_user (svc_h, "kadm", admin, username, sizeof username, sub, ssize);
    json_t *r = svc_code_tokens (svc_h, &s_admin, sub, "openid admin", "sid-k");
    snprintf (token, tsize, "%s", svc_str (r, "access_token"));
    json_decref (r);
}

static void
test_key_ops_run_the_admin_commands_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "keys.key_status", NULL);
    assert_string_equal (svc_str (r, "status.admin"), "bus");
    assert_true (json_array_size (json_object_get (json_object_get (r, "status"), "keys")) >= 3);
    json_decref (r);
    r = svc_ok (svc_h, "keys.key_list", NULL);
    long stored = svc_sql_long (svc_h, "SELECT count(*) FROM keys.signing_keys");
    assert_int_equal ((long)json_array_size (json_object_get (r, "keys")), stored);
    json_decref (r);

    //  A planned rotation makes a next key; asking again reports it.
    r = svc_ok (svc_h, "keys.key_rotate", "{\"alg\": \"ES256\"}");
    char kid[128];
    snprintf (kid, sizeof kid, "%s", svc_str (r, "rotation.keys.0.kid"));
    assert_string_equal (svc_str (r, "rotation.keys.0.state"), "next");
    assert_true (svc_bool (r, "rotation.keys.0.created"));
    json_decref (r);
    r = svc_ok (svc_h, "keys.key_rotate", "{\"alg\": \"ES256\"}");
    assert_string_equal (svc_str (r, "rotation.keys.0.kid"), kid);
    assert_false (svc_bool (r, "rotation.keys.0.created"));
    json_decref (r);
    r = svc_ok (svc_h, "keys.key_retire", "{\"kid\": \"%s\"}", kid);
    assert_string_equal (svc_str (r, "retirement.from"), "next");
    assert_string_equal (svc_str (r, "retirement.state"), "retired");
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM keys.signing_keys WHERE kid = '%s'"
                                    " AND state = 'retired'",
                                    kid),
                      1);
    //  Audited as the admin socket's commands, with the actor admin.
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM keys.audit_events WHERE event = 'key_retire'"
                                    " AND subject = '%s' AND actor = 'admin' AND outcome = 'success'",
                                    kid),
                      1);
    assert_true (svc_sql_long (svc_h, "SELECT count(*) FROM keys.audit_events WHERE event = 'key_rotate'"
                                      " AND actor = 'admin' AND details->'args'->>'alg' = 'ES256'") >= 2);
    assert_true (svc_sql_long (svc_h, "SELECT count(*) FROM keys.audit_events WHERE event = 'key_admin'"
                                      " AND actor = 'admin' AND details->>'command' = 'status'") >= 1);

    //  Refusals: the command's own, audited too.
    assert_string_equal (svc_err (svc_h, "keys.key_rotate", "{\"alg\": \"XY999\"}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.key_rotate", "{\"colour\": 1}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.key_retire", "{\"kid\": \"no-such-kid\"}"), "not_found");
    char active[128];
    svc_sql_text (svc_h, active, sizeof active,
                  "SELECT kid FROM keys.signing_keys WHERE state = 'active' AND alg = 'RS256'");
    assert_string_equal (svc_err (svc_h, "keys.key_retire", "{\"kid\": \"%s\"}", active), "invalid_request");
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM keys.signing_keys WHERE kid = '%s'"
                                    " AND state = 'active'",
                                    active),
                      1);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM keys.audit_events WHERE event = 'key_retire'"
                                    " AND subject = '%s' AND outcome = 'failure'",
                                    active),
                      1);
}

static void
test_admin_call_runs_key_ops_for_an_admin_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char token[4096], sub[80], plain[4096], plain_sub[80];
    s_admin_token (1, token, sizeof token, sub, sizeof sub);
    s_admin_token (0, plain, sizeof plain, plain_sub, sizeof plain_sub);
    json_t *r =
        svc_ok (svc_h, "keys.admin_call", "{\"admin_token\": \"%s\", \"op\": \"keys.key_list\"}", token);
    assert_true (json_array_size (json_object_get (json_object_get (r, "result"), "keys")) >= 3);
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM keys.audit_events WHERE event = 'key_admin'"
                                    " AND actor = 'admin:%s' AND details->>'command' = 'list'",
                                    sub),
                      1);
    //  The inner body is checked against the op's schema.
    assert_string_equal (svc_err (svc_h, "keys.admin_call",
                                  "{\"admin_token\": \"%s\", \"op\": \"keys.key_retire\", \"body\": {}}",
                                  token),
                         "invalid_request");
    //  Not an admin op: refused whatever the token.
    assert_string_equal (
        svc_err (svc_h, "keys.admin_call", "{\"admin_token\": \"%s\", \"op\": \"keys.sign\"}", token),
        "forbidden");
    assert_string_equal (
        svc_err (svc_h, "keys.admin_call", "{\"admin_token\": \"%s\", \"op\": \"token.client_list\"}", token),
        "forbidden");
    //  Not an admin (whose token never got the admin scope), or no valid
    //  token: nothing runs.
    long before = svc_sql_long (svc_h, "SELECT count(*) FROM keys.audit_events");
    assert_string_equal (
        svc_err (svc_h, "keys.admin_call", "{\"admin_token\": \"%s\", \"op\": \"keys.key_list\"}", plain),
        "insufficient_scope");
    assert_string_equal (
        svc_err (svc_h, "keys.admin_call", "{\"admin_token\": \"not.a.token\", \"op\": \"keys.key_list\"}"),
        "invalid_token");
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM keys.audit_events"), before);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_key_ops_run_the_admin_commands_audited),
        cmocka_unit_test (test_admin_call_runs_key_ops_for_an_admin_only),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
