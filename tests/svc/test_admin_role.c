/*  The admin role and the admin scope in-process (tests/svc/svc_harness.h):
 *  flow.user_set_admin and flow.user_roles; the admin scope registered only
 *  by the admin client (OSTIARY_ADMIN_CLIENT_ID), issued only to a user who
 *  holds the role (checked at the code and at every refresh), and
 *  token.admin_check, which asks for the role again at every use, so that
 *  revoking it takes effect at once. */
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
        json_t *r =
            svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"" ADMIN_CLIENT "\", \"redirect_uris\": [\"" REDIRECT "\"],"
                    " \"first_party\": true, \"always_refresh\": true, \"scopes\": [\"openid\", \"admin\"],"
                    " \"grant_types\": [\"authorization_code\", \"refresh_token\"],"
                    " \"token_endpoint_auth_method\": \"client_secret_post\"}");
        snprintf (s_admin.secret, sizeof s_admin.secret, "%s", svc_str (r, "client_secret"));
        json_decref (r);
    }
    return 0;
}

static void
test_set_admin_grants_and_revokes_the_role_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[80];
    svc_user (svc_h, "adm", 0, username, sizeof username, sub, sizeof sub);
    json_t *r = svc_ok (svc_h, "flow.user_get", "{\"username\": \"%s\"}", username);
    assert_false (svc_bool (r, "user.admin"));
    json_decref (r);
    r = svc_ok (svc_h, "flow.user_roles", "{\"sub\": \"%s\"}", sub);
    assert_false (svc_bool (r, "admin"));
    json_decref (r);
    r = svc_ok (svc_h, "flow.user_set_admin", "{\"username\": \"%s\", \"admin\": true}", username);
    assert_string_equal (svc_str (r, "sub"), sub);
    json_decref (r);
    r = svc_ok (svc_h, "flow.user_roles", "{\"sub\": \"%s\"}", sub);
    assert_true (svc_bool (r, "admin"));
    json_decref (r);
    //  A disabled user holds no role.
    json_decref (svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}", username));
    r = svc_ok (svc_h, "flow.user_roles", "{\"sub\": \"%s\"}", sub);
    assert_false (svc_bool (r, "admin"));
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM flow.audit_events WHERE event = 'user_admin'"
                                    " AND subject = '%s' AND details->>'admin' = 'true'",
                                    sub),
                      1);
    assert_string_equal (
        svc_err (svc_h, "flow.user_set_admin", "{\"username\": \"nobody-xyz\", \"admin\": true}"),
        "not_found");
    r = svc_ok (svc_h, "flow.user_roles", "{\"sub\": \"no-such-sub\"}");
    assert_false (svc_bool (r, "admin"));
    json_decref (r);
}

static void
test_only_the_admin_client_registers_or_requests_the_admin_scope (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char id[64];
    svc_unique (id, sizeof id, "other");
    assert_string_equal (svc_err (svc_h, "token.client_add",
                                  "{\"client_id\": \"%s\", \"redirect_uris\": [\"https://o.example/cb\"],"
                                  " \"scopes\": [\"openid\", \"admin\"]}",
                                  id),
                         "invalid_request");
    json_decref (svc_ok (svc_h, "token.client_add",
                         "{\"client_id\": \"%s\", \"redirect_uris\": [\"https://o.example/cb\"]}", id));
    assert_string_equal (
        svc_err (svc_h, "token.client_update",
                 "{\"client_id\": \"%s\", \"version\": 1, \"scopes\": [\"openid\", \"admin\"]}", id),
        "invalid_request");
    json_t *r =
        svc_ok (svc_h, "token.authorize",
                "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%s\", \"redirect_uri\":"
                " \"https://o.example/cb\", \"scope\": \"openid admin\", \"code_challenge\":"
                " \"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\", \"code_challenge_method\": \"S256\"}}",
                id);
    assert_string_equal (svc_str (r, "redirect.params.error"), "invalid_scope");
    json_decref (r);
}

static void
test_admin_scope_is_issued_only_to_a_user_with_the_role (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char admin[64], admin_sub[80], plain[64], plain_sub[80];
    svc_user (svc_h, "adm", 1, admin, sizeof admin, admin_sub, sizeof admin_sub);
    svc_user (svc_h, "adm", 0, plain, sizeof plain, plain_sub, sizeof plain_sub);
    json_t *t = svc_code_tokens (svc_h, &s_admin, admin_sub, "openid admin", "sid-a");
    assert_string_equal (svc_str (t, "scope"), "openid admin");
    json_t *who =
        svc_ok (svc_h, "token.admin_check", "{\"access_token\": \"%s\"}", svc_str (t, "access_token"));
    assert_string_equal (svc_str (who, "sub"), admin_sub);
    assert_string_equal (svc_str (who, "client_id"), ADMIN_CLIENT);
    json_decref (who);
    json_decref (t);
    //  A user without the role gets a token without the scope.
    t = svc_code_tokens (svc_h, &s_admin, plain_sub, "openid admin", "sid-a");
    assert_string_equal (svc_str (t, "scope"), "openid");
    assert_string_equal (
        svc_err (svc_h, "token.admin_check", "{\"access_token\": \"%s\"}", svc_str (t, "access_token")),
        "insufficient_scope");
    json_decref (t);
    assert_string_equal (svc_err (svc_h, "token.admin_check", "{\"access_token\": \"not-a-token\"}"),
                         "invalid_token");
}

