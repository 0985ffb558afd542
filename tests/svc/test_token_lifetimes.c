/*  token-svc's lifetimes in-process (tests/svc/svc_harness.h), with
 *  1-second access tokens, 2-second codes and no clock-skew leeway: what it
 *  issues carries those lifetimes, and what has outlived them is refused.
 *  Time is not waited for: an expired token is signed with a past exp, an
 *  expired code is its row with expires_at moved into the past. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "svc_harness.h"
#include "token-svc/token_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ISSUER "http://127.0.0.1:8080"
#define RP "https://rp.example/cb/short"

static const char *s_settings[] = {"OSTIARY_ACCESS_TOKEN_TTL=1", "OSTIARY_CODE_TTL=2", "OSTIARY_CLOCK_SKEW=0",
                                   NULL};
static char s_secret[128];

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    svc_h = svc_harness_new (s_settings);
    if (svc_h) {
        json_t *r = svc_ok (svc_h, "token.client_add",
                            "{\"client_id\": \"short\", \"name\": \"Short\", \"type\": \"confidential\", "
                            "\"redirect_uris\": [\"" RP "\"],"
                            " \"require_pkce\": false, \"first_party\": true}");
        snprintf (s_secret, sizeof s_secret, "%s", svc_str (r, "client_secret"));
        json_decref (r);
    }
    return 0;
}

//  A fresh code of client "short" (into code).
static void
s_code (char *code)
{
    json_t *q = svc_ok (
        svc_h, "token.authorize",
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"short\", \"redirect_uri\": \"" RP "\","
        " \"scope\": \"openid\", \"state\": \"s\"}, \"repeated\": [], \"method\": \"GET\"}");
    json_t *r = svc_ok (
        svc_h, "token.issue_code",
        "{\"request_id\": \"%s\", \"sub\": \"u\", \"sid\": \"x\", \"auth_time\": %ld, \"amr\": [\"pwd\"]}",
        svc_str (q, "request.request_id"), (long)time (NULL));
    snprintf (code, 128, "%s", svc_str (r, "redirect.params.code"));
    json_decref (r);
    json_decref (q);
}

static int
s_exchange (const char *code, json_t **result, bus_error_t *error)
{
    return svc_call (
        svc_h, "token.exchange", result, error,
        "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"" RP "\"},"
        " \"basic\": {\"client_id\": \"short\", \"client_secret\": \"%s\"}, \"client_ip\": \"127.0.0.1\"}",
        code, s_secret);
}

static void
test_access_token_carries_its_lifetime (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char code[128];
    s_code (code);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_exchange (code, &r, &e), 0);
    assert_int_equal (svc_int (r, "expires_in"), 1);
    //  The JWT's own exp - iat (its payload, the second part).
    const char *jwt = svc_str (r, "access_token");
    json_t *claims = svc_jws_payload (jwt);
    assert_int_equal (svc_int (claims, "exp") - svc_int (claims, "iat"), 1);
    json_decref (claims);
    json_decref (r);
}

static void
test_access_token_past_its_exp_is_refused_without_leeway (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    //  One second past exp: refused, as OSTIARY_CLOCK_SKEW=0 leaves no leeway.
    json_t *s = svc_ok (svc_h, "keys.sign",
                        "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"u\", \"aud\": \"" ISSUER
                        "/userinfo\", \"iat\": %ld,"
                        " \"exp\": %ld, \"jti\": \"j-exp\", \"client_id\": \"short\", \"scope\": "
                        "\"openid\"}, \"alg\": \"RS256\","
                        " \"typ\": \"at+jwt\"}",
                        now - 2, now - 1);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (
        svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", svc_str (s, "jws")), -1);
    assert_string_equal (e.code, "invalid_token");
    assert_string_equal (e.description, "The access token expired");
    json_decref (s);
}

static void
test_code_lives_code_ttl_and_is_invalid_grant_after (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char code[128];
    s_code (code);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT extract(epoch FROM expires_at - created_at)::int FROM token.codes"
                                    " WHERE code_hash = sha256('%s'::bytea)",
                                    code),
                      2);
    //  Its two seconds have passed.
    svc_sql_exec (svc_h,
                  "UPDATE token.codes SET expires_at = now() - interval '1 second', created_at = now() - "
                  "interval '3 seconds'"
                  " WHERE code_hash = sha256('%s'::bytea)",
                  code);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_exchange (code, &r, &e), -1);
    assert_string_equal (e.code, "invalid_grant");
    //  A code within its lifetime is redeemed.
    s_code (code);
    assert_int_equal (s_exchange (code, &r, &e), 0);
    json_decref (r);
}

//  The clock that decides whether a token has expired is never behind what
//  another process reads from CLOCK_REALTIME: a client that has seen exp
//  pass is refused. Sampled across at least one change of second, where
//  time () would lag (needs no database).
static void
test_now_is_never_behind_the_realtime_clock (void **state)
{
    OST_UNUSED (state);
    struct timespec start, ts;
    clock_gettime (CLOCK_REALTIME, &start);
    long behind = 0, samples = 0;
    do {
        clock_gettime (CLOCK_REALTIME, &ts);
        if (tu_now () < (int64_t)ts.tv_sec)
            behind++;
        samples++;
    } while (ts.tv_sec < start.tv_sec + 2);
    if (behind)
        print_error ("tu_now () was behind CLOCK_REALTIME in %ld of %ld samples\n", behind, samples);
    assert_int_equal (behind, 0);
}

//  keys-svc reads the same clock: with OSTIARY_CLOCK_SKEW=0 here, a token
//  whose iat is the second that CLOCK_REALTIME has just entered is signed
//  (time () lags it by up to a tick and refused it). Three second changes.
static void
test_keys_sign_takes_an_iat_of_the_second_just_begun (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    for (int i = 0; i < 3; i++) {
        struct timespec start, ts;
        clock_gettime (CLOCK_REALTIME, &start);
        do
            clock_gettime (CLOCK_REALTIME, &ts);
        while (ts.tv_sec == start.tv_sec);
        long iat = (long)ts.tv_sec;
        json_t *r = NULL;
        bus_error_t e;
        int rc =
            svc_call (svc_h, "keys.sign", &r, &e,
                      "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"u\", \"aud\": \"a\", \"iat\": %ld,"
                      " \"exp\": %ld, \"jti\": \"j-tick-%ld\"}, \"alg\": \"ES256\"}",
                      iat, iat + 60, iat);
        json_decref (r);
        if (rc != 0)
            fail_msg ("keys.sign refused an iat of the second just begun (%s)", e.code);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_access_token_carries_its_lifetime),
        cmocka_unit_test (test_access_token_past_its_exp_is_refused_without_leeway),
        cmocka_unit_test (test_code_lives_code_ttl_and_is_invalid_grant_after),
        cmocka_unit_test (test_now_is_never_behind_the_realtime_clock),
        cmocka_unit_test (test_keys_sign_takes_an_iat_of_the_second_just_begun),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
