/*  token-svc in-process (tests/svc/svc_harness.h) for browser and native
 *  applications: the web origins a client registers for CORS
 *  (allowed_web_origins, token.web_origins), loopback redirect URIs that
 *  accept any port (RFC 8252 §7.3), and Ostiary's own access tokens ending
 *  at their exp whatever the clock-skew leeway (30 s here). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc_harness.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISSUER "http://127.0.0.1:8080"

static const char *s_settings[] = {"OSTIARY_ACCESS_TOKEN_TTL=2", "OSTIARY_CLOCK_SKEW=30", NULL};
static char s_cc_secret[128];

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    svc_h = svc_harness_new (s_settings);
    if (svc_h) {
        json_t *r =
            svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"spa\", \"type\": \"public\", \"redirect_uris\": "
                    "[\"https://spa.example/cb\"], \"allowed_web_origins\": [\"https://spa.example\", "
                    "\"http://127.0.0.1:5173\"]}");
        json_decref (r);
        r = svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"native\", \"type\": \"public\", \"redirect_uris\": "
                    "[\"http://127.0.0.1/cb\", \"http://[::1]:8000/cb?x=1\", \"http://localhost/cb\", "
                    "\"https://127.0.0.1/cb\"]}");
        json_decref (r);
        r = svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"machine\", \"grant_types\": [\"client_credentials\"], "
                    "\"scopes\": [\"openid\"]}");
        snprintf (s_cc_secret, sizeof s_cc_secret, "%s", svc_str (r, "client_secret"));
        json_decref (r);
    }
    return 0;
}

//  ------------------------------------------------------------- web origins

static void
test_web_origins_are_stored_and_shown (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"spa\"}");
    json_t *origins = json_object_get (json_object_get (r, "client"), "allowed_web_origins");
    assert_int_equal (json_array_size (origins), 2);
    assert_string_equal (json_string_value (json_array_get (origins, 0)), "https://spa.example");
    assert_string_equal (json_string_value (json_array_get (origins, 1)), "http://127.0.0.1:5173");
    json_decref (r);
    //  A client that registered none shows an empty list.
    r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"native\"}");
    assert_int_equal (
        json_array_size (json_object_get (json_object_get (r, "client"), "allowed_web_origins")), 0);
    json_decref (r);
}

static void
test_web_origins_op_lists_every_origin_with_its_client (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.web_origins", "{}");
    json_t *list = json_object_get (r, "origins");
    int spa = 0;
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item)
    {
        const char *client = json_string_value (json_object_get (item, "client_id"));
        const char *origin = json_string_value (json_object_get (item, "origin"));
        assert_string_equal (client, "spa");
        spa += strcmp (origin, "https://spa.example") == 0 || strcmp (origin, "http://127.0.0.1:5173") == 0;
    }
    assert_int_equal (spa, 2);
    assert_int_equal (json_array_size (list), 2);
    json_decref (r);
}

static void
test_web_origin_must_be_an_exact_serialized_origin (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *bad[] = {
        "https://spa.example/",
        "https://spa.example/app",
        "https://*.example",
        "*",
        "null",
        "https://SPA.example",
        "HTTPS://spa.example",
        "https://spa.example:443",
        "http://spa.example:80",
        "https://spa.example?x",
        "https://u@spa.example",
        "https://spa.example:0",
        "https://spa.example:99999",
        "ftp://spa.example",
        "https://",
        "https://spa.example#f",
        "spa.example",
        "https://spa..example",
        "https://[::1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = svc_err (svc_h, "token.client_add",
                                    "{\"client_id\": \"bad%zu\", \"type\": \"public\", \"redirect_uris\": "
                                    "[\"https://a.example/cb\"], \"allowed_web_origins\": [\"%s\"]}",
                                    i, bad[i]);
        if (strcmp (code, "invalid_request") != 0)
            fail_msg ("%s: %s", bad[i], code);
    }
    //  Repeated origins are refused too.
    assert_string_equal (
        svc_err (svc_h, "token.client_add",
                 "{\"client_id\": \"dup\", \"type\": \"public\", \"redirect_uris\": "
                 "[\"https://a.example/cb\"], \"allowed_web_origins\": [\"https://a.example\", "
                 "\"https://a.example\"]}"),
        "invalid_request");
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.clients WHERE client_id LIKE 'bad%%'"
                                           " OR client_id = 'dup'"),
                      0);
    //  What a browser sends is accepted: a non-default port, an IPv6 literal.
    json_t *r = svc_ok (svc_h, "token.client_add",
                        "{\"client_id\": \"good\", \"type\": \"public\", \"redirect_uris\": "
                        "[\"https://a.example/cb\"], \"allowed_web_origins\": [\"https://a.example:8443\", "
                        "\"http://[::1]:3000\", \"https://xn--bcher-kva.example\"]}");
    json_decref (r);
    json_decref (svc_ok (svc_h, "token.client_remove", "{\"client_id\": \"good\"}"));
}

//  ------------------------------------------------------------- loopback redirect URIs

//  1 when token.authorize accepts redirect_uri for client "native" (answers
//  a stored request, not a page error).
static int
s_authorize_accepts (const char *redirect_uri)
{
    json_t *r =
        svc_ok (svc_h, "token.authorize",
                "{\"params\": {\"response_type\": \"code\", \"client_id\": \"native\", \"redirect_uri\": "
                "\"%s\", \"scope\": \"openid\", \"state\": \"s\", \"code_challenge\": "
                "\"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\", \"code_challenge_method\": \"S256\"},"
                " \"repeated\": [], \"method\": \"GET\"}",
                redirect_uri);
    int accepted = json_object_get (r, "page_error") == NULL;
    json_decref (r);
    return accepted;
}

static void
test_loopback_ip_redirect_uri_accepts_any_port (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  RFC 8252 §7.3: any port for the loopback IP literals, registered
    //  with or without one.
    assert_true (s_authorize_accepts ("http://127.0.0.1/cb"));
    assert_true (s_authorize_accepts ("http://127.0.0.1:53211/cb"));
    assert_true (s_authorize_accepts ("http://127.0.0.1:1/cb"));
    assert_true (s_authorize_accepts ("http://[::1]:8000/cb?x=1"));
    assert_true (s_authorize_accepts ("http://[::1]:49152/cb?x=1"));
    assert_true (s_authorize_accepts ("http://[::1]/cb?x=1"));
}

static void
test_loopback_redirect_uri_rest_stays_exact (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  Everything but the port is compared exactly.
    assert_false (s_authorize_accepts ("http://127.0.0.1:53211/cb2"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:53211/cb/"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:53211/cb?x=1"));
    assert_false (s_authorize_accepts ("http://127.0.0.2:53211/cb"));
    assert_false (s_authorize_accepts ("http://[::1]:49152/cb"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:0/cb"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:65536/cb"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:/cb"));
    assert_false (s_authorize_accepts ("http://127.0.0.1:80x/cb"));
    //  localhost and https loopback are exact (RFC 8252 §8.3: localhost
    //  may resolve elsewhere).
    assert_true (s_authorize_accepts ("http://localhost/cb"));
    assert_false (s_authorize_accepts ("http://localhost:53211/cb"));
    assert_true (s_authorize_accepts ("https://127.0.0.1/cb"));
    assert_false (s_authorize_accepts ("https://127.0.0.1:53211/cb"));
}

//  ------------------------------------------------------------- expiry

//  A userinfo access token of ours with these times, signed by keys-svc.
static json_t *
s_signed_at (long iat, long exp)
{
    return svc_ok (svc_h, "keys.sign",
                   "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"u\", \"aud\": \"" ISSUER
                   "/userinfo\", \"iat\": %ld, \"exp\": %ld, \"jti\": \"j-%ld-%ld\", \"client_id\": \"spa\","
                   " \"scope\": \"openid\"}, \"alg\": \"RS256\", \"typ\": \"at+jwt\"}",
                   iat, exp, iat, exp);
}

static void
test_userinfo_refuses_own_token_at_exp_despite_clock_skew (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    //  exp is now, and 5 s ago: within OSTIARY_CLOCK_SKEW=30, yet expired.
    long exps[] = {now, now - 5};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = s_signed_at (now - 10, exps[i]);
        json_t *r = NULL;
        bus_error_t e;
        int rc = svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", svc_str (s, "jws"));
        json_decref (r);
        json_decref (s);
        if (rc != -1)
            fail_msg ("a token whose exp is %ld s ago was accepted", now - exps[i]);
        assert_string_equal (e.code, "invalid_token");
        assert_string_equal (e.description, "The access token expired");
    }
    //  One second before exp it is still good (the user exists or not:
    //  token.userinfo answers who, not the claims).
    json_t *s = s_signed_at (now - 10, now + 2);
    json_t *r = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (s, "jws"));
    assert_string_equal (svc_str (r, "sub"), "u");
    json_decref (r);
    json_decref (s);
}

//  The runtime setting clock_skew bounds how far ahead an iat may be: a
//  token issued 20 s ahead is taken within the default 30, refused at 10,
//  taken again once the setting is back to its default.
static void
test_clock_skew_setting_bounds_an_iat_ahead (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    json_t *s = s_signed_at (now + 20, now + 300);
    const char *jws = svc_str (s, "jws");
    json_decref (svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", jws));
    json_decref (svc_ok (svc_h, "token.settings_set", "{\"name\": \"clock_skew\", \"value\": 10}"));
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", jws),
                         "invalid_token");
    json_decref (svc_ok (svc_h, "token.settings_set", "{\"name\": \"clock_skew\", \"value\": null}"));
    json_decref (svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", jws));
    assert_string_equal (svc_err (svc_h, "token.settings_set", "{\"name\": \"clock_skew\", \"value\": 301}"),
                         "invalid_request");
    json_decref (s);
}

static void
test_introspect_says_inactive_from_the_second_of_exp (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *t = svc_ok (svc_h, "token.exchange",
                        "{\"form\": {\"grant_type\": \"client_credentials\"},"
                        " \"basic\": {\"client_id\": \"machine\", \"client_secret\": \"%s\"},"
                        " \"client_ip\": \"127.0.0.1\"}",
                        s_cc_secret);
    char at[4096];
    snprintf (at, sizeof at, "%s", svc_str (t, "access_token"));
    json_decref (t);
    const char *body = "{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"machine\", "
                       "\"client_secret\": \"%s\"}}";
    json_t *r = svc_ok (svc_h, "token.introspect", body, at, s_cc_secret);
    assert_true (svc_bool (r, "active"));
    long exp = (long)svc_int (r, "exp");
    json_decref (r);
    //  Waits for the second of exp to begin (the condition, not a fixed time).
    while ((long)time (NULL) < exp)
        usleep (20 * 1000);
    r = svc_ok (svc_h, "token.introspect", body, at, s_cc_secret);
    if (svc_bool (r, "active"))
        fail_msg ("active at %ld with exp %ld", (long)time (NULL), exp);
    json_decref (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_web_origins_are_stored_and_shown),
        cmocka_unit_test (test_web_origins_op_lists_every_origin_with_its_client),
        cmocka_unit_test (test_web_origin_must_be_an_exact_serialized_origin),
        cmocka_unit_test (test_loopback_ip_redirect_uri_accepts_any_port),
        cmocka_unit_test (test_loopback_redirect_uri_rest_stays_exact),
        cmocka_unit_test (test_userinfo_refuses_own_token_at_exp_despite_clock_skew),
        cmocka_unit_test (test_introspect_says_inactive_from_the_second_of_exp),
        cmocka_unit_test (test_clock_skew_setting_bounds_an_iat_ahead),
    };
    return cmocka_run_group_tests_name ("token-svc: CORS origins, loopback redirects, expiry", tests, s_setup,
                                        svc_teardown);
}
