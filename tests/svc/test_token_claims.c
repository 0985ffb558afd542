/*  The claims request parameter (OpenID Connect Core §5.5) and acr (§2,
 *  §3.1.2.1 acr_values, §5.5.1.1) through token-svc, flow-svc and keys-svc
 *  in-process (tests/svc/svc_harness.h): validation at token.authorize,
 *  the requested claims in the ID token and at token.userinfo /
 *  flow.user_claims whatever the scopes, the acr the session meets, and an
 *  essential acr it does not meet refused. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "svc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASSWORD "correct horse battery staple"

//  --------------------------------------------------------------- helpers

//  A first-party confidential client (no consent asked), PKCE optional,
//  refresh tokens always.
static void
s_client (svc_client_t *c)
{
    svc_client (svc_h, c, "claims",
                "\"type\": \"confidential\", \"scopes\": [\"openid\", \"profile\", \"email\"],"
                " \"grant_types\": [\"authorization_code\", \"refresh_token\"],"
                " \"require_pkce\": false, \"first_party\": true, \"always_refresh\": true");
}

//  A user with an email and a name, no nickname; its sub into sub.
static void
s_user (char *sub, size_t size)
{
    char username[64];
    svc_unique (username, sizeof username, "claimsuser");
    json_t *r = svc_ok (svc_h, "flow.user_add",
                        "{\"username\": \"%s\", \"password\": \"" PASSWORD "\", \"email\": \"u@example.org\","
                        " \"email_verified\": true, \"name\": \"Ursula User\"}",
                        username);
    snprintf (sub, size, "%s", svc_str (r, "user.sub"));
    json_decref (r);
}

//  token.authorize for c with scope openid and the parameters of extra
//  (JSON text of an object of strings) over the usual ones.
static json_t *
s_authorize (const svc_client_t *c, const char *extra)
{
    json_t *params = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "response_type", "code", "client_id", c->id,
                                "redirect_uri", c->redirect_uri, "scope", "openid", "state", "st");
    json_t *more = json_loads (extra, 0, NULL);
    if (!more)
        fail_msg ("not JSON: %s", extra);
    json_object_update (params, more);
    json_decref (more);
    json_t *body = json_pack ("{s:o, s:[], s:s}", "params", params, "repeated", "method", "GET");
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (svc_h, "token.authorize", body, &r, &e) != 0)
        fail_msg ("token.authorize %s: %s (%s)", extra, e.code, e.description);
    json_decref (body);
    return r;
}

//  The claims parameter text claims (JSON) as the extra of s_authorize.
static char *
s_claims_extra (const char *claims)
{
    json_t *o = json_pack ("{s:s}", "claims", claims);
    char *text = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    return text;
}

//  The error of an authorization request refused at the redirect URI.
static void
s_refused (const svc_client_t *c, const char *extra, const char *error)
{
    json_t *r = s_authorize (c, extra);
    const char *got = svc_str (r, "redirect.params.error");
    if (!got || strcmp (got, error) != 0)
        fail_msg ("%s: not %s: %s", extra, error, json_dumps (r, JSON_COMPACT));
    assert_string_equal (svc_str (r, "redirect.redirect_uri"), c->redirect_uri);
    json_decref (r);
}

//  token.issue_code for request q, a session of sub with amr (JSON text).
static json_t *
s_issue (const json_t *r, const char *sub, const char *amr)
{
    return svc_ok (svc_h, "token.issue_code",
                   "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"sid-c\", \"auth_time\": %ld,"
                   " \"amr\": %s}",
                   svc_str (r, "request.request_id"), sub, (long)time (NULL) - 5, amr);
}

//  The tokens of the code of an issue_code answer.
static json_t *
s_exchange (const svc_client_t *c, const json_t *issued)
{
    return svc_ok (svc_h, "token.exchange",
                   "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": "
                   "\"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                   " \"client_ip\": \"127.0.0.1\"}",
                   svc_str (issued, "redirect.params.code"), c->redirect_uri, c->id, c->secret);
}

//  The ID token claims of a full round: authorize with extra, a session
//  of sub with amr, exchange. *tokens: the exchange's answer (or NULL).
static json_t *
s_round (const svc_client_t *c, const char *extra, const char *sub, const char *amr, json_t **tokens)
{
    json_t *r = s_authorize (c, extra);
    json_t *issued = s_issue (r, sub, amr);
    json_t *t = s_exchange (c, issued);
    json_t *id = svc_jws_payload (svc_str (t, "id_token"));
    json_decref (issued);
    json_decref (r);
    if (tokens)
        *tokens = t;
    else
        json_decref (t);
    return id;
}

//  --------------------------------------------------------------- claims

static void
test_malformed_claims_parameter_is_invalid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    static const char *const bad[] = {
        "not json",
        "[1, 2]",
        "\"text\"",
        "{\"userinfo\": []}",
        "{\"id_token\": \"email\"}",
        "{\"userinfo\": {\"email\": 1}}",
        "{\"userinfo\": {\"email\": {\"essential\": \"yes\"}}}",
        "{\"userinfo\": {\"email\": {\"values\": \"a\"}}}",
        "{\"userinfo\": {\"email\": {\"values\": []}}}",
        "{\"userinfo\": {\"email\": {\"value\": {\"a\": 1}}}}",
        "{\"userinfo\": {\"email\": null, \"email\": null}}",
        "{\"userinfo\": {\"\": null}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *extra = s_claims_extra (bad[i]);
        s_refused (&c, extra, "invalid_request");
        free (extra);
    }
    //  Too many names, too long.
    char big[8192];
    int n = snprintf (big, sizeof big, "{\"userinfo\": {");
    for (int k = 0; k < 40; k++)
        n += snprintf (big + n, sizeof big - (size_t)n, "%s\"c%d\": null", k ? ", " : "", k);
    snprintf (big + n, sizeof big - (size_t)n, "}}");
    char *extra = s_claims_extra (big);
    s_refused (&c, extra, "invalid_request");
    free (extra);
    memset (big, ' ', 5000);
    memcpy (big + 5000, "{}", 3);
    extra = s_claims_extra (big);
    s_refused (&c, extra, "invalid_request");
    free (extra);
    //  Valid ones pass; members other than userinfo and id_token are ignored.
    static const char *const good[] = {
        "{}",
        "{\"userinfo\": {\"email\": null}, \"other\": 5}",
        "{\"id_token\": {\"email\": {\"essential\": true}, \"x-unknown\": {\"value\": \"v\"}}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        extra = s_claims_extra (good[i]);
        json_t *r = s_authorize (&c, extra);
        if (!json_object_get (r, "request"))
            fail_msg ("%s refused: %s", good[i], json_dumps (r, JSON_COMPACT));
        json_decref (r);
        free (extra);
    }
}

static void
test_claims_requested_for_the_id_token_are_in_it_whatever_the_scopes (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char sub[80];
    s_user (sub, sizeof sub);
    char *extra = s_claims_extra ("{\"id_token\": {\"email\": {\"essential\": true}, \"nickname\": null,"
                                  " \"x-unknown\": null, \"iss\": null}}");
    json_t *id = s_round (&c, extra, sub, "[\"pwd\"]", NULL);
    free (extra);
    //  §5.5: released although the scope is only openid; only claims the
    //  user has; never over the ID token's own.
    assert_string_equal (svc_str (id, "email"), "u@example.org");
    assert_null (json_object_get (id, "email_verified"));
    assert_null (json_object_get (id, "nickname"));
    assert_null (json_object_get (id, "x-unknown"));
    assert_null (json_object_get (id, "name"));
    assert_string_equal (svc_str (id, "sub"), sub);
    assert_true (strncmp (svc_str (id, "iss"), "http", 4) == 0);
    json_decref (id);
    //  Without the parameter: no email in the ID token.
    id = s_round (&c, "{}", sub, "[\"pwd\"]", NULL);
    assert_null (json_object_get (id, "email"));
    json_decref (id);
}

static void
test_claims_requested_for_userinfo_are_released_whatever_the_scopes (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char sub[80];
    s_user (sub, sizeof sub);
    char *extra = s_claims_extra ("{\"userinfo\": {\"name\": null, \"nickname\": null}}");
    json_t *t = NULL;
    json_t *id = s_round (&c, extra, sub, "[\"pwd\"]", &t);
    free (extra);
    //  The userinfo claims are not put in the ID token.
    assert_null (json_object_get (id, "name"));
    json_decref (id);
    json_t *who = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t, "access_token"));
    const json_t *asked = json_object_get (who, "claims");
    assert_int_equal (json_array_size (asked), 2);
    char *names = json_dumps (asked, JSON_COMPACT);
    json_t *claims = svc_ok (svc_h, "flow.user_claims",
                             "{\"sub\": \"%s\", \"scopes\": [\"openid\"], \"claims\": %s}", sub, names);
    free (names);
    assert_string_equal (svc_str (claims, "claims.name"), "Ursula User");
    assert_null (json_object_get (json_object_get (claims, "claims"), "nickname"));
    assert_null (json_object_get (json_object_get (claims, "claims"), "email"));
    json_decref (claims);
    json_decref (who);
    //  The refresh family keeps them: a refreshed access token asks the same.
    json_t *t2 = svc_ok (svc_h, "token.exchange",
                         "{\"form\": {\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"},"
                         " \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                         " \"client_ip\": \"127.0.0.1\"}",
                         svc_str (t, "refresh_token"), c.id, c.secret);
    who = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t2, "access_token"));
    assert_int_equal (json_array_size (json_object_get (who, "claims")), 2);
    json_decref (who);
    json_decref (t2);
    json_decref (t);
}

static void
test_claims_in_an_unsigned_request_object_are_honoured (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char sub[80];
    s_user (sub, sizeof sub);
    //  OpenID Connect Core §6.1: claims as a JSON object inside the object.
    const char *header = "{\"alg\":\"none\"}";
    char payload[512], h64[64], p64[700], extra[1024];
    snprintf (payload, sizeof payload, "{\"client_id\":\"%s\",\"claims\":{\"id_token\":{\"email\":null}}}",
              c.id);
    assert_true (b64url_encode (header, strlen (header), h64) > 0);
    assert_true (b64url_encode (payload, strlen (payload), p64) > 0);
    snprintf (extra, sizeof extra, "{\"request\": \"%s.%s.\"}", h64, p64);
    json_t *id = s_round (&c, extra, sub, "[\"pwd\"]", NULL);
    assert_string_equal (svc_str (id, "email"), "u@example.org");
    json_decref (id);
    //  And a malformed one there is refused as in the query.
    snprintf (payload, sizeof payload, "{\"claims\":{\"id_token\":[]}}");
    assert_true (b64url_encode (payload, strlen (payload), p64) > 0);
    snprintf (extra, sizeof extra, "{\"request\": \"%s.%s.\"}", h64, p64);
    s_refused (&c, extra, "invalid_request");
}

//  --------------------------------------------------------------- acr

static void
test_id_token_carries_the_acr_the_session_meets (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char sub[80];
    s_user (sub, sizeof sub);
    //  By default: the strongest the session meets.
    json_t *id = s_round (&c, "{}", sub, "[\"pwd\"]", NULL);
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:pwd");
    json_decref (id);
    id = s_round (&c, "{}", sub, "[\"pwd\", \"otp\", \"mfa\"]", NULL);
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:mfa");
    json_decref (id);
    //  acr_values: the first the session meets (voluntary: unmet ones are
    //  passed over, unknown ones ignored).
    id = s_round (&c, "{\"acr_values\": \"urn:x:unknown urn:ostiary:acr:pwd\"}", sub,
                  "[\"pwd\", \"otp\", \"mfa\"]", NULL);
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:pwd");
    json_decref (id);
    id = s_round (&c, "{\"acr_values\": \"urn:ostiary:acr:mfa\"}", sub, "[\"pwd\"]", NULL);
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:pwd");
    json_decref (id);
    //  The refresh family keeps the acr.
    json_t *t = NULL;
    id = s_round (&c, "{}", sub, "[\"pwd\", \"otp\", \"mfa\"]", &t);
    json_decref (id);
    json_t *t2 = svc_ok (svc_h, "token.exchange",
                         "{\"form\": {\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"},"
                         " \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                         " \"client_ip\": \"127.0.0.1\"}",
                         svc_str (t, "refresh_token"), c.id, c.secret);
    id = svc_jws_payload (svc_str (t2, "id_token"));
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:mfa");
    json_decref (id);
    json_decref (t2);
    json_decref (t);
}

static void
test_essential_acr_the_session_cannot_meet_is_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char sub[80];
    s_user (sub, sizeof sub);
    char *extra = s_claims_extra ("{\"id_token\": {\"acr\": {\"essential\": true,"
                                  " \"values\": [\"urn:ostiary:acr:mfa\"]}}}");
    json_t *r = s_authorize (&c, extra);
    json_t *issued = s_issue (r, sub, "[\"pwd\"]");
    assert_string_equal (svc_str (issued, "redirect.params.error"), "unmet_authentication_requirements");
    assert_null (json_object_get (json_object_get (json_object_get (issued, "redirect"), "params"), "code"));
    json_decref (issued);
    json_decref (r);
    //  Met by a second factor.
    json_t *id = s_round (&c, extra, sub, "[\"pwd\", \"otp\", \"mfa\"]", NULL);
    assert_string_equal (svc_str (id, "acr"), "urn:ostiary:acr:mfa");
    json_decref (id);
    free (extra);
}

//  The request (token.authorize, token.request_get) names for the consent
//  page the user claims asked one by one that no scope covers: each once,
//  in common/claims.def's order, without the ID token's own or unknown ones.
static void
test_request_names_the_claims_asked_beyond_its_scopes (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c);
    char *extra =
        s_claims_extra ("{\"userinfo\": {\"phone_number\": null, \"email\": null, \"x-y\": null},"
                        " \"id_token\": {\"phone_number\": null, \"birthdate\": null, \"acr\": null}}");
    //  The scope of email is asked: email is not named again.
    char *with_scope = NULL;
    assert_true (asprintf (&with_scope, "{\"scope\": \"openid email\", %s", extra + 1) > 0);
    json_t *r = s_authorize (&c, with_scope);
    json_t *want = json_pack ("[s, s]", "birthdate", "phone_number");
    assert_true (json_equal (json_object_get (json_object_get (r, "request"), "claims"), want));
    json_t *g =
        svc_ok (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", svc_str (r, "request.request_id"));
    assert_true (json_equal (json_object_get (json_object_get (g, "request"), "claims"), want));
    json_decref (g);
    json_decref (r);
    //  Without the parameter: no member.
    r = s_authorize (&c, "{}");
    assert_null (json_object_get (json_object_get (r, "request"), "claims"));
    json_decref (r);
    json_decref (want);
    free (with_scope);
    free (extra);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_malformed_claims_parameter_is_invalid_request),
        cmocka_unit_test (test_request_names_the_claims_asked_beyond_its_scopes),
        cmocka_unit_test (test_claims_requested_for_the_id_token_are_in_it_whatever_the_scopes),
        cmocka_unit_test (test_claims_requested_for_userinfo_are_released_whatever_the_scopes),
        cmocka_unit_test (test_claims_in_an_unsigned_request_object_are_honoured),
        cmocka_unit_test (test_id_token_carries_the_acr_the_session_meets),
        cmocka_unit_test (test_essential_acr_the_session_cannot_meet_is_refused),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
