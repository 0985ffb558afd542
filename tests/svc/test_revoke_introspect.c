/*  token.revoke (RFC 7009) and token.introspect (RFC 7662) in-process
 *  (tests/svc/svc_harness.h): bodies outside proto/ops/token.def are refused
 *  by the bus worker before the handler runs, invalid_request naming the
 *  member, and the token they name stays as it was. The ops' own cases are
 *  in test_token_ops.c. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "secure.h"
#include "svc_harness.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void
test_revoke_and_introspect_bodies_outside_their_schema_are_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  A first-party client with the code grant and an access token of it.
    svc_client_t c;
    svc_client (svc_h, &c, "rc-",
                "\"type\": \"confidential\", \"scopes\": [\"openid\"], \"require_pkce\": false,"
                " \"first_party\": true");
    const char *id = c.id, *uri = c.redirect_uri, *secret = c.secret;
    json_t *q =
        svc_ok (svc_h, "token.authorize",
                "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%s\", \"redirect_uri\": \"%s\","
                " \"scope\": \"openid\", \"state\": \"s\"}, \"repeated\": [], \"method\": \"GET\"}",
                id, uri);
    json_t *code = svc_ok (svc_h, "token.issue_code",
                           "{\"request_id\": \"%s\", \"sub\": \"u\", \"sid\": \"x\", \"auth_time\": %ld,"
                           " \"amr\": [\"pwd\"]}",
                           svc_str (q, "request.request_id"), (long)time (NULL));
    json_t *t =
        svc_ok (svc_h, "token.exchange",
                "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": "
                "\"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                " \"client_ip\": \"127.0.0.1\"}",
                svc_str (code, "redirect.params.code"), uri, id, secret);
    const char *at = svc_str (t, "access_token");
    const char *ops[] = {"token.revoke", "token.introspect"};
    for (size_t i = 0; i < 2; i++) {
        const char *bodies[][2] = {
            {"{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
             " \"audience\": \"api\"}",
             "invalid request: audience: unknown member"},
            {"{\"form\": \"token=%s\", \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}}",
             "invalid request: form: must be an object"},
        };
        for (size_t b = 0; b < 2; b++) {
            json_t *r = NULL;
            bus_error_t e;
            assert_int_equal (svc_call (svc_h, ops[i], &r, &e, bodies[b][0], at, id, secret), -1);
            assert_string_equal (e.code, "invalid_request");
            assert_string_equal (e.description, bodies[b][1]);
        }
    }
    //  The refused revocations revoked nothing.
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.revoked_jtis"), 0);
    json_t *u = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", at);
    assert_string_equal (svc_str (u, "sub"), "u");
    json_decref (u);
    json_decref (t);
    json_decref (code);
    json_decref (q);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_revoke_and_introspect_bodies_outside_their_schema_are_refused),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
