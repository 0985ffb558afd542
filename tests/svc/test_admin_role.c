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

#include "b64url.h"
#include "secure.h"
#include "svc_harness.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ADMIN_CLIENT "admin-console"
#define REDIRECT "https://admin.example/cb"
#define PASSWORD "correct horse battery staple"

static char s_secret[128];

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
        snprintf (s_secret, sizeof s_secret, "%s", svc_str (r, "client_secret"));
        json_decref (r);
    }
    return 0;
}

//  A new user (sub into sub); admin: grant the role.
static void
s_user (char *username, size_t usize, char *sub, size_t ssize, int admin)
{
    svc_unique (username, usize, "adm");
    json_t *r =
        svc_ok (svc_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"}", username);
    snprintf (sub, ssize, "%s", svc_str (r, "user.sub"));
    json_decref (r);
    if (admin)
        json_decref (
            svc_ok (svc_h, "flow.user_set_admin", "{\"username\": \"%s\", \"admin\": true}", username));
}

//  The admin client's tokens for sub, asking scope "openid admin": the
//  token response.
static json_t *
s_tokens (const char *sub)
{
    unsigned char raw[32], digest[SHA256_DIGEST_LENGTH];
    char verifier[64], challenge[64];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    b64url_encode (raw, sizeof raw, verifier);
    SHA256 ((const unsigned char *)verifier, strlen (verifier), digest);
    b64url_encode (digest, sizeof digest, challenge);
    json_t *r = svc_ok (svc_h, "token.authorize",
                        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"" ADMIN_CLIENT "\","
                        " \"redirect_uri\": \"" REDIRECT "\", \"scope\": \"openid admin\","
                        " \"code_challenge\": \"%s\", \"code_challenge_method\": \"S256\"}}",
                        challenge);
    char rid[128];
    snprintf (rid, sizeof rid, "%s", svc_str (r, "request.request_id"));
    json_decref (r);
    r = svc_ok (svc_h, "token.issue_code",
                "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"sid-a\", \"auth_time\": %ld}", rid, sub,
                (long)time (NULL) - 1);
    char code[128];
    snprintf (code, sizeof code, "%s", svc_str (r, "redirect.params.code"));
    json_decref (r);
    return svc_ok (
        svc_h, "token.exchange",
        "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"" REDIRECT
        "\", \"code_verifier\": \"%s\", \"client_id\": \"" ADMIN_CLIENT "\", \"client_secret\": \"%s\"}}",
        code, verifier, s_secret);
}

static void
test_set_admin_grants_and_revokes_the_role_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[80];
    s_user (username, sizeof username, sub, sizeof sub, 0);
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
    s_user (admin, sizeof admin, admin_sub, sizeof admin_sub, 1);
    s_user (plain, sizeof plain, plain_sub, sizeof plain_sub, 0);
    json_t *t = s_tokens (admin_sub);
    assert_string_equal (svc_str (t, "scope"), "openid admin");
    json_t *who =
        svc_ok (svc_h, "token.admin_check", "{\"access_token\": \"%s\"}", svc_str (t, "access_token"));
    assert_string_equal (svc_str (who, "sub"), admin_sub);
    assert_string_equal (svc_str (who, "client_id"), ADMIN_CLIENT);
    json_decref (who);
    json_decref (t);
    //  A user without the role gets a token without the scope.
    t = s_tokens (plain_sub);
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
    s_user (admin, sizeof admin, sub, sizeof sub, 1);
    json_t *t = s_tokens (sub);
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
                            json_string_value (rt), s_secret);
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
    s_user (admin, sizeof admin, sub, sizeof sub, 1);
    s_user (plain, sizeof plain, plain_sub, sizeof plain_sub, 0);
    json_t *t = s_tokens (sub), *p = s_tokens (plain_sub);
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