static void
test_revoking_the_role_ends_admin_tokens_at_once_and_at_refresh (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char admin[64], sub[80];
    svc_user (svc_h, "adm", 1, admin, sizeof admin, sub, sizeof sub);
    json_t *t = svc_code_tokens (svc_h, &s_admin, sub, "openid admin", "sid-a");
    const char *at = svc_str (t, "access_token");
    json_decref (svc_ok (svc_h, "token.admin_check", "{\"access_token\": \"%s\"}", at));
    json_decref (svc_ok (svc_h, "flow.user_set_admin", "{\"username\": \"%s\", \"admin\": false}", admin));
    assert_string_equal (svc_err (svc_h, "token.admin_check", "{\"access_token\": \"%s\"}", at), "forbidden");
    //  A refresh without the role is narrowed: no admin scope any more.
    const json_t *rt = json_object_get (t, "refresh_token");
    assert_true (json_is_string (rt));
    {
        json_t *r = svc_ok (svc_h, "token.exchange",
                            "{\"form\": {\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\","
                            " \"client_id\": \"" ADMIN_CLIENT "\", \"client_secret\": \"%s\"}}",
                            json_string_value (rt), s_admin.secret);
        assert_string_equal (svc_str (r, "scope"), "openid");
        json_decref (r);
    }
    json_decref (t);
}

static void
test_admin_call_runs_admin_ops_for_an_admin_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char admin[64], sub[80], plain[64], plain_sub[80];
    svc_user (svc_h, "adm", 1, admin, sizeof admin, sub, sizeof sub);
    svc_user (svc_h, "adm", 0, plain, sizeof plain, plain_sub, sizeof plain_sub);
    json_t *t = svc_code_tokens (svc_h, &s_admin, sub, "openid admin", "sid-a"),
           *p = svc_code_tokens (svc_h, &s_admin, plain_sub, "openid admin", "sid-a");
    const char *at = svc_str (t, "access_token");
    json_t *r = svc_ok (svc_h, "token.admin_call",
                        "{\"admin_token\": \"%s\", \"op\": \"token.client_get\","
                        " \"body\": {\"client_id\": \"" ADMIN_CLIENT "\"}}",
                        at);
    long long version = svc_int (r, "result.client.version");
    json_decref (r);
    r = svc_ok (svc_h, "token.admin_call",
                "{\"admin_token\": \"%s\", \"op\": \"token.client_update\","
                " \"body\": {\"client_id\": \"" ADMIN_CLIENT "\", \"version\": %lld, \"name\": \"Console\"}}",
                at, version);
    assert_string_equal (svc_str (r, "result.client.name"), "Console");
    json_decref (r);
    //  Its audit event names the admin who acted.
    char actor[128];
    svc_sql_text (
        svc_h, actor, sizeof actor,
        "SELECT actor FROM token.audit_events WHERE event = 'client_update' AND subject = '" ADMIN_CLIENT
        "' ORDER BY id DESC LIMIT 1");
    char want[128];
    snprintf (want, sizeof want, "admin:%s", sub);
    assert_string_equal (actor, want);
    //  A bad inner request, an op the admin role may not call, a token
    //  without the scope.
    assert_string_equal (
        svc_err (svc_h, "token.admin_call",
                 "{\"admin_token\": \"%s\", \"op\": \"token.client_get\", \"body\": {\"x\": 1}}", at),
        "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "token.admin_call", "{\"admin_token\": \"%s\", \"op\": \"token.exchange\"}", at),
        "forbidden");
    assert_string_equal (
        svc_err (svc_h, "token.admin_call", "{\"admin_token\": \"%s\", \"op\": \"token.admin_call\"}", at),
        "forbidden");
    assert_string_equal (svc_err (svc_h, "token.admin_call",
                                  "{\"admin_token\": \"%s\", \"op\": \"token.client_list\"}",
                                  svc_str (p, "access_token")),
                         "insufficient_scope");
    json_decref (p);
    json_decref (t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_set_admin_grants_and_revokes_the_role_audited),
        cmocka_unit_test (test_only_the_admin_client_registers_or_requests_the_admin_scope),
        cmocka_unit_test (test_admin_scope_is_issued_only_to_a_user_with_the_role),
        cmocka_unit_test (test_revoking_the_role_ends_admin_tokens_at_once_and_at_refresh),
        cmocka_unit_test (test_admin_call_runs_admin_ops_for_an_admin_only),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
