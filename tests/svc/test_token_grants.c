/*  token-svc's authorization request and code grant in-process
 *  (tests/svc/svc_harness.h), the cases test_token_ops.c does not have:
 *  id_token_hint (OpenID Connect Core §3.1.2.1) with hints signed by the
 *  in-process keys-svc, and bodies outside proto/ops/token.def, which the
 *  bus worker refuses before the handler runs (invalid_request naming the
 *  member; nothing changes). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "secure.h"
#include "svc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISSUER "http://127.0.0.1:8080"

//  --------------------------------------------------------------- helpers

//  A confidential client_secret_basic client with PKCE optional: third-party
//  (conf) or first-party (single).
static void
s_client (svc_client_t *c, const char *prefix, int first_party)
{
    svc_client (svc_h, c, prefix,
                "\"type\": \"confidential\", \"scopes\": [\"openid\", \"profile\", \"email\"],"
                " \"require_pkce\": false, \"first_party\": %s",
                first_party ? "true" : "false");
}

//  The usual authorization parameters of c (no PKCE: the clients make it
//  optional) with the members of extra (JSON text of an object or NULL)
//  over them; a null member removes the parameter.
static json_t *
s_params (const svc_client_t *c, const char *extra)
{
    json_t *params = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "response_type", "code", "client_id", c->id,
                                "redirect_uri", c->redirect_uri, "scope", "openid profile", "state",
                                "state-xyz", "nonce", "nonce-xyz");
    if (extra) {
        json_error_t jerr;
        json_t *more = json_loads (extra, 0, &jerr);
        if (!more)
            fail_msg ("not JSON (%s): %s", jerr.text, extra);
        //  A null removes the parameter.
        const char *key;
        json_t *value;
        json_object_foreach (more, key, value)
        {
            if (json_is_null (value))
                json_object_del (params, key);
            else
                json_object_set (params, key, value);
        }
        json_decref (more);
    }
    return params;
}

static json_t *
s_authorize (const svc_client_t *c, const char *extra)
{
    json_t *body = json_pack ("{s:o, s:[], s:s}", "params", s_params (c, extra), "repeated", "method", "GET");
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (svc_h, "token.authorize", body, &r, &e) != 0)
        fail_msg ("token.authorize %s: %s (%s)", extra ? extra : "", e.code, e.description);
    json_decref (body);
    return r;
}

//  The stored request of an authorization request that passed.
static json_t *
s_request_of (const svc_client_t *c, const char *extra)
{
    json_t *r = s_authorize (c, extra);
    if (json_object_size (r) != 1 || !json_object_get (r, "request"))
        fail_msg ("%s: no request: %s", extra ? extra : "", json_dumps (r, JSON_COMPACT));
    json_t *q = json_incref (json_object_get (r, "request"));
    json_decref (r);
    return q;
}

//  An authorization request answered with error at the redirect URI,
//  with a description, the state and iss.
static void
s_error_redirect (const svc_client_t *c, const char *extra, const char *error)
{
    json_t *r = s_authorize (c, extra);
    if (json_object_size (r) != 1 || !json_object_get (r, "redirect"))
        fail_msg ("%s: no error redirect: %s", extra ? extra : "", json_dumps (r, JSON_COMPACT));
    if (strcmp (svc_str (r, "redirect.params.error"), error) != 0)
        fail_msg ("%s: %s, not %s", extra ? extra : "", svc_str (r, "redirect.params.error"), error);
    assert_true (strlen (svc_str (r, "redirect.params.error_description")) > 0);
    assert_string_equal (svc_str (r, "redirect.params.iss"), ISSUER);
    assert_string_equal (svc_str (r, "redirect.params.state"), "state-xyz");
    assert_string_equal (svc_str (r, "redirect.redirect_uri"), c->redirect_uri);
    json_decref (r);
}

//  token.issue_code for request_id with a session of sub authenticated now
//  (and consent given when consent).
static json_t *
s_issue (const char *request_id, const char *sub, int consent)
{
    return svc_ok (svc_h, "token.issue_code",
                   "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"sid-x\", \"auth_time\": %ld,"
                   " \"amr\": [\"pwd\"]%s}",
                   request_id, sub, (long)time (NULL) - 5,
                   consent ? ", \"consent\": {\"granted\": true, \"remember\": false}" : "");
}

//  A JWS of claims (JSON text) signed by the in-process keys-svc (caller frees).
static char *
s_sign (const char *claims, const char *alg, const char *typ)
{
    json_t *r =
        svc_ok (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"%s\", \"typ\": \"%s\"}", claims, alg, typ);
    char *jws = strdup (svc_str (r, "jws"));
    json_decref (r);
    return jws;
}

//  The claims of an ID token hint for client c about sub (aud: c unless aud
//  is given as JSON text; no sub when sub is NULL), issued at iat.
static void
s_hint_claims (char *out, size_t size, const svc_client_t *c, const char *sub, const char *aud, long iat)
{
    char sub_member[128] = "", aud_text[256];
    if (sub)
        snprintf (sub_member, sizeof sub_member, "\"sub\": \"%s\", ", sub);
    if (aud)
        snprintf (aud_text, sizeof aud_text, "%s", aud);
    else
        snprintf (aud_text, sizeof aud_text, "\"%s\"", c->id);
    snprintf (out, size, "{\"iss\": \"" ISSUER "\", %s\"aud\": %s, \"iat\": %ld, \"exp\": %ld}", sub_member,
              aud_text, iat, iat + 300);
}

//  {"id_token_hint": token} as JSON text, plus the members of more (leading comma).
static void
s_hint_param (char *out, size_t size, const char *token, const char *more)
{
    snprintf (out, size, "{\"id_token_hint\": \"%s\"%s}", token, more ? more : "");
}

//  --------------------------------------------------------------- id_token_hint

static void
test_id_token_hint_names_its_subject (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t conf, single;
    s_client (&conf, "conf", 0);
    s_client (&single, "single", 1);
    char sub[64], claims[1024], param[8192];
    long now = (long)time (NULL);
    //  A valid hint (RS256), an expired one (ES256), one with an audience
    //  list that holds the client (EdDSA): each names its subject.
    const struct {
        const char *alg;
        const char *aud;
        long iat;
    } hints[] = {{"RS256", NULL, now}, {"ES256", NULL, now - 7200}, {"EdDSA", NULL, now}};
    for (size_t i = 0; i < 3; i++) {
        char aud[256];
        const char *aud_text = NULL;
        if (i == 2) {
            snprintf (aud, sizeof aud, "[\"other\", \"%s\"]", conf.id);
            aud_text = aud;
        }
        svc_unique (sub, sizeof sub, "hint-sub");
        s_hint_claims (claims, sizeof claims, &conf, sub, aud_text, hints[i].iat);
        if (i == 1) {
            //  Expired an hour ago: a hint need not be current.
            snprintf (claims, sizeof claims,
                      "{\"iss\": \"" ISSUER
                      "\", \"sub\": \"%s\", \"aud\": \"%s\", \"iat\": %ld, \"exp\": %ld}",
                      sub, conf.id, now - 7200, now - 3600);
        }
        char *token = s_sign (claims, hints[i].alg, "JWT");
        s_hint_param (param, sizeof param, token, NULL);
        json_t *q = s_request_of (&conf, param);
        assert_string_equal (svc_str (q, "id_token_hint_sub"), sub);
        json_decref (q);
        free (token);
    }
    //  The ID token of a code exchange is a valid hint, with prompt=none.
    svc_unique (sub, sizeof sub, "exch-sub");
    json_t *q = s_request_of (&single, NULL);
    json_t *r = s_issue (svc_str (q, "request_id"), sub, 0);
    json_decref (q);
    json_t *t =
        svc_ok (svc_h, "token.exchange",
                "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": "
                "\"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                " \"client_ip\": \"127.0.0.1\"}",
                svc_str (r, "redirect.params.code"), single.redirect_uri, single.id, single.secret);
    json_decref (r);
    s_hint_param (param, sizeof param, svc_str (t, "id_token"), ", \"prompt\": \"none\"");
    q = s_request_of (&single, param);
    assert_string_equal (svc_str (q, "id_token_hint_sub"), sub);
    json_decref (q);
    json_decref (t);
}

static void
test_id_token_hint_for_someone_else_or_forged_is_invalid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t conf;
    s_client (&conf, "conf", 0);
    char claims[1024], param[8192];
    long now = (long)time (NULL);
    //  For another client; without a subject.
    s_hint_claims (claims, sizeof claims, &conf, "someone", "\"another-client\"", now);
    char *token = s_sign (claims, "RS256", "JWT");
    s_hint_param (param, sizeof param, token, NULL);
    s_error_redirect (&conf, param, "invalid_request");
    free (token);
    s_hint_claims (claims, sizeof claims, &conf, NULL, NULL, now);
    token = s_sign (claims, "RS256", "JWT");
    s_hint_param (param, sizeof param, token, NULL);
    s_error_redirect (&conf, param, "invalid_request");
    free (token);
    //  An access token (typ at+jwt) is not an ID token.
    s_hint_claims (claims, sizeof claims, &conf, "someone", NULL, now);
    token = s_sign (claims, "RS256", "at+jwt");
    s_hint_param (param, sizeof param, token, NULL);
    s_error_redirect (&conf, param, "invalid_request");
    free (token);
    //  A real signature over other claims (sub changed to admin).
    token = s_sign (claims, "RS256", "JWT");
    char forged_claims[1024], forged_b64[2048], forged[4096];
    s_hint_claims (forged_claims, sizeof forged_claims, &conf, "admin", NULL, now);
    b64url_encode (forged_claims, strlen (forged_claims), forged_b64);
    char *dot = strchr (token, '.');
    char *dot2 = strchr (dot + 1, '.');
    snprintf (forged, sizeof forged, "%.*s.%s%s", (int)(dot - token), token, forged_b64, dot2);
    s_hint_param (param, sizeof param, forged, NULL);
    s_error_redirect (&conf, param, "invalid_request");
    free (token);
}

static void
test_issue_code_for_another_user_than_the_id_token_hint_is_login_required (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t conf;
    s_client (&conf, "conf", 0);
    char sub[64], other[64], claims[1024], param[8192];
    svc_unique (sub, sizeof sub, "hint-sub");
    svc_unique (other, sizeof other, "other");
    s_hint_claims (claims, sizeof claims, &conf, sub, NULL, (long)time (NULL));
    char *token = s_sign (claims, "RS256", "JWT");
    s_hint_param (param, sizeof param, token, NULL);
    json_t *q = s_request_of (&conf, param);
    json_t *r = s_issue (svc_str (q, "request_id"), other, 1);
    assert_string_equal (svc_str (r, "redirect.params.error"), "login_required");
    assert_null (json_object_get (json_object_get (json_object_get (r, "redirect"), "params"), "code"));
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.codes WHERE client_id = '%s'", conf.id), 0);
    json_decref (r);
    json_decref (q);
    free (token);
}

static void
test_id_token_has_a_nonce_only_when_the_request_had_one (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t single;
    s_client (&single, "single", 1);
    const char *extra[] = {"{\"nonce\": null}", NULL};
    for (size_t i = 0; i < 2; i++) {
        json_t *q = s_request_of (&single, extra[i]);
        json_t *r = s_issue (svc_str (q, "request_id"), "nonce-sub", 0);
        json_t *t =
            svc_ok (svc_h, "token.exchange",
                    "{\"form\": {\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": "
                    "\"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
                    " \"client_ip\": \"127.0.0.1\"}",
                    svc_str (r, "redirect.params.code"), single.redirect_uri, single.id, single.secret);
        json_t *claims = svc_jws_payload (svc_str (t, "id_token"));
        assert_string_equal (svc_str (claims, "sub"), "nonce-sub");
        if (extra[i])
            assert_null (json_object_get (claims, "nonce"));
        else
            assert_string_equal (svc_str (claims, "nonce"), "nonce-xyz");
        json_decref (claims);
        json_decref (t);
        json_decref (r);
        json_decref (q);
    }
}

//  --------------------------------------------------------------- bodies outside proto/ops/token.def

static void
test_authorize_body_outside_its_schema_is_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t conf;
    s_client (&conf, "conf", 0);
    json_t *body = json_pack ("{s:o, s:[], s:s, s:s}", "params", s_params (&conf, NULL), "repeated", "method",
                              "GET", "prompt", "none");
    svc_refused_naming (svc_h, "token.authorize", body, "prompt: unknown member");
    json_decref (body);
    svc_refused_text (svc_h, "token.authorize", "params: must be an object", "{\"params\": \"client_id=x\"}");
    //  No request was stored.
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.authz_requests WHERE client_id = '%s'", conf.id), 0);
}

static void
test_authorize_error_outside_its_schema_leaves_the_request_usable (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t conf;
    s_client (&conf, "conf", 0);
    char long_id[66];
    memset (long_id, 'x', 65);
    long_id[65] = '\0';
    const struct {
        const char *fmt;
        const char *why;
    } cases[] = {
        {"{\"request_id\": \"%s\", \"error\": \"access_denied\", \"error_description\": \"line\\nbreak\"}",
         "error_description: must not contain control characters"},
        {"{\"request_id\": \"%s\", \"error\": [\"access_denied\"]}", "error: must be a string"},
        {"{\"request_id\": \"%s\", \"error\": \"access_denied\"}", "request_id: too long (at most 64 bytes)"},
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *q = s_request_of (&conf, NULL);
        const char *rid = svc_str (q, "request_id");
        char text[512];
        snprintf (text, sizeof text, cases[i].fmt, i == 2 ? long_id : rid);
        svc_refused_text (svc_h, "token.authorize_error", cases[i].why, "%s", text);
        json_t *g = svc_ok (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", rid);
        assert_string_equal (svc_str (g, "request.request_id"), rid);
        json_decref (g);
        json_decref (q);
    }
}

static void
test_issue_code_with_an_unknown_member_leaves_the_request_usable (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t single;
    s_client (&single, "single", 1);
    json_t *q = s_request_of (&single, NULL);
    const char *rid = svc_str (q, "request_id");
    svc_refused_text (svc_h, "token.issue_code", "acr: unknown member",
                      "{\"request_id\": \"%s\", \"sub\": \"u\", \"sid\": \"s\", \"auth_time\": %ld,"
                      " \"amr\": [\"pwd\"], \"acr\": \"gold\"}",
                      rid, (long)time (NULL) - 5);
    char long_sub[257];
    memset (long_sub, 's', 256);
    long_sub[256] = '\0';
    svc_refused_text (svc_h, "token.consent_check", "sub: too long (at most 255 bytes)",
                      "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, long_sub);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.codes WHERE client_id = '%s'", single.id), 0);
    json_t *r = s_issue (rid, "u", 0);
    assert_true (strlen (svc_str (r, "redirect.params.code")) > 0);
    json_decref (r);
    json_decref (q);
}

static void
test_control_characters_in_a_parameter_passed_on_are_invalid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  The stored request (Q of proto/ops/token.def) carries login_hint and
    //  nonce as text without control characters: refused at the redirect URI.
    svc_client_t conf;
    s_client (&conf, "conf", 0);
    s_error_redirect (&conf, "{\"login_hint\": \"alice\\u0007\"}", "invalid_request");
    s_error_redirect (&conf, "{\"nonce\": \"n\\u0085once\"}", "invalid_request");
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.authz_requests WHERE client_id = '%s'", conf.id), 0);
}

static void
test_exchange_body_outside_its_schema_is_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *form = "{\"grant_type\": \"authorization_code\", \"code\": "
                       "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"redirect_uri\": \"" SVC_RP "cb\"}";
    char long_ip[66];
    memset (long_ip, '1', 65);
    long_ip[65] = '\0';
    svc_refused_text (svc_h, "token.exchange", "dpop: unknown member",
                      "{\"form\": %s, \"basic\": null, \"client_ip\": \"127.0.0.1\", \"dpop\": \"proof\"}",
                      form);
    svc_refused_text (svc_h, "token.exchange", "client_ip: too long (at most 64 bytes)",
                      "{\"form\": %s, \"basic\": null, \"client_ip\": \"%s\"}", form, long_ip);
    svc_refused_text (svc_h, "token.exchange", "client_ip: must not contain control characters",
                      "{\"form\": %s, \"basic\": null, \"client_ip\": \"127.0.0.1\\n\"}", form);
    svc_refused_text (svc_h, "token.exchange", "basic: must be a string",
                      "{\"form\": %s, \"basic\": {\"client_id\": 7, \"client_secret\": \"s\"},"
                      " \"client_ip\": \"127.0.0.1\"}",
                      form);
}

static void
test_userinfo_body_outside_its_schema_is_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_refused_text (svc_h, "token.userinfo", "scope: unknown member",
                      "{\"access_token\": \"a.b.c\", \"scope\": \"openid\"}");
    svc_refused_text (svc_h, "token.userinfo", "access_token: must be a string", "{\"access_token\": 5}");
}

static void
test_access_token_without_exp_or_from_the_future_is_never_signed (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  token-svc would refuse such a token too, but it cannot be made:
    //  keys-svc signs no token without exp or issued in its future.
    long now = (long)time (NULL);
    const char *fmt = "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"s\", \"aud\": \"" ISSUER
                      "/userinfo\", \"iat\": %ld%s, \"jti\": \"j-%ld\", \"client_id\": \"crafted\","
                      " \"scope\": \"openid profile\"}, \"alg\": \"RS256\", \"typ\": \"at+jwt\"}";
    char exp[64];
    assert_string_equal (svc_err (svc_h, "keys.sign", fmt, now, "", now), "forbidden");
    snprintf (exp, sizeof exp, ", \"exp\": %ld", now + 3900);
    assert_string_equal (svc_err (svc_h, "keys.sign", fmt, now + 3600, exp, now), "forbidden");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_id_token_hint_names_its_subject),
        cmocka_unit_test (test_id_token_hint_for_someone_else_or_forged_is_invalid_request),
        cmocka_unit_test (test_issue_code_for_another_user_than_the_id_token_hint_is_login_required),
        cmocka_unit_test (test_id_token_has_a_nonce_only_when_the_request_had_one),
        cmocka_unit_test (test_authorize_body_outside_its_schema_is_refused),
        cmocka_unit_test (test_authorize_error_outside_its_schema_leaves_the_request_usable),
        cmocka_unit_test (test_issue_code_with_an_unknown_member_leaves_the_request_usable),
        cmocka_unit_test (test_control_characters_in_a_parameter_passed_on_are_invalid_request),
        cmocka_unit_test (test_exchange_body_outside_its_schema_is_refused),
        cmocka_unit_test (test_userinfo_body_outside_its_schema_is_refused),
        cmocka_unit_test (test_access_token_without_exp_or_from_the_future_is_never_signed),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
