/*  keys-svc's ops in-process (tests/svc/svc_harness.h): keys.health,
 *  keys.jwks and keys.sign, over the bus with JSON bodies, against the keys
 *  it generated at start-up in a fresh schema. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "keys-svc/keyring.h"
#include "svc_harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISSUER "http://127.0.0.1:8080"

//  1 when kid is in the published JWKS with alg.
static int
s_published (const char *kid, const char *alg)
{
    json_t *jwks = svc_ok (svc_h, "keys.jwks", NULL);
    size_t i;
    json_t *key;
    int found = 0;
    json_array_foreach (json_object_get (jwks, "keys"), i, key) if (strcmp (svc_str (key, "kid"), kid) == 0 &&
                                                                    strcmp (svc_str (key, "alg"), alg) == 0)
        found = 1;
    json_decref (jwks);
    return found;
}

static void
test_health_counts_the_keys (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "keys.health", NULL);
    assert_string_equal (svc_str (r, "status"), "ok");
    //  One key per algorithm of OSTIARY_KEYS_ALGS, and the rows behind them.
    assert_int_equal (svc_int (r, "keys"), 3);
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM keys.signing_keys WHERE state = 'active'"),
                      3);
    json_decref (r);
}

static void
test_jwks_publishes_public_keys_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "keys.jwks", NULL);
    json_t *keys = json_object_get (r, "keys");
    assert_int_equal (json_array_size (keys), 3);
    size_t i;
    json_t *key;
    int rsa = 0, ec = 0, okp = 0;
    json_array_foreach (keys, i, key)
    {
        const char *kty = svc_str (key, "kty");
        rsa += strcmp (kty, "RSA") == 0;
        ec += strcmp (kty, "EC") == 0;
        okp += strcmp (kty, "OKP") == 0;
        assert_string_equal (svc_str (key, "use"), "sig");
        //  RFC 7518 §6.2.2.1, §6.3.2: the private parts never leave keys-svc.
        assert_null (json_object_get (key, "d"));
        assert_null (json_object_get (key, "p"));
        assert_null (json_object_get (key, "q"));
    }
    assert_int_equal (rsa + ec + okp, 3);
    assert_true (rsa == 1 && ec == 1 && okp == 1);
    json_decref (r);
}

static void
test_sign_every_alg_with_a_published_key (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *algs[] = {"RS256", "ES256", "EdDSA"};
    long now = (long)time (NULL);
    for (size_t i = 0; i < 3; i++) {
        json_t *r =
            svc_ok (svc_h, "keys.sign",
                    "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"s\", \"iat\": %ld, \"exp\": %ld},"
                    " \"alg\": \"%s\", \"typ\": \"at+jwt\"}",
                    now, now + 60, algs[i]);
        assert_string_equal (svc_str (r, "alg"), algs[i]);
        const char *jws = svc_str (r, "jws");
        assert_non_null (strchr (jws, '.'));
        assert_non_null (strchr (strchr (jws, '.') + 1, '.'));
        assert_true (s_published (svc_str (r, "kid"), algs[i]));
        assert_null (json_object_get (r, "id_token"));
        json_decref (r);
    }
}

static void
test_sign_with_id_token_returns_both (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    json_t *r =
        svc_ok (svc_h, "keys.sign",
                "{\"claims\": {\"iss\": \"" ISSUER "\", \"iat\": %ld, \"exp\": %ld}, \"alg\": \"ES256\","
                " \"typ\": \"at+jwt\", \"id_token\": {\"claims\": {\"iss\": \"" ISSUER "\", \"iat\": %ld,"
                " \"exp\": %ld}, \"alg\": \"RS256\"}}",
                now, now + 60, now, now + 60);
    const char *idt = svc_str (r, "id_token");
    assert_int_not_equal (strcmp (idt, svc_str (r, "jws")), 0);
    json_decref (r);
}

static void
test_sign_refuses_malformed_requests (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    char claims[256];
    snprintf (claims, sizeof claims, "{\"iss\": \"" ISSUER "\", \"iat\": %ld, \"exp\": %ld}", now, now + 60);
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"alg\": \"RS256\"}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"claims\": \"x\", \"alg\": \"RS256\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"claims\": %s}", claims), "invalid_request");
    //  RFC 8725 §3.1: never "none"; RFC 7515 §4.1.1: names are case-sensitive.
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"none\"}", claims),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"rs256\"}", claims),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"HS256\"}", claims),
                         "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"RS256\", \"typ\": 3}", claims),
        "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"RS256\", \"typ\": \"a\\u0001\"}", claims),
        "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.sign",
                                  "{\"claims\": %s, \"alg\": \"RS256\", \"id_token\": {\"alg\": \"RS256\"}}",
                                  claims),
                         "invalid_request");
}

//  Claims whose compact JSON is longer than KEYRING_MAX_CLAIMS are refused;
//  claims just under it are signed.
static void
test_sign_refuses_claims_over_the_size_limit (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    //  {"iss":"...","iat":N,"exp":N,"pad":"..."}: the pad makes the rest up.
    char head[256];
    int head_len = snprintf (head, sizeof head,
                             "{\"iss\":\"" ISSUER "\",\"iat\":%ld,\"exp\":%ld,\"pad\":\"\"}", now, now + 60);
    for (int over = 0; over < 2; over++) {
        size_t pad = (size_t)(KEYRING_MAX_CLAIMS - head_len) + (size_t)over;
        char *padding = malloc (pad + 1);
        assert_non_null (padding);
        memset (padding, 'a', pad);
        padding[pad] = 0;
        const char *fmt = "{\"claims\": {\"iss\": \"" ISSUER
                          "\", \"iat\": %ld, \"exp\": %ld, \"pad\": \"%s\"}, \"alg\": \"ES256\"}";
        if (over)
            assert_string_equal (svc_err (svc_h, "keys.sign", fmt, now, now + 60, padding),
                                 "invalid_request");
        else {
            json_t *r = svc_ok (svc_h, "keys.sign", fmt, now, now + 60, padding);
            assert_non_null (svc_str (r, "jws"));
            json_decref (r);
        }
        free (padding);
    }
}

static void
test_sign_refuses_what_the_policy_does_not_allow (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    //  A typ keys-svc does not issue.
    assert_string_equal (svc_err (svc_h, "keys.sign",
                                  "{\"claims\": {\"iss\": \"" ISSUER
                                  "\", \"iat\": %ld, \"exp\": %ld}, \"alg\": \"RS256\","
                                  " \"typ\": \"secevent+jwt\"}",
                                  now, now + 60),
                         "forbidden");
    //  Another issuer.
    assert_string_equal (
        svc_err (svc_h, "keys.sign",
                 "{\"claims\": {\"iss\": \"https://evil.example\", \"iat\": %ld, \"exp\": %ld},"
                 " \"alg\": \"RS256\"}",
                 now, now + 60),
        "forbidden");
    //  No integer times, a lifetime past OSTIARY_KEYS_TOKEN_LIFETIME_MAX, an iat in the future.
    assert_string_equal (
        svc_err (svc_h, "keys.sign", "{\"claims\": {\"iss\": \"" ISSUER "\"}, \"alg\": \"RS256\"}"),
        "forbidden");
    assert_string_equal (svc_err (svc_h, "keys.sign",
                                  "{\"claims\": {\"iss\": \"" ISSUER
                                  "\", \"iat\": %ld, \"exp\": %ld}, \"alg\": \"RS256\"}",
                                  now, now + 86401),
                         "forbidden");
    assert_string_equal (svc_err (svc_h, "keys.sign",
                                  "{\"claims\": {\"iss\": \"" ISSUER
                                  "\", \"iat\": %ld, \"exp\": %ld}, \"alg\": \"RS256\"}",
                                  now + 3600, now + 3660),
                         "forbidden");
    //  The ID token of the same call is held to the same policy.
    assert_string_equal (
        svc_err (svc_h, "keys.sign",
                 "{\"claims\": {\"iss\": \"" ISSUER "\", \"iat\": %ld, \"exp\": %ld}, \"alg\": \"RS256\","
                 " \"typ\": \"at+jwt\", \"id_token\": {\"claims\": {\"iss\": \"x\", \"iat\": %ld,"
                 " \"exp\": %ld}, \"alg\": \"RS256\"}}",
                 now, now + 60, now, now + 60),
        "forbidden");
}

static void
test_audit_list_shows_the_keys_generated_at_start (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  One key_generate per algorithm made when the keyring started (the
    //  svc harness's database may hold those of earlier runs too).
    json_t *r =
        svc_ok (svc_h, "keys.audit_list", "{\"event\": \"key_generate\", \"last\": true, \"limit\": 3}");
    json_t *events = json_object_get (r, "events");
    assert_int_equal (json_array_size (events), 3);
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev)
    {
        assert_string_equal (svc_str (ev, "service"), "keys");
        assert_string_equal (svc_str (ev, "actor"), "system");
        assert_string_equal (svc_str (ev, "outcome"), "success");
        const char *kid = svc_str (ev, "subject");
        assert_true (svc_sql_long (svc_h, "SELECT count(*) FROM keys.signing_keys WHERE kid = '%s'", kid) ==
                     1);
        assert_non_null (svc_str (ev, "details.alg"));
    }
    //  The cursor pages on from the last one: nothing after it.
    long long cursor = svc_int (r, "cursor");
    json_decref (r);
    r = svc_ok (svc_h, "keys.audit_list", "{\"event\": \"key_generate\", \"cursor\": %lld}", cursor);
    assert_int_equal (json_array_size (json_object_get (r, "events")), 0);
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "keys.audit_list", "{\"event\": \"no_such_event\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "keys.audit_list", "{\"limit\": 0}"), "invalid_request");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_health_counts_the_keys),
        cmocka_unit_test (test_jwks_publishes_public_keys_only),
        cmocka_unit_test (test_sign_every_alg_with_a_published_key),
        cmocka_unit_test (test_sign_refuses_claims_over_the_size_limit),
        cmocka_unit_test (test_sign_with_id_token_returns_both),
        cmocka_unit_test (test_sign_refuses_malformed_requests),
        cmocka_unit_test (test_sign_refuses_what_the_policy_does_not_allow),
        cmocka_unit_test (test_audit_list_shows_the_keys_generated_at_start),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
