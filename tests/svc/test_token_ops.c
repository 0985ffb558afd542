/*  token-svc's ops in-process (tests/svc/svc_harness.h), over the bus with
 *  JSON bodies as the gateway and ostiaryctl send them: clients, the
 *  authorization request and its code (OpenID Connect Core §3.1.2; RFC 6749
 *  §4.1; RFC 7636), token.exchange for the three grants (RFC 6749 §4.1.3,
 *  §4.4, §6), userinfo, revocation (RFC 7009), introspection (RFC 7662) and
 *  token.subject_revoke. Each op: its answer, its refusals, and the rows it
 *  writes. keys-svc signs for real; flow-svc is not involved (issue_code
 *  takes a made-up session, as the login flow would hand it). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "metrics.h"
#include "secure.h"
#include "svc_harness.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISSUER "http://127.0.0.1:8080"

//  --------------------------------------------------------------- helpers

//  Adds a client: id from prefix, one redirect URI, third-party unless
//  extra (JSON members, leading comma) says otherwise.
static void
s_client (svc_client_t *c, const char *prefix, const char *extra)
{
    svc_client (svc_h, c, prefix, "\"scopes\": [\"openid\", \"profile\", \"email\", \"offline_access\"]%s",
                extra ? extra : ", \"type\": \"confidential\"");
}

//  token.authorize with params (a JSON object's members, after client_id
//  and redirect_uri of c); returns the whole result.
//  Unless params name one, the request carries a PKCE challenge (every
//  client needs one by default).
static json_t *
s_authorize (const svc_client_t *c, const char *params)
{
    const char *pkce = params && strstr (params, "code_challenge")
                           ? ""
                           : ", \"code_challenge\": \"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\","
                             " \"code_challenge_method\": \"S256\"";
    return svc_ok (
        svc_h, "token.authorize",
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%s\", \"redirect_uri\": \"%s\","
        " \"scope\": \"openid profile\", \"state\": \"st-1\"%s%s}, \"repeated\": [], \"method\": \"GET\"}",
        c->id, c->redirect_uri, pkce, params ? params : "");
}

//  A stored request's id (into id).
static void
s_request (const svc_client_t *c, const char *params, char *id, size_t size)
{
    json_t *r = s_authorize (c, params);
    snprintf (id, size, "%s", svc_str (r, "request.request_id"));
    json_decref (r);
}

//  A code for c after a consent given now, with PKCE (verifier out) and the
//  extra authorization parameters; sub names the user.
static void
s_code (const svc_client_t *c, const char *sub, const char *params, char *code, char *verifier)
{
    char challenge[64], extra[512], rid[128];
    svc_pkce (verifier, challenge);
    snprintf (extra, sizeof extra, ", \"code_challenge\": \"%s\", \"code_challenge_method\": \"S256\"%s",
              challenge, params ? params : "");
    s_request (c, extra, rid, sizeof rid);
    json_t *r = svc_ok (svc_h, "token.issue_code",
                        "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"sid-1\", \"auth_time\": %ld,"
                        " \"amr\": [\"pwd\"], \"consent\": {\"granted\": true, \"remember\": false}}",
                        rid, sub, (long)time (NULL) - 5);
    snprintf (code, 128, "%s", svc_str (r, "redirect.params.code"));
    json_decref (r);
}

//  token.exchange of form (JSON members) by c with its registered method.
static int
s_exchange (const svc_client_t *c, const char *form, json_t **result, bus_error_t *error)
{
    char auth[512] = "", basic[512] = "null";
    if (strcmp (c->method, "client_secret_basic") == 0)
        snprintf (basic, sizeof basic, "{\"client_id\": \"%s\", \"client_secret\": \"%s\"}", c->id,
                  c->secret);
    else if (strcmp (c->method, "client_secret_post") == 0)
        snprintf (auth, sizeof auth, ", \"client_id\": \"%s\", \"client_secret\": \"%s\"", c->id, c->secret);
    else
        snprintf (auth, sizeof auth, ", \"client_id\": \"%s\"", c->id);
    return svc_call (svc_h, "token.exchange", result, error,
                     "{\"form\": {%s%s}, \"basic\": %s, \"client_ip\": \"127.0.0.1\"}", form, auth, basic);
}

static json_t *
s_exchange_ok (const svc_client_t *c, const char *form)
{
    json_t *r = NULL;
    bus_error_t e;
    if (s_exchange (c, form, &r, &e) != 0)
        fail_msg ("token.exchange %s: %s (%s)", form, e.code, e.description);
    return r;
}

static const char *
s_exchange_err (const svc_client_t *c, const char *form)
{
    static char code[48];
    json_t *r = NULL;
    bus_error_t e;
    if (s_exchange (c, form, &r, &e) == 0)
        fail_msg ("token.exchange %s succeeded", form);
    snprintf (code, sizeof code, "%s", e.code);
    return code;
}

//  Tokens of a code exchange for sub.
static json_t *
s_tokens (const svc_client_t *c, const char *sub, const char *params)
{
    char code[128], verifier[64], form[512];
    s_code (c, sub, params, code, verifier);
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\","
              " \"code_verifier\": \"%s\"",
              code, c->redirect_uri, verifier);
    return s_exchange_ok (c, form);
}

//  --------------------------------------------------------------- revocation and introspection, case by case

//  A refresh client (code and refresh grants, PKCE optional, first-party).
static void
s_refresh_client (svc_client_t *c)
{
    s_client (c, "rc",
              ", \"type\": \"confidential\", \"first_party\": true, \"require_pkce\": false,"
              " \"grant_types\": [\"authorization_code\", \"refresh_token\"]");
}

//  A code exchange with offline_access for a new subject (into sub).
static json_t *
s_family (const svc_client_t *c, char *sub)
{
    char code[128], verifier[64];
    svc_unique (sub, 64, "fam");
    s_code (c, sub, ", \"scope\": \"openid profile offline_access\", \"prompt\": \"consent\"", code,
            verifier);
    char form[1024];
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"",
              code, c->redirect_uri, verifier);
    return s_exchange_ok (c, form);
}

static json_t *
s_revoke (const svc_client_t *c, const char *token, const char *hint)
{
    char h[128] = "";
    if (hint)
        snprintf (h, sizeof h, ", \"token_type_hint\": \"%s\"", hint);
    return svc_ok (
        svc_h, "token.revoke",
        "{\"form\": {\"token\": \"%s\"%s}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
        " \"client_ip\": \"127.0.0.1\"}",
        token, h, c->id, c->secret);
}

static json_t *
s_introspect (const svc_client_t *c, const char *token)
{
    return svc_ok (
        svc_h, "token.introspect",
        "{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}}",
        token, c->id, c->secret);
}

static int
s_active (const svc_client_t *c, const char *token)
{
    json_t *r = s_introspect (c, token);
    int active = svc_bool (r, "active");
    json_decref (r);
    return active;
}

static int
s_revoked (const svc_client_t *c, const char *token, const char *hint)
{
    json_t *r = s_revoke (c, token, hint);
    int revoked = svc_bool (r, "revoked");
    json_decref (r);
    return revoked;
}

static int
s_refresh_ok (const svc_client_t *c, const char *rt, json_t **result)
{
    char form[512];
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"", rt);
    json_t *r = NULL;
    bus_error_t e;
    int rc = s_exchange (c, form, &r, &e);
    if (result)
        *result = r;
    else
        json_decref (r);
    return rc == 0;
}

static int
s_userinfo_ok (const char *at)
{
    json_t *r = NULL;
    bus_error_t e;
    int rc = svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", at);
    json_decref (r);
    if (rc != 0)
        assert_string_equal (e.code, "invalid_token");
    return rc == 0;
}

static void
test_revoke_refresh_and_access_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    char sub[64];
    s_refresh_client (&c);
    //  A refresh token: its family, and every access token it issued.
    json_t *out = s_family (&c, sub);
    json_t *next = NULL;
    assert_true (s_refresh_ok (&c, svc_str (out, "refresh_token"), &next));
    assert_true (s_revoked (&c, svc_str (next, "refresh_token"), "refresh_token"));
    assert_false (s_refresh_ok (&c, svc_str (next, "refresh_token"), NULL));
    assert_false (s_userinfo_ok (svc_str (out, "access_token")));
    assert_false (s_userinfo_ok (svc_str (next, "access_token")));
    json_decref (next);
    json_decref (out);
    //  An access token: its jti listed; the refresh token stays usable.
    out = s_family (&c, sub);
    assert_true (s_userinfo_ok (svc_str (out, "access_token")));
    assert_true (s_revoked (&c, svc_str (out, "access_token"), "access_token"));
    assert_false (s_userinfo_ok (svc_str (out, "access_token")));
    assert_true (s_refresh_ok (&c, svc_str (out, "refresh_token"), NULL));
    json_decref (out);
    //  The hint is a hint.
    const char *cases[][2] = {
        {"access_token", "refresh_token"}, {"refresh_token", "access_token"}, {"access_token", "bogus"}};
    for (size_t i = 0; i < 3; i++) {
        out = s_family (&c, sub);
        assert_true (s_revoked (&c, svc_str (out, cases[i][0]), cases[i][1]));
        assert_false (s_active (&c, svc_str (out, cases[i][0])));
        json_decref (out);
    }
}

static void
test_revoke_refusals_and_tokens_it_does_not_know (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c, other;
    char sub[64], big[5001];
    s_refresh_client (&c);
    s_refresh_client (&other);
    memset (big, 'x', 5000);
    big[5000] = '\0';
    const char *unknown[] = {"", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not-a-token", "a.b.c", big};
    for (size_t i = 0; i < 5; i++)
        assert_false (s_revoked (&c, unknown[i], NULL));
    assert_string_equal (svc_err (svc_h, "token.revoke",
                                  "{\"form\": {}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": "
                                  "\"%s\"}, \"client_ip\": \"127.0.0.1\"}",
                                  c.id, c.secret),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.revoke",
                                  "{\"form\": {\"token\": \"x\"}, \"basic\": {\"client_id\": \"%s\", "
                                  "\"client_secret\": \"wrong\"}}",
                                  c.id),
                         "invalid_client");
    //  Another client's tokens: nothing happens.
    json_t *out = s_family (&c, sub);
    const char *kinds[] = {"refresh_token", "access_token"};
    for (size_t i = 0; i < 2; i++) {
        assert_false (s_revoked (&other, svc_str (out, kinds[i]), NULL));
        assert_true (s_active (&c, svc_str (out, kinds[i])));
    }
    json_decref (out);
}

//  A disabled client's tokens end at once, and enabling it again does not
//  bring them back (docs/token-lifecycle.md): introspection inactive
//  (RFC 7662 §2.2), userinfo invalid_token (RFC 6750 §3.1), refresh
//  invalid_client while it is disabled (RFC 6749 §5.2) and invalid_grant
//  after (its family was revoked).
static void
test_disabling_a_client_revokes_its_tokens_for_good (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c, rs;
    char sub[64];
    s_client (&c, "dis",
              ", \"type\": \"confidential\", \"first_party\": true, \"require_pkce\": false,"
              " \"grant_types\": [\"authorization_code\", \"refresh_token\", \"client_credentials\"]");
    s_client (
        &rs, "rs",
        ", \"type\": \"confidential\", \"grant_types\": [\"client_credentials\"], \"redirect_uris\": [],"
        " \"scopes\": [\"openid\"], \"resource_server\": true");
    json_t *out = s_family (&c, sub);
    const char *at = svc_str (out, "access_token"), *rt = svc_str (out, "refresh_token");
    json_t *cc = s_exchange_ok (&c, "\"grant_type\": \"client_credentials\"");
    const char *cc_at = svc_str (cc, "access_token");
    assert_true (s_active (&rs, at));
    assert_true (s_active (&rs, rt));
    assert_true (s_active (&rs, cc_at));
    assert_true (s_userinfo_ok (at));

    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"disabled\": true}", c.id));
    long disabled_at = (long)time (NULL);
    assert_false (s_active (&rs, at));
    assert_false (s_active (&rs, rt));
    assert_false (s_active (&rs, cc_at));
    assert_false (s_userinfo_ok (at));
    char form[512];
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"", rt);
    assert_string_equal (s_exchange_err (&c, form), "invalid_client");
    //  In the database: its families revoked, the time its access tokens ended.
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.refresh_families WHERE client_id = '%s'"
                                    " AND (revoked_at IS NULL OR revoke_reason <> 'client_disabled')",
                                    c.id),
                      0);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.refresh_families WHERE client_id = '%s'", c.id), 1);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.clients WHERE client_id = '%s'"
                                    " AND tokens_revoked_at IS NOT NULL",
                                    c.id),
                      1);

    //  Enabled again: what it held stays revoked.
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 2, \"disabled\": false}", c.id));
    assert_false (s_active (&rs, at));
    assert_false (s_active (&rs, rt));
    assert_false (s_active (&rs, cc_at));
    assert_false (s_userinfo_ok (at));
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    //  New tokens work (issued after the second of the revocation: iat is
    //  whole seconds, and a token of that second counts as before it).
    while ((long)time (NULL) <= disabled_at)
        usleep (50 * 1000);
    json_t *fresh = s_exchange_ok (&c, "\"grant_type\": \"client_credentials\"");
    assert_true (s_active (&rs, svc_str (fresh, "access_token")));
    json_decref (fresh);
    json_decref (cc);
    json_decref (out);
}

static void
test_introspect_case_by_case (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c, other, rs;
    char sub[64];
    s_refresh_client (&c);
    s_refresh_client (&other);
    s_client (
        &rs, "rs",
        ", \"type\": \"confidential\", \"grant_types\": [\"client_credentials\"], \"redirect_uris\": [],"
        " \"scopes\": [\"openid\"], \"resource_server\": true");
    //  Active tokens of both kinds.
    json_t *out = s_family (&c, sub);
    const char *kinds[][2] = {{"access_token", "Bearer"}, {"refresh_token", "refresh_token"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *r = s_introspect (&c, svc_str (out, kinds[i][0]));
        assert_true (svc_bool (r, "active"));
        assert_string_equal (svc_str (r, "sub"), sub);
        assert_string_equal (svc_str (r, "client_id"), c.id);
        assert_string_equal (svc_str (r, "iss"), ISSUER);
        assert_string_equal (svc_str (r, "token_type"), kinds[i][1]);
        assert_string_equal (svc_str (r, "scope"), svc_str (out, "scope"));
        assert_true (svc_int (r, "exp") > svc_int (r, "iat") && svc_int (r, "iat") > 0);
        assert_non_null (json_object_get (r, "aud"));
        json_decref (r);
        //  Another client sees {"active": false}; a resource server sees it active.
        r = s_introspect (&other, svc_str (out, kinds[i][0]));
        assert_false (svc_bool (r, "active"));
        assert_int_equal (json_object_size (r), 1);
        json_decref (r);
        r = s_introspect (&rs, svc_str (out, kinds[i][0]));
        assert_true (svc_bool (r, "active"));
        assert_string_equal (svc_str (r, "client_id"), c.id);
        json_decref (r);
    }
    //  Inactive: a consumed refresh token, a revoked access token, garbage — {"active": false} only.
    json_t *next = NULL;
    assert_true (s_refresh_ok (&c, svc_str (out, "refresh_token"), &next));
    json_decref (s_revoke (&c, svc_str (next, "access_token"), NULL));
    const char *inactive[] = {svc_str (out, "refresh_token"), svc_str (next, "access_token"), "garbage",
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "a.b.c"};
    for (size_t i = 0; i < 5; i++) {
        json_t *r = s_introspect (&c, inactive[i]);
        json_t *expected = json_pack ("{s:b}", "active", 0);
        if (!json_equal (r, expected))
            fail_msg ("token %zu: %s", i, json_dumps (r, JSON_COMPACT));
        json_decref (expected);
        json_decref (r);
    }
    //  Client authentication is required.
    assert_string_equal (svc_err (svc_h, "token.introspect",
                                  "{\"form\": {\"token\": \"%s\"}, \"basic\": null}",
                                  svc_str (next, "access_token")),
                         "invalid_client");
    assert_string_equal (
        svc_err (
            svc_h, "token.introspect",
            "{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"x\"}}",
            svc_str (next, "access_token"), c.id),
        "invalid_client");
    json_decref (next);
    json_decref (out);
}

//  --------------------------------------------------------------- health

static void
test_health_reaches_the_database (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.health", NULL);
    assert_string_equal (svc_str (r, "status"), "ok");
    json_decref (r);
}

//  --------------------------------------------------------------- clients

static void
test_client_add_returns_the_secret_once_and_stores_a_keyed_hash (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "conf", NULL);
    //  ≥ 256 random bits, base64url.
    assert_true (strlen (c.secret) >= 43);
    assert_string_equal (c.method, "client_secret_basic");
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.clients WHERE client_id = '%s'"
            " AND length(secret_hash) = 32 AND position(convert_to('%s', 'UTF8') in secret_hash) = 0",
            c.id, c.secret),
        1);
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", c.id);
    assert_null (json_object_get (r, "client_secret"));
    assert_null (json_object_get (json_object_get (r, "client"), "client_secret"));
    assert_null (json_object_get (json_object_get (r, "client"), "secret_hash"));
    assert_string_equal (svc_str (r, "client.type"), "confidential");
    assert_string_equal (svc_str (r, "client.redirect_uris.0"), c.redirect_uri);
    assert_true (svc_int (r, "client.created_at") > 0);
    json_decref (r);
}

static void
test_client_add_without_id_generates_one (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r =
        svc_ok (svc_h, "token.client_add",
                "{\"name\": \"Gen\", \"type\": \"confidential\", \"redirect_uris\": [\"" SVC_RP "gen\"]}");
    const char *id = svc_str (r, "client.client_id");
    assert_true (strlen (id) >= 16);
    assert_true (id[0] != '-');
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.clients WHERE client_id = '%s'", id),
                      1);
    json_decref (r);
}

static void
test_public_client_authenticates_with_none_and_needs_pkce (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "pub", ", \"type\": \"public\"");
    assert_string_equal (c.secret, "");
    assert_string_equal (c.method, "none");
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", c.id);
    assert_true (svc_bool (r, "client.require_pkce"));
    json_decref (r);
    assert_int_equal (
        svc_sql_long (
            svc_h, "SELECT count(*) FROM token.clients WHERE client_id = '%s' AND secret_hash IS NULL", c.id),
        1);
}

static void
test_client_add_refuses_bad_fields_with_invalid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "dup", NULL);
    //  An existing id.
    assert_string_equal (svc_err (svc_h, "token.client_add",
                                  "{\"client_id\": \"%s\", \"name\": \"x\", \"type\": \"confidential\","
                                  " \"redirect_uris\": [\"" SVC_RP "x\"]}",
                                  c.id),
                         "invalid_request");
    const char *bad[] = {
        //  Redirect URIs: a fragment, relative, another scheme, none at all.
        "\"redirect_uris\": [\"https://rp.example/cb#frag\"]",
        "\"redirect_uris\": [\"/cb\"]",
        "\"redirect_uris\": [\"ftp://rp.example/cb\"]",
        "\"redirect_uris\": []",
        //  A private-use scheme is for public clients only.
        "\"redirect_uris\": [\"com.example.app:/cb\"]",
        //  Malformed ids, an unknown member, values of the wrong type or range.
        "\"client_id\": \"has space\", \"redirect_uris\": [\"" SVC_RP "x\"]",
        "\"client_id\": \"\", \"redirect_uris\": [\"" SVC_RP "x\"]",
        "\"client_id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
        "\"redirect_uris\": [\"" SVC_RP "x\"]",
        "\"redirect_uris\": [\"" SVC_RP "x\"], \"colour\": \"blue\"",
        "\"redirect_uris\": [\"" SVC_RP "x\"], \"id_token_signed_response_alg\": \"HS256\"",
        "\"redirect_uris\": [\"" SVC_RP "x\"], \"grant_types\": [\"password\"]",
        "\"redirect_uris\": [\"" SVC_RP "x\"], \"require_pkce\": \"yes\"",
        "\"redirect_uris\": [\"" SVC_RP "x\"], \"refresh_grace\": 301",
        "\"redirect_uris\": \"" SVC_RP "x\"",
    };
    long before = svc_sql_long (svc_h, "SELECT count(*) FROM token.clients");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code =
            svc_err (svc_h, "token.client_add", "{\"name\": \"x\", \"type\": \"confidential\", %s}", bad[i]);
        if (strcmp (code, "invalid_request") != 0)
            fail_msg ("%s: %s", bad[i], code);
    }
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.clients"), before);
    //  The same private-use scheme is fine for a public client; every ID token alg is.
    json_decref (
        svc_ok (svc_h, "token.client_add",
                "{\"name\": \"app\", \"type\": \"public\", \"redirect_uris\": [\"com.example.app:/cb\"]}"));
    const char *algs[] = {"RS256", "ES256", "EdDSA"};
    for (size_t i = 0; i < 3; i++) {
        json_t *r =
            svc_ok (svc_h, "token.client_add",
                    "{\"name\": \"a\", \"type\": \"confidential\", \"redirect_uris\": [\"" SVC_RP "a\"],"
                    " \"id_token_signed_response_alg\": \"%s\"}",
                    algs[i]);
        assert_string_equal (svc_str (r, "client.id_token_signed_response_alg"), algs[i]);
        json_decref (r);
    }
}

static void
test_client_list_shows_clients_without_secrets (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "list", NULL);
    json_t *r = svc_ok (svc_h, "token.client_list", NULL);
    json_t *clients = json_object_get (r, "clients");
    assert_int_equal (json_array_size (clients), svc_sql_long (svc_h, "SELECT count(*) FROM token.clients"));
    size_t i;
    json_t *one;
    int found = 0;
    json_array_foreach (clients, i, one)
    {
        assert_null (json_object_get (one, "client_secret"));
        assert_null (json_object_get (one, "secret_hash"));
        found += strcmp (svc_str (one, "client_id"), c.id) == 0;
    }
    assert_int_equal (found, 1);
    json_decref (r);
}

static void
test_client_get_and_remove_of_unknown_client_is_not_found (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    assert_string_equal (svc_err (svc_h, "token.client_get", "{\"client_id\": \"nobody-here\"}"),
                         "not_found");
    assert_string_equal (svc_err (svc_h, "token.client_remove", "{\"client_id\": \"nobody-here\"}"),
                         "not_found");
    assert_string_equal (svc_err (svc_h, "token.client_rotate_secret", "{\"client_id\": \"nobody-here\"}"),
                         "not_found");
    assert_string_equal (svc_err (svc_h, "token.client_get", NULL), "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.client_remove", "{\"client_id\": 7}"), "invalid_request");
}

static void
test_client_remove_deletes_the_client (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rm", NULL);
    json_t *r = svc_ok (svc_h, "token.client_remove", "{\"client_id\": \"%s\"}", c.id);
    assert_true (svc_bool (r, "removed"));
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.clients WHERE client_id = '%s'", c.id),
                      0);
    assert_string_equal (svc_err (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", c.id), "not_found");
}

static void
test_rotate_secret_replaces_the_old_secret (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (
        &c, "rot",
        ", \"type\": \"confidential\", \"grant_types\": [\"authorization_code\", \"client_credentials\"]");
    json_decref (s_exchange_ok (&c, "\"grant_type\": \"client_credentials\""));
    char hash_before[80], hash_after[80];
    svc_sql_text (svc_h, hash_before, sizeof hash_before,
                  "SELECT encode(secret_hash, 'hex') FROM token.clients WHERE client_id = '%s'", c.id);
    json_t *r = svc_ok (svc_h, "token.client_rotate_secret", "{\"client_id\": \"%s\"}", c.id);
    svc_client_t old = c;
    snprintf (c.secret, sizeof c.secret, "%s", svc_str (r, "client_secret"));
    json_decref (r);
    assert_string_not_equal (c.secret, old.secret);
    svc_sql_text (svc_h, hash_after, sizeof hash_after,
                  "SELECT encode(secret_hash, 'hex') FROM token.clients WHERE client_id = '%s'", c.id);
    assert_string_not_equal (hash_before, hash_after);
    //  The replica that rotated drops its cached registration: the old
    //  secret fails at once, the new one works.
    assert_string_equal (s_exchange_err (&old, "\"grant_type\": \"client_credentials\""), "invalid_client");
    json_decref (s_exchange_ok (&c, "\"grant_type\": \"client_credentials\""));
    //  A public client has no secret to rotate.
    svc_client_t p;
    s_client (&p, "rotpub", ", \"type\": \"public\"");
    assert_string_equal (svc_err (svc_h, "token.client_rotate_secret", "{\"client_id\": \"%s\"}", p.id),
                         "invalid_request");
}

//  --------------------------------------------------------------- authorization request

static void
test_authorize_stores_a_valid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "az", NULL);
    json_t *r = s_authorize (&c, ", \"nonce\": \"n-1\", \"login_hint\": \"alice\", \"max_age\": \"300\"");
    assert_int_equal (json_object_size (r), 1);
    const char *rid = svc_str (r, "request.request_id");
    assert_true (strlen (rid) >= 43);
    assert_string_equal (svc_str (r, "request.client_id"), c.id);
    assert_string_equal (svc_str (r, "request.scopes.0"), "openid");
    assert_string_equal (svc_str (r, "request.login_hint"), "alice");
    assert_int_equal (svc_int (r, "request.max_age"), 300);
    assert_false (svc_bool (r, "request.first_party"));
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.authz_requests WHERE client_id = '%s' AND used_at IS NULL",
                      c.id),
        1);
    json_t *g = svc_ok (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", rid);
    assert_string_equal (svc_str (g, "request.request_id"), rid);
    assert_string_equal (svc_str (g, "request.nonce"), "n-1");
    json_decref (g);
    json_decref (r);
    //  Without optional parameters, the request omits them.
    r = s_authorize (&c, NULL);
    assert_null (json_object_get (json_object_get (r, "request"), "nonce"));
    assert_null (json_object_get (json_object_get (r, "request"), "max_age"));
    json_decref (r);
}

static void
test_authorize_without_a_valid_client_or_redirect_uri_is_a_page_error (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "pe", NULL);
    const char *bodies[] = {
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"nobody\", \"redirect_uri\": \"" SVC_RP
        "x\"}, \"repeated\": [], \"method\": \"GET\"}",
        "{\"params\": {\"response_type\": \"code\", \"redirect_uri\": \"" SVC_RP
        "x\"}, \"repeated\": [], \"method\": \"GET\"}",
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%1$s\", \"redirect_uri\": \"" SVC_RP
        "%1$s/other\"}, \"repeated\": [], \"method\": \"GET\"}",
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%1$s\", \"redirect_uri\": \"" SVC_RP
        "%1$s\"}, \"repeated\": [\"client_id\"], \"method\": \"GET\"}",
        "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%1$s\", \"redirect_uri\": \"" SVC_RP
        "%1$s\"}, \"repeated\": [\"redirect_uri\"], \"method\": \"GET\"}",
    };
    //  The reason of each (proto/page_errors.def), which the page says.
    static const char *const reasons[] = {"unknown_client", "client_id_malformed",
                                          "redirect_uri_unregistered", "client_id_repeated",
                                          "redirect_uri_repeated"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *r = svc_ok (svc_h, "token.authorize", bodies[i], c.id);
        if (!json_object_get (r, "page_error"))
            fail_msg ("case %zu: no page_error", i);
        assert_string_equal (svc_str (r, "page_error.error"), "invalid_request");
        assert_string_equal (svc_str (r, "page_error.reason"), reasons[i]);
        json_decref (r);
    }
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.authz_requests WHERE client_id = '%s'", c.id), 0);
}

static void
test_authorize_error_after_validation_redirects_with_state_and_iss (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ae", NULL);
    json_t *r = s_authorize (&c, ", \"response_type\": \"token\"");
    assert_string_equal (svc_str (r, "redirect.params.error"), "unsupported_response_type");
    assert_string_equal (svc_str (r, "redirect.params.state"), "st-1");
    assert_string_equal (svc_str (r, "redirect.params.iss"), ISSUER);
    assert_string_equal (svc_str (r, "redirect.redirect_uri"), c.redirect_uri);
    json_decref (r);
    r = s_authorize (&c, ", \"scope\": \"profile\"");
    assert_string_equal (svc_str (r, "redirect.params.error"), "invalid_scope");
    json_decref (r);
    r = s_authorize (&c, ", \"response_mode\": \"fragment\", \"prompt\": \"bogus\"");
    assert_string_equal (svc_str (r, "redirect.params.error"), "invalid_request");
    assert_string_equal (svc_str (r, "redirect.response_mode"), "fragment");
    json_decref (r);
}

static void
test_request_get_of_unknown_request_is_invalid_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    assert_string_equal (svc_err (svc_h, "token.request_get",
                                  "{\"request_id\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.request_get", NULL), "invalid_request");
}

static void
test_authorize_error_redirects_and_uses_the_request_up (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "aerr", NULL);
    char rid[128];
    s_request (&c, NULL, rid, sizeof rid);
    //  A code the orchestration may not send.
    assert_string_equal (svc_err (svc_h, "token.authorize_error",
                                  "{\"request_id\": \"%s\", \"error\": \"server_error\"}", rid),
                         "invalid_request");
    json_t *r =
        svc_ok (svc_h, "token.authorize_error",
                "{\"request_id\": \"%s\", \"error\": \"access_denied\", \"error_description\": \"no\"}", rid);
    assert_string_equal (svc_str (r, "redirect.params.error"), "access_denied");
    assert_string_equal (svc_str (r, "redirect.params.state"), "st-1");
    assert_string_equal (svc_str (r, "redirect.params.iss"), ISSUER);
    json_decref (r);
    assert_int_equal (
        svc_sql_long (
            svc_h, "SELECT count(*) FROM token.authz_requests WHERE client_id = '%s' AND used_at IS NOT NULL",
            c.id),
        1);
    assert_string_equal (svc_err (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", rid),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.authorize_error",
                                  "{\"request_id\": \"%s\", \"error\": \"access_denied\"}", rid),
                         "invalid_request");
}

static void
test_consent_is_needed_once_for_a_third_party_client_when_remembered (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "cons", NULL);
    char rid[128], sub[64];
    svc_unique (sub, sizeof sub, "sub");
    s_request (&c, NULL, rid, sizeof rid);
    json_t *r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, sub);
    assert_true (svc_bool (r, "needed"));
    json_decref (r);
    //  Without consent the code is refused and the request stays usable.
    assert_string_equal (svc_err (svc_h, "token.issue_code",
                                  "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"s\", \"auth_time\": "
                                  "%ld, \"amr\": [\"pwd\"]}",
                                  rid, sub, (long)time (NULL)),
                         "invalid_request");
    r = svc_ok (
        svc_h, "token.issue_code",
        "{\"request_id\": \"%s\", \"sub\": \"%s\", \"sid\": \"s\", \"auth_time\": %ld, \"amr\": [\"pwd\"],"
        " \"consent\": {\"granted\": true, \"remember\": true}}",
        rid, sub, (long)time (NULL));
    json_decref (r);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.consents WHERE client_id = '%s' AND sub = '%s'",
                      c.id, sub),
        1);
    s_request (&c, NULL, rid, sizeof rid);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, sub);
    assert_false (svc_bool (r, "needed"));
    json_decref (r);
    //  More than was granted is asked again; so is prompt=consent.
    s_request (&c, ", \"scope\": \"openid profile email\"", rid, sizeof rid);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, sub);
    assert_true (svc_bool (r, "needed"));
    json_decref (r);
    s_request (&c, ", \"prompt\": \"consent\"", rid, sizeof rid);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, sub);
    assert_true (svc_bool (r, "needed"));
    json_decref (r);
    //  A first-party client needs none.
    svc_client_t f;
    s_client (&f, "first", ", \"type\": \"confidential\", \"first_party\": true");
    s_request (&f, NULL, rid, sizeof rid);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}", rid, sub);
    assert_false (svc_bool (r, "needed"));
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "token.consent_check", "{\"request_id\": \"%s\"}", rid),
                         "invalid_request");
}

static void
test_issue_code_returns_a_code_once (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ic", ", \"type\": \"confidential\", \"first_party\": true");
    char rid[128];
    s_request (&c, NULL, rid, sizeof rid);
    const char *fmt =
        "{\"request_id\": \"%s\", \"sub\": \"u1\", \"sid\": \"s1\", \"auth_time\": %ld, \"amr\": [\"pwd\"]}";
    json_t *r = svc_ok (svc_h, "token.issue_code", fmt, rid, (long)time (NULL));
    const json_t *params = json_object_get (json_object_get (r, "redirect"), "params");
    assert_int_equal (json_object_size (params), 3);
    assert_int_equal (strlen (svc_str (params, "code")), 43);
    assert_string_equal (svc_str (params, "state"), "st-1");
    assert_string_equal (svc_str (params, "iss"), ISSUER);
    json_decref (r);
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.codes WHERE client_id = '%s' AND sub = 'u1' AND consumed_at IS NULL",
            c.id),
        1);
    //  The request is consumed: a second code → invalid_request.
    assert_string_equal (svc_err (svc_h, "token.issue_code", fmt, rid, (long)time (NULL)), "invalid_request");
    //  Malformed sessions.
    s_request (&c, NULL, rid, sizeof rid);
    assert_string_equal (
        svc_err (svc_h, "token.issue_code",
                 "{\"request_id\": \"%s\", \"sid\": \"s1\", \"auth_time\": 1, \"amr\": [\"pwd\"]}", rid),
        "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.issue_code",
                                  "{\"request_id\": \"%s\", \"sub\": \"u1\", \"sid\": \"s1\", \"auth_time\": "
                                  "\"x\", \"amr\": [\"pwd\"]}",
                                  rid),
                         "invalid_request");
    //  An authentication older than max_age (plus the skew) is refused; the request stays usable.
    s_request (&c, ", \"max_age\": \"60\"", rid, sizeof rid);
    assert_string_equal (svc_err (svc_h, "token.issue_code", fmt, rid, (long)time (NULL) - 3600),
                         "invalid_request");
    json_decref (svc_ok (svc_h, "token.issue_code", fmt, rid, (long)time (NULL)));
}

static void
test_denied_consent_is_access_denied (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "deny", NULL);
    char rid[128];
    s_request (&c, NULL, rid, sizeof rid);
    json_t *r = svc_ok (
        svc_h, "token.issue_code",
        "{\"request_id\": \"%s\", \"sub\": \"u\", \"sid\": \"s\", \"auth_time\": %ld, \"amr\": [\"pwd\"],"
        " \"consent\": {\"granted\": false, \"remember\": false}}",
        rid, (long)time (NULL));
    assert_string_equal (svc_str (r, "redirect.params.error"), "access_denied");
    assert_null (json_object_get (json_object_get (json_object_get (r, "redirect"), "params"), "code"));
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM token.codes WHERE client_id = '%s'", c.id),
                      0);
}

//  --------------------------------------------------------------- token.authorize, case by case

//  The clients of the authorization-request cases: conf (confidential,
//  client_secret_basic, PKCE optional, two redirect URIs, third-party), pub
//  (public, EdDSA ID tokens, first-party), post (client_secret_post, PKCE by
//  the global default, ES256, first-party), single (confidential, one
//  redirect URI, PKCE optional, first-party).
typedef struct {
    svc_client_t conf, pub, post, single;
    char conf_second[200];
} s_authz_clients_t;

static s_authz_clients_t *
s_authz_clients (void)
{
    static s_authz_clients_t c;
    static int made = 0;
    if (made)
        return &c;
    memset (&c, 0, sizeof c);
    svc_unique (c.conf.id, sizeof c.conf.id, "conf");
    snprintf (c.conf.redirect_uri, sizeof c.conf.redirect_uri, SVC_RP "%s", c.conf.id);
    snprintf (c.conf_second, sizeof c.conf_second, SVC_RP "%s/second", c.conf.id);
    json_t *r = svc_ok (
        svc_h, "token.client_add",
        "{\"client_id\": \"%s\", \"name\": \"Conf\", \"type\": \"confidential\", \"redirect_uris\": [\"%s\", "
        "\"%s\"],"
        " \"scopes\": [\"openid\", \"profile\", \"email\", \"offline_access\"], \"require_pkce\": false}",
        c.conf.id, c.conf.redirect_uri, c.conf_second);
    snprintf (c.conf.secret, sizeof c.conf.secret, "%s", svc_str (r, "client_secret"));
    snprintf (c.conf.method, sizeof c.conf.method, "client_secret_basic");
    json_decref (r);
    s_client (&c.pub, "pub",
              ", \"type\": \"public\", \"id_token_signed_response_alg\": \"EdDSA\", \"first_party\": true");
    s_client (&c.post, "post",
              ", \"type\": \"confidential\", \"token_endpoint_auth_method\": \"client_secret_post\","
              " \"id_token_signed_response_alg\": \"ES256\", \"first_party\": true");
    s_client (&c.single, "single",
              ", \"type\": \"confidential\", \"require_pkce\": false, \"first_party\": true");
    made = 1;
    return &c;
}

//  token.authorize with the usual parameters of client c changed by change
//  (a JSON object: a string sets, null removes), repeated names (JSON array
//  text or NULL) and method.
static json_t *
s_authorize_changed (const svc_client_t *c, const char *change, const char *repeated, const char *method)
{
    json_t *params = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "response_type", "code", "client_id", c->id,
                                "redirect_uri", c->redirect_uri, "scope", "openid profile", "state",
                                "state-xyz", "nonce", "nonce-xyz");
    if (change && *change) {
        json_error_t jerr;
        json_t *ch = json_loads (change, 0, &jerr);
        if (!ch)
            fail_msg ("change is not JSON: %s", change);
        const char *key;
        json_t *v;
        json_object_foreach (ch, key, v)
        {
            if (json_is_null (v))
                json_object_del (params, key);
            else
                json_object_set (params, key, v);
        }
        json_decref (ch);
    }
    json_t *rep = json_loads (repeated ? repeated : "[]", 0, NULL);
    assert_non_null (rep);
    json_t *body =
        json_pack ("{s:o, s:o, s:s}", "params", params, "repeated", rep, "method", method ? method : "GET");
    json_t *result = NULL;
    bus_error_t e;
    if (svc_call_json (svc_h, "token.authorize", body, &result, &e) != 0)
        fail_msg ("token.authorize %s: %s", change ? change : "", e.code);
    json_decref (body);
    return result;
}

//  The redirect of an error answered at the redirect URI, checked for code,
//  iss and a description.
static json_t *
s_error_redirect (const svc_client_t *c, const char *change, const char *repeated, const char *error)
{
    json_t *r = s_authorize_changed (c, change, repeated, NULL);
    if (json_object_size (r) != 1 || !json_object_get (r, "redirect"))
        fail_msg ("%s: no error redirect: %s", change, json_dumps (r, JSON_COMPACT));
    json_t *redirect = json_incref (json_object_get (r, "redirect"));
    json_decref (r);
    if (strcmp (svc_str (redirect, "params.error"), error) != 0)
        fail_msg ("%s: %s, not %s", change, svc_str (redirect, "params.error"), error);
    assert_true (strlen (svc_str (redirect, "params.error_description")) > 0);
    assert_string_equal (svc_str (redirect, "params.iss"), ISSUER);
    return redirect;
}

static void
s_page_error (const svc_client_t *c, const char *change, const char *repeated)
{
    json_t *r = s_authorize_changed (c, change, repeated, NULL);
    if (json_object_size (r) != 1 || !json_object_get (r, "page_error"))
        fail_msg ("%s: no page error: %s", change, json_dumps (r, JSON_COMPACT));
    assert_string_equal (svc_str (r, "page_error.error"), "invalid_request");
    json_decref (r);
}

static json_t *
s_request_of (const svc_client_t *c, const char *change, const char *repeated, const char *method)
{
    json_t *r = s_authorize_changed (c, change, repeated, method);
    if (json_object_size (r) != 1 || !json_object_get (r, "request"))
        fail_msg ("%s: no request: %s", change, json_dumps (r, JSON_COMPACT));
    json_t *q = json_incref (json_object_get (r, "request"));
    json_decref (r);
    return q;
}

static void
test_authorize_page_errors_before_the_redirect_uri (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char change[2048];
    s_page_error (&c->conf, "{\"client_id\": \"nobody-at-all\"}", NULL);
    s_page_error (&c->conf, "{\"client_id\": null}", NULL);
    s_page_error (&c->conf, NULL, "[\"client_id\"]");
    const char *suffixes[] = {"/other", "/x", "X", "/", "?a=1", "#frag"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf (change, sizeof change, "{\"redirect_uri\": \"%s%s\"}", c->conf.redirect_uri, suffixes[i]);
        s_page_error (&c->conf, change, NULL);
    }
    snprintf (change, sizeof change, "{\"redirect_uri\": \"https://SVC_RP.example/cb/%s\"}", c->conf.id);
    s_page_error (&c->conf, change, NULL);
    //  Several registered: it must be named.
    s_page_error (&c->conf, "{\"redirect_uri\": null}", NULL);
    s_page_error (&c->conf, NULL, "[\"redirect_uri\"]");
}

static void
test_authorize_redirect_uri_may_be_omitted_or_be_the_second_one (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    json_t *q = s_request_of (&c->single, "{\"redirect_uri\": null}", NULL, NULL);
    json_t *r = svc_ok (
        svc_h, "token.issue_code",
        "{\"request_id\": \"%s\", \"sub\": \"s\", \"sid\": \"x\", \"auth_time\": %ld, \"amr\": [\"pwd\"]}",
        svc_str (q, "request_id"), (long)time (NULL) - 5);
    assert_string_equal (svc_str (r, "redirect.redirect_uri"), c->single.redirect_uri);
    json_decref (r);
    json_decref (q);
    char change[1024];
    snprintf (change, sizeof change, "{\"redirect_uri\": \"%s\", \"response_type\": \"token\"}",
              c->conf_second);
    json_t *red = s_error_redirect (&c->conf, change, NULL, "unsupported_response_type");
    assert_string_equal (svc_str (red, "redirect_uri"), c->conf_second);
    json_decref (red);
}

static void
test_authorize_errors_redirect_with_error_state_and_iss (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    const struct {
        char who;
        const char *change;
        const char *error;
    } matrix[] = {
        {'c', "{\"response_type\": null}", "invalid_request"},
        {'c', "{\"response_type\": \"token\"}", "unsupported_response_type"},
        {'c', "{\"response_type\": \"code id_token\"}", "unsupported_response_type"},
        //  {"alg":"RS256"}.{}.c2ln: request objects are taken unsigned only.
        {'c', "{\"request\": \"eyJhbGciOiJSUzI1NiJ9.e30.c2ln\"}", "invalid_request_object"},
        {'c', "{\"request_uri\": \"https://rp.example/request.jwt\"}", "request_uri_not_supported"},
        {'c', "{\"scope\": \"openid admin\"}", "invalid_scope"},
        {'c', "{\"scope\": \"profile email\"}", "invalid_scope"},
        {'c', "{\"scope\": null}", "invalid_scope"},
        {'c', "{\"scope\": \"openid phone\"}", "invalid_scope"},
        {'c', "{\"scope\": \"openid \\\"profile\\\"\"}", "invalid_scope"},
        {'c', "{\"prompt\": \"none login\"}", "invalid_request"},
        {'c', "{\"prompt\": \"none consent\"}", "invalid_request"},
        {'c', "{\"prompt\": \"bogus\"}", "invalid_request"},
        {'c', "{\"max_age\": \"-1\"}", "invalid_request"},
        {'c', "{\"max_age\": \"abc\"}", "invalid_request"},
        {'c', "{\"max_age\": \"1.5\"}", "invalid_request"},
        {'c', "{\"max_age\": \"\"}", "invalid_request"},
        {'c', "{\"max_age\": \"99999999999\"}", "invalid_request"},
        {'c', "{\"display\": \"tv\"}", "invalid_request"},
        {'c', "{\"nonce\": \"NONCE513\"}", "invalid_request"},
        {'c',
         "{\"code_challenge\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"code_challenge_method\": "
         "\"plain\"}",
         "invalid_request"},
        {'c', "{\"code_challenge\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "invalid_request"},
        {'c', "{\"code_challenge_method\": \"S256\"}", "invalid_request"},
        {'c',
         "{\"code_challenge\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"code_challenge_method\": "
         "\"S256\"}",
         "invalid_request"},
        {'c',
         "{\"code_challenge\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"code_challenge_method\": "
         "\"S256\"}",
         "invalid_request"},
        {'c',
         "{\"code_challenge\": \"+++++++++++++++++++++++++++++++++++++++++++\", \"code_challenge_method\": "
         "\"S256\"}",
         "invalid_request"},
        {'c',
         "{\"code_challenge\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"code_challenge_method\": "
         "\"s256\"}",
         "invalid_request"},
        {'c', "{\"id_token_hint\": \"not.a.token\"}", "invalid_request"},
        //  PKCE is required of public clients, and by default of confidential ones.
        {'p', "{}", "invalid_request"},
        {'o', "{}", "invalid_request"},
    };
    char nonce[600];
    memset (nonce, 'n', 513);
    nonce[513] = '\0';
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
        const svc_client_t *cl = matrix[i].who == 'c' ? &c->conf : matrix[i].who == 'p' ? &c->pub : &c->post;
        char change[800];
        const char *at = strstr (matrix[i].change, "NONCE513");
        if (at)
            snprintf (change, sizeof change, "{\"nonce\": \"%s\"}", nonce);
        else
            snprintf (change, sizeof change, "%s", matrix[i].change);
        json_t *r = s_error_redirect (cl, change, NULL, matrix[i].error);
        assert_string_equal (svc_str (r, "redirect_uri"), cl->redirect_uri);
        assert_string_equal (svc_str (r, "response_mode"), "query");
        assert_string_equal (svc_str (r, "params.state"), "state-xyz");
        assert_int_equal (json_object_size (json_object_get (r, "params")), 4);
        json_decref (r);
    }
}

static void
test_authorize_error_response_modes_and_state (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    json_t *r = s_error_redirect (&c->conf, "{\"response_mode\": \"web_message\"}", NULL, "invalid_request");
    assert_string_equal (svc_str (r, "response_mode"), "query");
    json_decref (r);
    const char *modes[] = {"fragment", "form_post", "query"};
    for (size_t i = 0; i < 3; i++) {
        char change[128];
        snprintf (change, sizeof change, "{\"response_mode\": \"%s\", \"response_type\": \"token\"}",
                  modes[i]);
        r = s_error_redirect (&c->conf, change, NULL, "unsupported_response_type");
        assert_string_equal (svc_str (r, "response_mode"), modes[i]);
        json_decref (r);
    }
    //  A parameter repeated after the redirect URI; a repeated state is not echoed.
    r = s_error_redirect (&c->conf, NULL, "[\"scope\"]", "invalid_request");
    assert_string_equal (svc_str (r, "params.state"), "state-xyz");
    json_decref (r);
    r = s_error_redirect (&c->conf, NULL, "[\"state\"]", "invalid_request");
    assert_null (json_object_get (json_object_get (r, "params"), "state"));
    json_decref (r);
    r = s_error_redirect (&c->conf, "{\"state\": null, \"response_type\": \"token\"}", NULL,
                          "unsupported_response_type");
    assert_null (json_object_get (json_object_get (r, "params"), "state"));
    json_decref (r);
    //  Unknown parameters are ignored, even repeated; POST is like GET.
    json_decref (
        s_request_of (&c->conf, "{\"foo\": \"bar\", \"claims_locales\": \"en\"}", "[\"foo\"]", NULL));
    json_decref (s_request_of (&c->conf, NULL, NULL, "POST"));
    //  A state of 160 characters is echoed byte for byte.
    char st[400] = "", change[800];
    size_t n = 0;
    for (int ch = 0x20; ch < 0x7f; ch++) {
        if (ch == '"' || ch == '\\')
            n += (size_t)snprintf (st + n, sizeof st - n, "\\%c", ch);
        else
            st[n++] = (char)ch;
    }
    st[n] = '\0';
    snprintf (st + n, sizeof st - n, "%s",
              "\xc3\xa9\xf0\x9f\x98\x80ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss");
    snprintf (change, sizeof change, "{\"state\": \"%s\", \"response_type\": \"token\"}", st);
    json_t *expected = json_loads (change, 0, NULL);
    assert_non_null (expected);
    const char *want = json_string_value (json_object_get (expected, "state"));
    assert_true (strlen (want) >= 128);
    r = s_error_redirect (&c->conf, change, NULL, "unsupported_response_type");
    assert_string_equal (svc_str (r, "params.state"), want);
    json_decref (r);
    snprintf (change, sizeof change, "{\"state\": \"%s\"}", st);
    json_t *q = s_request_of (&c->conf, change, NULL, NULL);
    r = svc_ok (
        svc_h, "token.issue_code",
        "{\"request_id\": \"%s\", \"sub\": \"s\", \"sid\": \"x\", \"auth_time\": %ld, \"amr\": [\"pwd\"],"
        " \"consent\": {\"granted\": true, \"remember\": false}}",
        svc_str (q, "request_id"), (long)time (NULL) - 5);
    assert_string_equal (svc_str (r, "redirect.params.state"), want);
    json_decref (r);
    json_decref (q);
    json_decref (expected);
}

static void
test_authorize_request_carries_what_the_login_flow_needs (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    long before = (long)time (NULL);
    json_t *q = s_request_of (
        &c->conf,
        "{\"prompt\": \"login consent\", \"max_age\": \"300\", \"login_hint\": \"alice\", \"display\": "
        "\"popup\","
        " \"ui_locales\": \"fr en\", \"claims_locales\": \"de\", \"acr_values\": \"urn:x:loa:1\"}",
        NULL, NULL);
    assert_string_equal (svc_str (q, "client_id"), c->conf.id);
    assert_string_equal (svc_str (q, "client_name"), "Conf");
    assert_false (svc_bool (q, "first_party"));
    json_t *scopes = json_pack ("[s, s]", "openid", "profile");
    json_t *prompt = json_pack ("[s, s]", "login", "consent");
    assert_true (json_equal (json_object_get (q, "scopes"), scopes));
    assert_true (json_equal (json_object_get (q, "prompt"), prompt));
    json_decref (scopes);
    json_decref (prompt);
    assert_int_equal (svc_int (q, "max_age"), 300);
    assert_string_equal (svc_str (q, "login_hint"), "alice");
    assert_string_equal (svc_str (q, "display"), "popup");
    assert_string_equal (svc_str (q, "ui_locales"), "fr en");
    assert_string_equal (svc_str (q, "nonce"), "nonce-xyz");
    assert_string_equal (svc_str (q, "redirect_uri"), c->conf.redirect_uri);
    assert_true (svc_int (q, "expires_at") >= before + 590 &&
                 svc_int (q, "expires_at") <= (long)time (NULL) + 610);
    assert_true (strlen (svc_str (q, "request_id")) >= 43);
    json_t *g = svc_ok (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", svc_str (q, "request_id"));
    assert_true (json_equal (json_object_get (g, "request"), q));
    json_decref (g);
    json_decref (q);
    //  Without optional parameters, they are absent.
    q = s_request_of (&c->conf, "{\"nonce\": null}", NULL, NULL);
    const char *absent[] = {"max_age", "login_hint", "id_token_hint_sub", "nonce", "display", "ui_locales"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        assert_null (json_object_get (q, absent[i]));
    assert_int_equal (json_array_size (json_object_get (q, "prompt")), 0);
    json_decref (q);
    //  offline_access only with prompt=consent (OpenID Connect Core §11).
    q = s_request_of (&c->conf, "{\"scope\": \"openid offline_access\"}", NULL, NULL);
    assert_int_equal (json_array_size (json_object_get (q, "scopes")), 1);
    assert_string_equal (svc_str (q, "scopes.0"), "openid");
    json_decref (q);
    q = s_request_of (&c->conf, "{\"scope\": \"openid offline_access\", \"prompt\": \"consent\"}", NULL,
                      NULL);
    assert_int_equal (json_array_size (json_object_get (q, "scopes")), 2);
    assert_string_equal (svc_str (q, "scopes.1"), "offline_access");
    json_decref (q);
    //  A public client with an S256 challenge.
    char verifier[64], challenge[64], change[256];
    svc_pkce (verifier, challenge);
    snprintf (change, sizeof change, "{\"code_challenge\": \"%s\", \"code_challenge_method\": \"S256\"}",
              challenge);
    json_decref (s_request_of (&c->pub, change, NULL, NULL));
}

//  A compact JWS of header and claims (JSON text) with the signature sig.
static void
s_jws_text (const char *header, const char *claims, const char *sig, char *out, size_t size)
{
    char h[512], c[6000];
    assert_true (b64url_encoded_len (strlen (header)) < sizeof h);
    assert_true (b64url_encoded_len (strlen (claims)) < sizeof c);
    h[b64url_encode (header, strlen (header), h)] = '\0';
    c[b64url_encode (claims, strlen (claims), c)] = '\0';
    snprintf (out, size, "%s.%s.%s", h, c, sig);
}

//  OpenID Connect Core §6.1, §6.3: an unsigned request object by value;
//  its members take precedence over the query's and are checked as theirs.
static void
test_authorize_unsigned_request_object (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char object[8192], claims[4096], change[8400];
    //  Its scope, nonce, redirect URI (the query's is not even registered)
    //  and max_age (a number in the object) are the request's.
    snprintf (claims, sizeof claims,
              "{\"iss\": \"%s\", \"aud\": \"%s\", \"exp\": %ld, \"client_id\": \"%s\","
              " \"response_type\": \"code\", \"scope\": \"openid email\", \"nonce\": \"ro-nonce\","
              " \"state\": \"ro-state\", \"redirect_uri\": \"%s\", \"max_age\": 60,"
              " \"claims\": {\"userinfo\": {\"name\": null}}}",
              c->conf.id, ISSUER, (long)time (NULL) + 300, c->conf.id, c->conf_second);
    s_jws_text ("{\"alg\":\"none\"}", claims, "", object, sizeof object);
    snprintf (change, sizeof change, "{\"request\": \"%s\", \"redirect_uri\": \"https://evil.example/cb\"}",
              object);
    json_t *q = s_request_of (&c->conf, change, NULL, NULL);
    assert_string_equal (svc_str (q, "redirect_uri"), c->conf_second);
    assert_string_equal (svc_str (q, "nonce"), "ro-nonce");
    assert_string_equal (svc_str (q, "scopes.1"), "email");
    assert_int_equal (svc_int (q, "max_age"), 60);
    json_decref (q);
    //  Its state is the one echoed: an error of the object's own values
    //  goes to its redirect URI with its state.
    snprintf (claims, sizeof claims, "{\"state\": \"ro-state\", \"prompt\": \"bogus\"}");
    s_jws_text ("{\"alg\":\"none\",\"typ\":\"oauth-authz-req+jwt\"}", claims, "", object, sizeof object);
    snprintf (change, sizeof change, "{\"request\": \"%s\"}", object);
    json_t *r = s_error_redirect (&c->conf, change, NULL, "invalid_request");
    assert_string_equal (svc_str (r, "params.state"), "ro-state");
    json_decref (r);
    //  An unregistered redirect URI in the object is a page error.
    snprintf (claims, sizeof claims, "{\"redirect_uri\": \"https://evil.example/cb\"}");
    s_jws_text ("{\"alg\":\"none\"}", claims, "", object, sizeof object);
    snprintf (change, sizeof change, "{\"request\": \"%s\"}", object);
    s_page_error (&c->conf, change, NULL);
    //  Objects that cannot be taken: invalid_request_object at the query's
    //  redirect URI, with the query's state.
    struct {
        const char *header, *claims, *sig;
    } bad[] = {
        {"{\"alg\":\"none\"}", "{\"scope\": \"openid\"}", "c2ln"},
        {"{\"alg\":\"RS256\"}", "{\"scope\": \"openid\"}", ""},
        {"{\"alg\":\"none\",\"crit\":[\"x\"]}", "{}", ""},
        {"{\"alg\":\"none\"}", "{\"request_uri\": \"https://rp.example/r\"}", ""},
        {"{\"alg\":\"none\"}", "{\"client_id\": \"someone-else\"}", ""},
        {"{\"alg\":\"none\"}", "{\"response_type\": \"token\"}", ""},
        {"{\"alg\":\"none\"}", "{\"iss\": \"someone-else\"}", ""},
        {"{\"alg\":\"none\"}", "{\"aud\": \"https://other.example\"}", ""},
        {"{\"alg\":\"none\"}", "{\"exp\": 1000}", ""},
        {"{\"alg\":\"none\"}", "{\"scope\": [\"openid\"]}", ""},
        {"{\"alg\":\"none\"}", "{\"max_age\": -5}", ""},
        {"{\"alg\":\"none\"}", "[1]", ""},
        {"not json", "{}", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_jws_text (bad[i].header, bad[i].claims, bad[i].sig, object, sizeof object);
        snprintf (change, sizeof change, "{\"request\": \"%s\"}", object);
        r = s_error_redirect (&c->conf, change, NULL, "invalid_request_object");
        assert_string_equal (svc_str (r, "params.state"), "state-xyz");
        json_decref (r);
    }
    json_decref (s_error_redirect (&c->conf, "{\"request\": \"a.b\"}", NULL, "invalid_request_object"));
    //  A repeated request parameter is a repeated parameter (RFC 6749 §3.1).
    json_decref (s_error_redirect (&c->conf, "{\"request\": \"eyJhbGciOiJub25lIn0.e30.\"}", "[\"request\"]",
                                   "invalid_request"));
}

//  A session body for issue_code: sub, its own sid, auth_time 5 s ago, pwd.
#define SESSION_FMT "\"sub\": \"%s\", \"sid\": \"sid-x\", \"auth_time\": %ld, \"amr\": [\"pwd\"]"

static json_t *
s_issue (const char *request_id, const char *sub, const char *consent)
{
    return svc_ok (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "%s%s}", request_id,
                   sub, (long)time (NULL) - 5, consent ? ", \"consent\": " : "", consent ? consent : "");
}

#define GRANT "{\"granted\": true, \"remember\": false}"
#define GRANT_REMEMBER "{\"granted\": true, \"remember\": true}"

static void
test_authorize_error_redirect_is_exact_and_ends_the_request (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    json_t *q = s_request_of (&c->conf, "{\"response_mode\": \"fragment\"}", NULL, NULL);
    const char *rid = svc_str (q, "request_id");
    json_t *r = svc_ok (
        svc_h, "token.authorize_error",
        "{\"request_id\": \"%s\", \"error\": \"login_required\", \"error_description\": \"no session\"}",
        rid);
    json_t *expected = json_pack ("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "redirect_uri", c->conf.redirect_uri,
                                  "response_mode", "fragment", "params", "error", "login_required",
                                  "error_description", "no session", "state", "state-xyz", "iss", ISSUER);
    assert_true (json_equal (json_object_get (r, "redirect"), expected));
    json_decref (expected);
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "token.request_get", "{\"request_id\": \"%s\"}", rid),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.authorize_error",
                                  "{\"request_id\": \"%s\", \"error\": \"access_denied\"}", rid),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "}", rid,
                                  "u", (long)time (NULL)),
                         "invalid_request");
    json_decref (q);
    //  A description with characters RFC 6749 §4.1.2.1 forbids is replaced.
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    r = svc_ok (svc_h, "token.authorize_error",
                "{\"request_id\": \"%s\", \"error\": \"access_denied\", \"error_description\": \"say "
                "\\\"hi\\\"\\\\\"}",
                svc_str (q, "request_id"));
    assert_string_equal (svc_str (r, "redirect.params.error"), "access_denied");
    assert_null (strchr (svc_str (r, "redirect.params.error_description"), '"'));
    assert_null (strchr (svc_str (r, "redirect.params.error_description"), '\\'));
    json_decref (r);
    json_decref (q);
}

static void
test_consent_is_remembered_for_what_was_granted (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char sub[64];
    svc_unique (sub, sizeof sub, "sub");
    json_t *q = s_request_of (&c->conf, NULL, NULL, NULL);
    json_t *r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                        svc_str (q, "request_id"), sub);
    json_t *expected = json_pack ("{s:b, s:[s, s]}", "needed", 1, "scopes", "openid", "profile");
    assert_true (json_equal (r, expected));
    json_decref (expected);
    json_decref (r);
    json_decref (s_issue (svc_str (q, "request_id"), sub, GRANT_REMEMBER));
    json_decref (q);
    //  Asked no more for these scopes; the request completes without consent.
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                svc_str (q, "request_id"), sub);
    assert_false (svc_bool (r, "needed"));
    json_decref (r);
    r = s_issue (svc_str (q, "request_id"), sub, NULL);
    svc_str (r, "redirect.params.code");
    json_decref (r);
    json_decref (q);
    //  More scopes are asked; once granted too, the union is covered.
    q = s_request_of (&c->conf, "{\"scope\": \"openid email\"}", NULL, NULL);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                svc_str (q, "request_id"), sub);
    assert_true (svc_bool (r, "needed"));
    json_decref (r);
    json_decref (s_issue (svc_str (q, "request_id"), sub, GRANT_REMEMBER));
    json_decref (q);
    q = s_request_of (&c->conf, "{\"scope\": \"openid profile email\"}", NULL, NULL);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                svc_str (q, "request_id"), sub);
    assert_false (svc_bool (r, "needed"));
    json_decref (r);
    json_decref (q);
    //  A consent not remembered is asked again.
    char other[64];
    svc_unique (other, sizeof other, "sub");
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    json_decref (s_issue (svc_str (q, "request_id"), other, GRANT));
    json_decref (q);
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                svc_str (q, "request_id"), other);
    assert_true (svc_bool (r, "needed"));
    json_decref (r);
    json_decref (q);
    //  A first-party client needs none, and completes without.
    q = s_request_of (&c->single, NULL, NULL, NULL);
    r = svc_ok (svc_h, "token.consent_check", "{\"request_id\": \"%s\", \"sub\": \"%s\"}",
                svc_str (q, "request_id"), other);
    assert_false (svc_bool (r, "needed"));
    json_decref (r);
    r = s_issue (svc_str (q, "request_id"), other, NULL);
    svc_str (r, "redirect.params.code");
    json_decref (r);
    json_decref (q);
}

static void
test_issue_code_answers_and_refusals (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    //  A code of 256 bits, with state and iss, in the requested response mode.
    json_t *q = s_request_of (&c->conf, "{\"response_mode\": \"form_post\"}", NULL, NULL);
    json_t *r = s_issue (svc_str (q, "request_id"), "u1", GRANT);
    assert_string_equal (svc_str (r, "redirect.redirect_uri"), c->conf.redirect_uri);
    assert_string_equal (svc_str (r, "redirect.response_mode"), "form_post");
    assert_string_equal (svc_str (r, "redirect.params.state"), "state-xyz");
    assert_string_equal (svc_str (r, "redirect.params.iss"), ISSUER);
    unsigned char raw[64];
    const char *code = svc_str (r, "redirect.params.code");
    assert_int_equal (b64url_decode (code, strlen (code), raw, sizeof raw), 32);
    json_decref (r);
    json_decref (q);
    //  Denied consent: access_denied with the state, no code.
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    r = s_issue (svc_str (q, "request_id"), "u1", "{\"granted\": false, \"remember\": false}");
    assert_string_equal (svc_str (r, "redirect.params.error"), "access_denied");
    assert_string_equal (svc_str (r, "redirect.params.state"), "state-xyz");
    assert_null (json_object_get (json_object_get (json_object_get (r, "redirect"), "params"), "code"));
    json_decref (r);
    json_decref (q);
    //  A third-party client without consent: refused, and nothing happened.
    q = s_request_of (&c->conf, NULL, NULL, NULL);
    assert_string_equal (svc_err (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "}",
                                  svc_str (q, "request_id"), "u1", (long)time (NULL)),
                         "invalid_request");
    json_decref (s_issue (svc_str (q, "request_id"), "u1", GRANT));
    json_decref (q);
    //  Twice → invalid_request.
    q = s_request_of (&c->single, NULL, NULL, NULL);
    json_decref (s_issue (svc_str (q, "request_id"), "u1", NULL));
    assert_string_equal (svc_err (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "}",
                                  svc_str (q, "request_id"), "u1", (long)time (NULL)),
                         "invalid_request");
    json_decref (q);
    //  prompt=login needs an authentication after the request.
    q = s_request_of (&c->single, "{\"prompt\": \"login\"}", NULL, NULL);
    assert_string_equal (svc_err (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "}",
                                  svc_str (q, "request_id"), "u1", (long)time (NULL) - 3600),
                         "invalid_request");
    r = svc_ok (svc_h, "token.issue_code", "{\"request_id\": \"%s\", " SESSION_FMT "}",
                svc_str (q, "request_id"), "u1", (long)time (NULL));
    svc_str (r, "redirect.params.code");
    json_decref (r);
    json_decref (q);
    //  Malformed sessions.
    const char *bad[] = {
        "\"sub\": \"\", \"sid\": \"s\", \"auth_time\": %ld, \"amr\": [\"pwd\"]",
        "\"sid\": \"s\", \"auth_time\": %ld, \"amr\": [\"pwd\"]",
        "\"sub\": \"u\", \"sid\": \"s%ld\", \"auth_time\": \"now\", \"amr\": [\"pwd\"]",
        "\"sub\": \"u\", \"sid\": \"s\", \"auth_time\": %ld, \"amr\": [\"pwd\"]",
        "\"sub\": \"u\", \"sid\": \"s\", \"auth_time\": %ld, \"amr\": \"pwd\"",
        "\"sub\": \"u\", \"sid\": 5, \"auth_time\": %ld, \"amr\": [\"pwd\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q = s_request_of (&c->single, NULL, NULL, NULL);
        char fmt[256];
        snprintf (fmt, sizeof fmt, "{\"request_id\": \"%%s\", %s}", bad[i]);
        //  Case 3 is an auth_time an hour ahead; the others a good one.
        long at = i == 3 ? (long)time (NULL) + 3600 : (long)time (NULL) - 5;
        const char *got = svc_err (svc_h, "token.issue_code", fmt, svc_str (q, "request_id"), at);
        if (strcmp (got, "invalid_request") != 0)
            fail_msg ("session %zu: %s", i, got);
        json_decref (q);
    }
}

//  --------------------------------------------------------------- token.exchange, case by case

//  token.exchange with form and basic as JSON texts (basic "null" for none):
//  the error code, or "" when it succeeded (*result then set, or freed when
//  result is NULL).
static const char *
s_raw_exchange (const char *form, const char *basic, json_t **result)
{
    static char code[48];
    json_t *r = NULL;
    bus_error_t e;
    int rc = svc_call (svc_h, "token.exchange", &r, &e,
                       "{\"form\": %s, \"basic\": %s, \"client_ip\": \"127.0.0.1\"}", form,
                       basic ? basic : "null");
    snprintf (code, sizeof code, "%s", rc == 0 ? "" : e.code);
    if (result)
        *result = r;
    else
        json_decref (r);
    return code;
}

//  {"client_id", "client_secret"} of c, as JSON text (into out).
static const char *
s_basic (const svc_client_t *c, char *out, size_t size)
{
    snprintf (out, size, "{\"client_id\": \"%s\", \"client_secret\": \"%s\"}", c->id, c->secret);
    return out;
}

//  A code for c from a request with the usual parameters changed by change
//  (PKCE S256 added when with_pkce); the verifier into verifier.
static void
s_code_for (const svc_client_t *c, const char *change, int with_pkce, char *code, char *verifier)
{
    char challenge[64], ch[1024];
    verifier[0] = '\0';
    if (with_pkce) {
        svc_pkce (verifier, challenge);
        snprintf (ch, sizeof ch, "{\"code_challenge\": \"%s\", \"code_challenge_method\": \"S256\"%s%s",
                  challenge, change ? ", " : "", change ? change + 1 : "}");
    } else
        snprintf (ch, sizeof ch, "%s", change ? change : "{}");
    json_t *q = s_request_of (c, ch, NULL, NULL);
    json_t *r = s_issue (svc_str (q, "request_id"), "code-sub", GRANT);
    snprintf (code, 128, "%s", svc_str (r, "redirect.params.code"));
    json_decref (r);
    json_decref (q);
}

static int
s_code_consumed (const char *code)
{
    return (int)svc_sql_long (
        svc_h,
        "SELECT count(*) FROM token.codes WHERE code_hash = sha256('%s'::bytea) AND consumed_at IS NOT NULL",
        code);
}

static void
test_exchange_code_checks_leave_the_code_usable (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char code[128], verifier[64], other[64], challenge[64], form[4096], basic[4096];
    s_basic (&c->conf, basic, sizeof basic);
    s_code_for (&c->conf, NULL, 1, code, verifier);
    svc_pkce (other, challenge);
    //  A wrong verifier.
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, other);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    //  A public client naming itself, with the right verifier.
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\", \"client_id\": \"%s\"}",
              code, c->conf.redirect_uri, verifier, c->pub.id);
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_grant");
    //  No verifier; another redirect URI; the second registered one; none.
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\"}", code,
              c->conf.redirect_uri);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s/x\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, verifier);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf_second, verifier);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"code_verifier\": \"%s\"}", code,
              verifier);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    //  Malformed verifiers are malformed requests (RFC 7636 §4.1).
    const char *bad[] = {"short",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"};
    for (size_t i = 0; i < 3; i++) {
        snprintf (form, sizeof form,
                  "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
                  "\"code_verifier\": \"%s\"}",
                  code, c->conf.redirect_uri, bad[i]);
        assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_request");
    }
    assert_int_equal (s_code_consumed (code), 0);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, verifier);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "");
    assert_int_equal (s_code_consumed (code), 1);
}

static void
test_exchange_replay_revokes_only_when_it_passes_the_checks (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char code[128], verifier[64], other[64], challenge[64], form[4096], basic[4096];
    s_basic (&c->conf, basic, sizeof basic);
    s_code_for (&c->conf, NULL, 1, code, verifier);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, verifier);
    json_t *first = NULL;
    assert_string_equal (s_raw_exchange (form, basic, &first), "");
    json_decref (
        svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (first, "access_token")));
    //  A wrong verifier, and another client: refused, the first tokens live.
    svc_pkce (other, challenge);
    char wrong[4096];
    snprintf (wrong, sizeof wrong,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, other);
    assert_string_equal (s_raw_exchange (wrong, basic, NULL), "invalid_grant");
    snprintf (wrong, sizeof wrong,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\", \"client_id\": \"%s\"}",
              code, c->conf.redirect_uri, verifier, c->pub.id);
    assert_string_equal (s_raw_exchange (wrong, NULL, NULL), "invalid_grant");
    json_decref (
        svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (first, "access_token")));
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.revoked_jtis WHERE reason = 'code_replay' AND jti ="
                      " (SELECT issued_jti FROM token.codes WHERE code_hash = sha256('%s'::bytea))",
                      code),
        0);
    //  The rightful client's replay revokes (RFC 6749 §4.1.2).
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (first, "access_token")),
        "invalid_token");
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.revoked_jtis WHERE reason = 'code_replay' AND jti ="
                      " (SELECT issued_jti FROM token.codes WHERE code_hash = sha256('%s'::bytea))",
                      code),
        1);
    json_decref (first);
}

static void
test_exchange_refuses_codes_it_cannot_redeem (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    char code[128], verifier[64], other[64], challenge[64], form[4096], basic[4096];
    s_basic (&c->conf, basic, sizeof basic);
    //  A public client's code without its verifier.
    s_code_for (&c->pub, NULL, 1, code, verifier);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"client_id\": \"%s\"}",
              code, c->pub.redirect_uri, c->pub.id);
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_grant");
    //  A verifier for a code issued without a challenge.
    s_code_for (&c->conf, NULL, 0, code, verifier);
    svc_pkce (other, challenge);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, other);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    //  Another client's code.
    s_code_for (&c->single, NULL, 0, code, verifier);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\"}", code,
              c->single.redirect_uri);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    //  Unknown or malformed codes; no code.
    char big[301];
    memset (big, 'A', 300);
    big[300] = '\0';
    const char *codes[] = {"x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", big};
    for (size_t i = 0; i < 3; i++) {
        snprintf (form, sizeof form,
                  "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\"}",
                  codes[i], c->conf.redirect_uri);
        assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_grant");
    }
    snprintf (form, sizeof form, "{\"grant_type\": \"authorization_code\", \"redirect_uri\": \"%s\"}",
              c->conf.redirect_uri);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_request");
    //  A request that omitted the redirect URI: the exchange may omit it too.
    char single_basic[4096];
    s_code_for (&c->single, "{\"redirect_uri\": null}", 0, code, verifier);
    snprintf (form, sizeof form, "{\"grant_type\": \"authorization_code\", \"code\": \"%s\"}", code);
    assert_string_equal (s_raw_exchange (form, s_basic (&c->single, single_basic, sizeof single_basic), NULL),
                         "");
}

static void
test_exchange_authenticates_the_client_first (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    const char *bogus =
        "\"grant_type\": \"authorization_code\", \"code\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        " \"redirect_uri\": \"" SVC_RP "cb\"";
    char form[4096], basic[4096];
    //  A wrong secret, an unknown client, no authentication.
    snprintf (basic, sizeof basic, "{\"client_id\": \"%s\", \"client_secret\": \"%.*sx\"}", c->conf.id,
              (int)strlen (c->conf.secret) - 1, c->conf.secret);
    snprintf (form, sizeof form, "{%s}", bogus);
    assert_string_equal (s_raw_exchange (form, basic, NULL), "invalid_client");
    assert_string_equal (
        s_raw_exchange (form, "{\"client_id\": \"nobody-at-all\", \"client_secret\": \"s\"}", NULL),
        "invalid_client");
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_client");
    //  Two methods at once; a client_id that differs from the header's.
    snprintf (form, sizeof form, "{%s, \"client_id\": \"%s\", \"client_secret\": \"%s\"}", bogus, c->conf.id,
              c->conf.secret);
    assert_string_equal (s_raw_exchange (form, s_basic (&c->conf, basic, sizeof basic), NULL),
                         "invalid_request");
    snprintf (form, sizeof form, "{%s, \"client_id\": \"%s\"}", bogus, c->post.id);
    assert_string_equal (s_raw_exchange (form, s_basic (&c->conf, basic, sizeof basic), NULL),
                         "invalid_request");
    //  A method other than the registered one (conf: basic; post: post).
    snprintf (form, sizeof form, "{%s, \"client_id\": \"%s\", \"client_secret\": \"%s\"}", bogus, c->conf.id,
              c->conf.secret);
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_client");
    snprintf (form, sizeof form, "{%s}", bogus);
    assert_string_equal (s_raw_exchange (form, s_basic (&c->post, basic, sizeof basic), NULL),
                         "invalid_client");
    //  A confidential client without its secret; a public one with a secret.
    snprintf (form, sizeof form, "{%s, \"client_id\": \"%s\"}", bogus, c->conf.id);
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_client");
    snprintf (form, sizeof form, "{%s, \"client_id\": \"%s\", \"client_secret\": \"anything\"}", bogus,
              c->pub.id);
    assert_string_equal (s_raw_exchange (form, NULL, NULL), "invalid_client");
    //  Then the grant type.
    s_basic (&c->conf, basic, sizeof basic);
    assert_string_equal (
        s_raw_exchange ("{\"code\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", basic, NULL),
        "invalid_request");
    const char *unsupported[] = {"password", "urn:x", "implicit"};
    for (size_t i = 0; i < 3; i++) {
        snprintf (form, sizeof form, "{\"grant_type\": \"%s\"}", unsupported[i]);
        assert_string_equal (s_raw_exchange (form, basic, NULL), "unsupported_grant_type");
    }
    assert_string_equal (s_raw_exchange ("{\"grant_type\": \"refresh_token\"}", basic, NULL),
                         "unauthorized_client");
    assert_string_equal (s_raw_exchange ("{\"grant_type\": \"client_credentials\"}", basic, NULL),
                         "unauthorized_client");
    svc_client_t cc;
    s_client (
        &cc, "cconly",
        ", \"type\": \"confidential\", \"grant_types\": [\"client_credentials\"], \"redirect_uris\": []");
    snprintf (form, sizeof form, "{%s}", bogus);
    assert_string_equal (s_raw_exchange (form, s_basic (&cc, basic, sizeof basic), NULL),
                         "unauthorized_client");
}

//  --------------------------------------------------------------- token.userinfo, case by case

//  An access token signed by keys-svc with the usual claims changed by
//  extra (JSON members, leading comma; a later member wins).
static char *
s_access_token (const char *claims)
{
    json_t *r =
        svc_ok (svc_h, "keys.sign", "{\"claims\": %s, \"alg\": \"RS256\", \"typ\": \"at+jwt\"}", claims);
    char *jws = strdup (svc_str (r, "jws"));
    json_decref (r);
    return jws;
}

static void
test_userinfo_case_by_case (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_authz_clients_t *c = s_authz_clients ();
    //  The subject, scopes and client of a real token, exactly.
    char code[128], verifier[64], form[4096], basic[4096];
    s_code_for (&c->conf, "{\"scope\": \"openid email\"}", 1, code, verifier);
    snprintf (form, sizeof form,
              "{\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"}",
              code, c->conf.redirect_uri, verifier);
    json_t *t = NULL;
    assert_string_equal (s_raw_exchange (form, s_basic (&c->conf, basic, sizeof basic), &t), "");
    json_t *u = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t, "access_token"));
    json_t *expected = json_pack ("{s:s, s:[s, s], s:s}", "sub", "code-sub", "scopes", "openid", "email",
                                  "client_id", c->conf.id);
    assert_true (json_equal (u, expected));
    json_decref (expected);
    json_decref (u);
    json_decref (t);
    long now = (long)time (NULL);
    char claims[1024];
    const char *fmt =
        "{\"iss\": \"" ISSUER "\", \"sub\": \"crafted-sub\", \"aud\": \"" ISSUER "/userinfo\", \"iat\": %ld,"
        " \"exp\": %ld, \"jti\": \"jti-%ld-%d\", \"client_id\": \"crafted\", \"scope\": \"%s\"%s}";
    //  Expired: invalid_token saying so.
    snprintf (claims, sizeof claims, fmt, now - 700, now - 100, now, 1, "openid profile", "");
    char *tok = s_access_token (claims);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", tok), -1);
    assert_string_equal (e.code, "invalid_token");
    assert_string_equal (e.description, "The access token expired");
    free (tok);
    //  Our own token ends at its exp: 5 s past it, within the clock skew,
    //  it is expired all the same.
    snprintf (claims, sizeof claims, fmt, now - 700, now - 5, now, 3, "openid profile", "");
    tok = s_access_token (claims);
    assert_int_equal (svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", tok), -1);
    assert_string_equal (e.description, "The access token expired");
    free (tok);
    snprintf (claims, sizeof claims, fmt, now - 700, now + 60, now, 2, "openid profile", "");
    tok = s_access_token (claims);
    json_decref (svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", tok));
    //  The same token with its claims forged keeps its signature: refused.
    char *dot = strchr (tok, '.');
    char *dot2 = strchr (dot + 1, '.');
    char forged_claims[1024], forged_b64[2048], forged[4096];
    snprintf (forged_claims, sizeof forged_claims, fmt, now, now + 300, now, 9, "openid profile",
              ", \"sub\": \"admin\"");
    b64url_encode (forged_claims, strlen (forged_claims), forged_b64);
    snprintf (forged, sizeof forged, "%.*s.%s%s", (int)(dot - tok), tok, forged_b64, dot2);
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", forged),
                         "invalid_token");
    free (tok);
    //  Without openid.
    snprintf (claims, sizeof claims, fmt, now, now + 300, now, 3, "profile", "");
    tok = s_access_token (claims);
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", tok),
                         "insufficient_scope");
    free (tok);
    //  Another audience; no jti; no sub.
    const char *wrong[] = {
        "{\"iss\": \"" ISSUER "\", \"sub\": \"s\", \"aud\": \"https://other.example\", \"iat\": %ld, "
        "\"exp\": %ld, \"jti\": \"j4\", \"client_id\": \"c\", \"scope\": \"openid\"}",
        "{\"iss\": \"" ISSUER "\", \"sub\": \"s\", \"aud\": \"" ISSUER
        "/userinfo\", \"iat\": %ld, \"exp\": %ld, \"client_id\": \"c\", \"scope\": \"openid\"}",
        "{\"iss\": \"" ISSUER "\", \"aud\": \"" ISSUER "/userinfo\", \"iat\": %ld, \"exp\": %ld, \"jti\": "
        "\"j5\", \"client_id\": \"c\", \"scope\": \"openid\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf (claims, sizeof claims, wrong[i], now, now + 300);
        tok = s_access_token (claims);
        assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", tok),
                             "invalid_token");
        free (tok);
    }
    //  Malformed tokens.
    const char *malformed[] = {"", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", malformed[i]),
                             "invalid_token");
    //  A token without exp or from the future can no longer be made at all.
    assert_string_equal (svc_err (svc_h, "keys.sign",
                                  "{\"claims\": {\"iss\": \"" ISSUER
                                  "\", \"sub\": \"s\", \"iat\": %ld}, \"alg\": \"RS256\","
                                  " \"typ\": \"at+jwt\"}",
                                  now),
                         "forbidden");
}

//  --------------------------------------------------------------- token.exchange

static void
test_code_exchange_issues_tokens_and_consumes_the_code (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ex", NULL);
    json_t *r = s_tokens (&c, "alice-sub", NULL);
    assert_string_equal (svc_str (r, "token_type"), "Bearer");
    assert_true (svc_int (r, "expires_in") > 0);
    assert_string_equal (svc_str (r, "scope"), "openid profile");
    svc_str (r, "id_token");
    assert_null (json_object_get (r, "refresh_token"));
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.codes WHERE client_id = '%s' AND consumed_at "
                                    "IS NOT NULL AND issued_jti IS NOT NULL",
                                    c.id),
                      1);
    //  The access token is good at token.userinfo.
    json_t *u = svc_ok (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (r, "access_token"));
    assert_string_equal (svc_str (u, "sub"), "alice-sub");
    assert_string_equal (svc_str (u, "client_id"), c.id);
    assert_string_equal (svc_str (u, "scopes.0"), "openid");
    json_decref (u);
    json_decref (r);
}

static void
test_code_replay_is_invalid_grant_and_revokes_the_first_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "replay", NULL);
    char code[128], verifier[64], form[512];
    s_code (&c, "bob-sub", NULL, code, verifier);
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"",
              code, c.redirect_uri, verifier);
    json_t *first = s_exchange_ok (&c, form);
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (first, "access_token")),
        "invalid_token");
    assert_true (svc_sql_long (svc_h, "SELECT count(*) FROM token.revoked_jtis") >= 1);
    json_decref (first);
}

static void
test_a_failed_redemption_leaves_the_code_usable (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "keep", NULL);
    char code[128], verifier[64], form[768];
    s_code (&c, "carol", NULL, code, verifier);
    //  PKCE verifier mismatch, redirect_uri mismatch, a missing verifier → invalid_grant.
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"",
              code, c.redirect_uri, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s/x\", "
              "\"code_verifier\": \"%s\"",
              code, c.redirect_uri, verifier);
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\"", code,
              c.redirect_uri);
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    //  A malformed verifier is a malformed request (RFC 7636 §4.1).
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"short\"",
              code, c.redirect_uri);
    assert_string_equal (s_exchange_err (&c, form), "invalid_request");
    //  Another client's attempt.
    svc_client_t other;
    s_client (&other, "other", NULL);
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"",
              code, c.redirect_uri, verifier);
    assert_string_equal (s_exchange_err (&other, form), "invalid_grant");
    assert_int_equal (
        svc_sql_long (
            svc_h, "SELECT count(*) FROM token.codes WHERE client_id = '%s' AND consumed_at IS NULL", c.id),
        1);
    json_decref (s_exchange_ok (&c, form));
}

static void
test_exchange_refuses_bad_requests_and_clients (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "exr", NULL);
    assert_string_equal (s_exchange_err (&c, "\"code\": \"x\""), "invalid_request");
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"password\""), "unsupported_grant_type");
    assert_string_equal (
        s_exchange_err (&c, "\"grant_type\": \"authorization_code\", \"redirect_uri\": \"" SVC_RP "x\""),
        "invalid_request");
    assert_string_equal (
        s_exchange_err (
            &c,
            "\"grant_type\": \"authorization_code\", \"code\": \"nope\", \"redirect_uri\": \"" SVC_RP "x\""),
        "invalid_grant");
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"client_credentials\""),
                         "unauthorized_client");
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"x\""),
                         "unauthorized_client");
    //  Client authentication comes first.
    svc_client_t wrong = c;
    snprintf (wrong.secret, sizeof wrong.secret, "not-the-secret");
    assert_string_equal (s_exchange_err (&wrong, "\"grant_type\": \"password\""), "invalid_client");
    svc_client_t unknown = c;
    snprintf (unknown.id, sizeof unknown.id, "nobody-at-all");
    assert_string_equal (s_exchange_err (&unknown, "\"grant_type\": \"authorization_code\""),
                         "invalid_client");
    svc_client_t none = c;
    snprintf (none.method, sizeof none.method, "none");
    assert_string_equal (s_exchange_err (&none, "\"grant_type\": \"authorization_code\""), "invalid_client");
    //  Two methods at once.
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (
        svc_call (
            svc_h, "token.exchange", &r, &e,
            "{\"form\": {\"grant_type\": \"client_credentials\", \"client_id\": \"%s\", \"client_secret\": "
            "\"%s\"},"
            " \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}, \"client_ip\": \"127.0.0.1\"}",
            c.id, c.secret, c.id, c.secret),
        -1);
    assert_string_equal (e.code, "invalid_request");
}

static void
test_refresh_rotates_and_reuse_revokes_the_family (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rf",
              ", \"type\": \"confidential\", \"first_party\": true, \"refresh_grace\": 0,"
              " \"grant_types\": [\"authorization_code\", \"refresh_token\"]");
    //  What the metrics count (docs/metrics.md): one code exchange, one
    //  rotation, one reuse.
    const char *const by_code[] = {"authorization_code", "RS256"}, *const by_refresh[] = {"refresh_token",
                                                                                          "RS256"};
    double codes = metrics_get (METRIC_TOKENS_ISSUED, by_code),
           refreshes = metrics_get (METRIC_TOKENS_ISSUED, by_refresh);
    double rotations = metrics_get (METRIC_REFRESH_ROTATIONS, NULL),
           reuses = metrics_get (METRIC_REFRESH_REUSE, NULL);
    json_t *t =
        s_tokens (&c, "dave", ", \"scope\": \"openid profile offline_access\", \"prompt\": \"consent\"");
    char rt[256], form[512];
    snprintf (rt, sizeof rt, "%s", svc_str (t, "refresh_token"));
    json_decref (t);
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.refresh_families WHERE client_id = '%s' AND revoked_at IS NULL",
            c.id),
        1);
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"", rt);
    json_t *n = s_exchange_ok (&c, form);
    assert_string_not_equal (svc_str (n, "refresh_token"), rt);
    svc_str (n, "id_token");
    //  Narrowing is allowed; widening is invalid_scope.
    char form2[512];
    snprintf (form2, sizeof form2,
              "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\", \"scope\": \"openid email\"",
              svc_str (n, "refresh_token"));
    assert_string_equal (s_exchange_err (&c, form2), "invalid_scope");
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"refresh_token\""), "invalid_request");
    assert_string_equal (
        s_exchange_err (&c, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"unknown\""),
        "invalid_grant");
    //  The consumed token again: reuse; the family and its access tokens are revoked.
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.refresh_families WHERE client_id = '%s' AND revoked_at IS NOT NULL",
            c.id),
        1);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.audit_events WHERE event = "
                                    "'refresh_token_reuse' AND client_id = '%s'",
                                    c.id),
                      1);
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (n, "access_token")),
        "invalid_token");
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"",
              svc_str (n, "refresh_token"));
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    json_decref (n);
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, by_code) == codes + 1);
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, by_refresh) == refreshes + 1);
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == rotations + 1);
    assert_true (metrics_get (METRIC_REFRESH_REUSE, NULL) == reuses + 1);
}

//  A refresh token presented again within its retry window is answered
//  again: counted as a retry, neither as a rotation nor as an issuance.
static void
test_refresh_retry_is_not_counted_as_issuance (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rr",
              ", \"type\": \"confidential\", \"first_party\": true, \"refresh_grace\": 60,"
              " \"grant_types\": [\"authorization_code\", \"refresh_token\"]");
    const char *const by_refresh[] = {"refresh_token", "RS256"};
    json_t *t = s_tokens (&c, "erin", ", \"scope\": \"openid offline_access\", \"prompt\": \"consent\"");
    char form[512];
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"",
              svc_str (t, "refresh_token"));
    json_decref (t);
    double refreshes = metrics_get (METRIC_TOKENS_ISSUED, by_refresh);
    double rotations = metrics_get (METRIC_REFRESH_ROTATIONS, NULL);
    double retries = metrics_get (METRIC_REFRESH_RETRIES, NULL);
    json_t *first = s_exchange_ok (&c, form);
    json_t *again = s_exchange_ok (&c, form);
    json_decref (first);
    json_decref (again);
    assert_true (metrics_get (METRIC_TOKENS_ISSUED, by_refresh) == refreshes + 1);
    assert_true (metrics_get (METRIC_REFRESH_ROTATIONS, NULL) == rotations + 1);
    assert_true (metrics_get (METRIC_REFRESH_RETRIES, NULL) == retries + 1);
}

static void
test_client_credentials_issues_an_access_token_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "cc", ", \"type\": \"confidential\", \"grant_types\": [\"client_credentials\"]");
    json_t *r = s_exchange_ok (&c, "\"grant_type\": \"client_credentials\"");
    svc_str (r, "access_token");
    assert_null (json_object_get (r, "id_token"));
    assert_null (json_object_get (r, "refresh_token"));
    //  The default scope is the client's minus openid and offline_access.
    assert_string_equal (svc_str (r, "scope"), "profile email");
    //  Without openid, userinfo refuses it.
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (r, "access_token")),
        "insufficient_scope");
    json_decref (r);
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"client_credentials\", \"scope\": \"openid\""),
                         "invalid_scope");
    assert_string_equal (s_exchange_err (&c, "\"grant_type\": \"client_credentials\", \"scope\": \"admin\""),
                         "invalid_scope");
}

//  --------------------------------------------------------------- userinfo

static void
test_userinfo_refuses_malformed_and_foreign_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"not.a.jwt\"}"),
                         "invalid_token");
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"\"}"), "invalid_token");
    //  An ID token is not an access token (typ JWT, not at+jwt).
    svc_client_t c;
    s_client (&c, "ui", ", \"type\": \"confidential\", \"first_party\": true");
    json_t *t = s_tokens (&c, "erin", NULL);
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t, "id_token")),
        "invalid_token");
    json_decref (t);
    //  Signed by our keys with the wrong audience.
    long now = (long)time (NULL);
    json_t *s = svc_ok (
        svc_h, "keys.sign",
        "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"x\", \"aud\": \"https://other\", \"iat\": %ld,"
        " \"exp\": %ld, \"jti\": \"j1\", \"client_id\": \"c\", \"scope\": \"openid\"}, \"alg\": \"RS256\","
        " \"typ\": \"at+jwt\"}",
        now, now + 60);
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (s, "jws")),
                         "invalid_token");
    json_decref (s);
    //  Expired (beyond the clock skew).
    s = svc_ok (
        svc_h, "keys.sign",
        "{\"claims\": {\"iss\": \"" ISSUER "\", \"sub\": \"x\", \"aud\": \"" ISSUER
        "/userinfo\", \"iat\": %ld,"
        " \"exp\": %ld, \"jti\": \"j2\", \"client_id\": \"c\", \"scope\": \"openid\"}, \"alg\": \"RS256\","
        " \"typ\": \"at+jwt\"}",
        now - 600, now - 300);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (
        svc_call (svc_h, "token.userinfo", &r, &e, "{\"access_token\": \"%s\"}", svc_str (s, "jws")), -1);
    assert_string_equal (e.code, "invalid_token");
    assert_string_equal (e.description, "The access token expired");
    json_decref (s);
}

//  --------------------------------------------------------------- revocation, introspection

static void
test_introspect_and_revoke_an_access_token (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rs", ", \"type\": \"confidential\", \"first_party\": true");
    json_t *t = s_tokens (&c, "frank", NULL);
    const char *at = svc_str (t, "access_token");
    const char *body =
        "{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"},"
        " \"client_ip\": \"127.0.0.1\"}";
    //  token.introspect takes no client_ip (proto/ops.def).
    const char *ibody =
        "{\"form\": {\"token\": \"%s\"}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}}";
    json_t *i = svc_ok (svc_h, "token.introspect", ibody, at, c.id, c.secret);
    assert_true (svc_bool (i, "active"));
    assert_string_equal (svc_str (i, "sub"), "frank");
    assert_string_equal (svc_str (i, "client_id"), c.id);
    assert_string_equal (svc_str (i, "token_type"), "Bearer");
    assert_string_equal (svc_str (i, "iss"), ISSUER);
    json_decref (i);
    json_t *r = svc_ok (svc_h, "token.revoke", body, at, c.id, c.secret);
    assert_true (svc_bool (r, "revoked"));
    json_decref (r);
    assert_true (svc_sql_long (svc_h, "SELECT count(*) FROM token.revoked_jtis") >= 1);
    i = svc_ok (svc_h, "token.introspect", ibody, at, c.id, c.secret);
    assert_false (svc_bool (i, "active"));
    assert_int_equal (json_object_size (i), 1);
    json_decref (i);
    assert_string_equal (svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", at),
                         "invalid_token");
    //  Unknown tokens: revoked false, active false.
    r = svc_ok (svc_h, "token.revoke", body, "unknown-token", c.id, c.secret);
    assert_false (svc_bool (r, "revoked"));
    json_decref (r);
    //  Missing token, bad client.
    assert_string_equal (svc_err (svc_h, "token.revoke",
                                  "{\"form\": {}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": "
                                  "\"%s\"}, \"client_ip\": \"1.2.3.4\"}",
                                  c.id, c.secret),
                         "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "token.introspect",
                 "{\"form\": {}, \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}}", c.id,
                 c.secret),
        "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.revoke", body, at, c.id, "wrong"), "invalid_client");
    assert_string_equal (svc_err (svc_h, "token.introspect", ibody, at, c.id, "wrong"), "invalid_client");
    //  Public clients may not introspect (RFC 7662 §2.1).
    svc_client_t p;
    s_client (&p, "rspub", ", \"type\": \"public\"");
    assert_string_equal (svc_err (svc_h, "token.introspect",
                                  "{\"form\": {\"token\": \"x\", \"client_id\": \"%s\"}, \"basic\": null}",
                                  p.id),
                         "invalid_client");
    json_decref (t);
}

static void
test_introspect_and_revoke_a_refresh_token (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rsr",
              ", \"type\": \"confidential\", \"first_party\": true, \"grant_types\": "
              "[\"authorization_code\", \"refresh_token\"],"
              " \"always_refresh\": true");
    json_t *t = s_tokens (&c, "gina", NULL);
    const char *rt = svc_str (t, "refresh_token");
    const char *body =
        "{\"form\": {\"token\": \"%s\", \"token_type_hint\": \"refresh_token\"},"
        " \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}, \"client_ip\": \"127.0.0.1\"}";
    const char *ibody = "{\"form\": {\"token\": \"%s\", \"token_type_hint\": \"refresh_token\"},"
                        " \"basic\": {\"client_id\": \"%s\", \"client_secret\": \"%s\"}}";
    json_t *i = svc_ok (svc_h, "token.introspect", ibody, rt, c.id, c.secret);
    assert_true (svc_bool (i, "active"));
    assert_string_equal (svc_str (i, "token_type"), "refresh_token");
    assert_string_equal (svc_str (i, "aud"), c.id);
    json_decref (i);
    json_t *r = svc_ok (svc_h, "token.revoke", body, rt, c.id, c.secret);
    assert_true (svc_bool (r, "revoked"));
    json_decref (r);
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.refresh_families WHERE client_id = '%s' AND revoked_at IS NOT NULL",
            c.id),
        1);
    i = svc_ok (svc_h, "token.introspect", ibody, rt, c.id, c.secret);
    assert_false (svc_bool (i, "active"));
    json_decref (i);
    //  Revoking the family revoked the access token it issued too.
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t, "access_token")),
        "invalid_token");
    json_decref (t);
}

static void
test_subject_revoke_ends_what_the_subject_holds (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "sr",
              ", \"type\": \"confidential\", \"first_party\": true, \"grant_types\": "
              "[\"authorization_code\", \"refresh_token\"],"
              " \"always_refresh\": true");
    char sub[64];
    svc_unique (sub, sizeof sub, "henry");
    json_t *t = s_tokens (&c, sub, NULL);
    json_t *r = svc_ok (svc_h, "token.subject_revoke", "{\"sub\": \"%s\"}", sub);
    assert_int_equal (svc_int (r, "families"), 1);
    assert_true (svc_int (r, "access_tokens") >= 1);
    json_decref (r);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.subject_revocations WHERE sub = '%s'", sub), 1);
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.audit_events WHERE event = 'subject_revoked' AND subject = '%s'",
            sub),
        1);
    assert_string_equal (
        svc_err (svc_h, "token.userinfo", "{\"access_token\": \"%s\"}", svc_str (t, "access_token")),
        "invalid_token");
    char form[512];
    snprintf (form, sizeof form, "\"grant_type\": \"refresh_token\", \"refresh_token\": \"%s\"",
              svc_str (t, "refresh_token"));
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    json_decref (t);
    //  Idempotent; an unknown subject revokes nothing.
    r = svc_ok (svc_h, "token.subject_revoke", "{\"sub\": \"%s\", \"reason\": \"admin_action\"}", sub);
    assert_int_equal (svc_int (r, "families"), 0);
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "token.subject_revoke", NULL), "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.subject_revoke", "{\"sub\": \"\"}"), "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "token.subject_revoke", "{\"sub\": \"x\", \"reason\": \"Bad Reason\"}"),
        "invalid_request");
}

//  --------------------------------------------------------------- the audit trail

//  The events of subject (a new reference): token.audit_list, oldest first.
static json_t *
s_audit (const char *subject)
{
    json_t *a = svc_ok (svc_h, "token.audit_list", "{\"subject\": \"%s\"}", subject);
    json_t *events = json_incref (json_object_get (a, "events"));
    json_decref (a);
    return events;
}

static void
test_audit_list_shows_client_changes_in_the_one_shape (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "audited", NULL);
    json_decref (svc_ok (svc_h, "token.client_rotate_secret", "{\"client_id\": \"%s\"}", c.id));
    json_decref (svc_ok (svc_h, "token.client_remove", "{\"client_id\": \"%s\"}", c.id));
    json_t *events = s_audit (c.id);
    assert_int_equal (json_array_size (events), 3);
    static const char *const names[] = {"client_add", "client_rotate_secret", "client_remove"};
    for (size_t i = 0; i < 3; i++) {
        json_t *ev = json_array_get (events, i);
        assert_string_equal (svc_str (ev, "event"), names[i]);
        assert_string_equal (svc_str (ev, "service"), "token");
        assert_string_equal (svc_str (ev, "actor"), "admin");
        assert_string_equal (svc_str (ev, "client_id"), c.id);
        assert_string_equal (svc_str (ev, "outcome"), "success");
        assert_true (strlen (svc_str (ev, "trace_id")) > 0);
    }
    //  No secret in any of them.
    char *text = json_dumps (events, 0);
    assert_null (strstr (text, c.secret));
    free (text);
    json_decref (events);
    json_t *a =
        svc_ok (svc_h, "token.audit_list", "{\"event\": \"client_remove\", \"last\": true, \"limit\": 1}");
    assert_string_equal (svc_str (a, "events.0.subject"), c.id);
    json_decref (a);
    assert_string_equal (svc_err (svc_h, "token.audit_list", "{\"event\": \"lockout_now\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.audit_list", "{\"limit\": 1001}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.audit_list", "{\"sub\": \"x\"}"), "invalid_request");
}

static void
test_consent_answers_are_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "consent-audit", NULL);
    char rid[128], sub[64];
    svc_unique (sub, sizeof sub, "consenter");
    s_request (&c, NULL, rid, sizeof rid);
    json_decref (s_issue (rid, sub, GRANT_REMEMBER));
    s_request (&c, NULL, rid, sizeof rid);
    json_t *r = s_issue (rid, sub, "{\"granted\": false, \"remember\": false}");
    assert_string_equal (svc_str (r, "redirect.params.error"), "access_denied");
    json_decref (r);
    json_t *events = s_audit (sub);
    assert_int_equal (json_array_size (events), 2);
    json_t *granted = json_array_get (events, 0);
    assert_string_equal (svc_str (granted, "event"), "consent_granted");
    assert_string_equal (svc_str (granted, "actor"), "user");
    assert_string_equal (svc_str (granted, "client_id"), c.id);
    assert_true (svc_bool (granted, "details.remember"));
    assert_true (json_is_array (json_object_get (json_object_get (granted, "details"), "scopes")));
    json_t *denied = json_array_get (events, 1);
    assert_string_equal (svc_str (denied, "event"), "consent_denied");
    assert_string_equal (svc_str (denied, "outcome"), "refused");
    assert_string_equal (svc_str (denied, "client_id"), c.id);
    json_decref (events);
}

static void
test_code_replay_and_revocation_are_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "replay-audit", NULL);
    char code[128], verifier[64], form[512], sub[64];
    svc_unique (sub, sizeof sub, "replayed");
    s_code (&c, sub, NULL, code, verifier);
    snprintf (form, sizeof form,
              "\"grant_type\": \"authorization_code\", \"code\": \"%s\", \"redirect_uri\": \"%s\", "
              "\"code_verifier\": \"%s\"",
              code, c.redirect_uri, verifier);
    json_decref (s_exchange_ok (&c, form));
    assert_string_equal (s_exchange_err (&c, form), "invalid_grant");
    //  The consent the code was issued with, then the replay.
    json_t *events = s_audit (sub);
    assert_int_equal (json_array_size (events), 2);
    assert_string_equal (svc_str (json_array_get (events, 1), "event"), "code_replay");
    assert_string_equal (svc_str (json_array_get (events, 1), "outcome"), "refused");
    assert_string_equal (svc_str (json_array_get (events, 1), "client_id"), c.id);
    json_decref (events);
    //  RFC 7009: the revoked refresh token's subject and client.
    svc_client_t r;
    s_refresh_client (&r);
    char fam[64];
    json_t *t = s_family (&r, fam);
    json_decref (s_revoke (&r, svc_str (t, "refresh_token"), "refresh_token"));
    json_decref (t);
    //  A first-party client: no consent asked, so the revocation alone.
    events = s_audit (fam);
    assert_int_equal (json_array_size (events), 1);
    json_t *ev = json_array_get (events, 0);
    assert_string_equal (svc_str (ev, "event"), "token_revoked");
    assert_string_equal (svc_str (ev, "details.kind"), "refresh_token");
    assert_string_equal (svc_str (ev, "address"), "127.0.0.1");
    assert_string_equal (svc_str (ev, "client_id"), r.id);
    json_decref (events);
}

static void
test_audit_refusals_are_written_as_bus_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char op[64];
    svc_unique (op, sizeof op, "token.client_list-probe");
    json_t *r =
        svc_ok (svc_h, "token.audit_refusals",
                "{\"broker\": \"gw:1\", \"dropped\": 3, \"refusals\": ["
                "{\"role\": \"flow\", \"key\": \"0123456789abcdef\", \"op\": \"%s\", \"count\": 7,"
                " \"first\": 1000, \"last\": 2000},"
                "{\"key\": \"none\", \"op\": \"%s\", \"count\": 1, \"first\": 1500, \"last\": 1500}]}",
                op, op);
    assert_int_equal (svc_int (r, "written"), 2);
    json_decref (r);
    json_t *events = s_audit (op);
    assert_int_equal (json_array_size (events), 2);
    json_t *ev = json_array_get (events, 0);
    assert_string_equal (svc_str (ev, "event"), "bus_refused");
    assert_string_equal (svc_str (ev, "outcome"), "refused");
    assert_string_equal (svc_str (ev, "actor"), "flow:0123456789abcdef");
    assert_int_equal (svc_int (ev, "details.count"), 7);
    assert_int_equal (svc_int (ev, "details.dropped"), 3);
    assert_string_equal (svc_str (ev, "details.broker"), "gw:1");
    assert_string_equal (svc_str (json_array_get (events, 1), "actor"), "none:none");
    json_decref (events);
    assert_string_equal (
        svc_err (svc_h, "token.audit_refusals", "{\"broker\": \"gw\", \"refusals\": [{\"op\": \"x\"}]}"),
        "invalid_request");
    //  Only refusals the broker could not summarise: still recorded, once.
    char broker[64];
    svc_unique (broker, sizeof broker, "gw-dropped");
    r = svc_ok (svc_h, "token.audit_refusals", "{\"broker\": \"%s\", \"dropped\": 4, \"refusals\": []}",
                broker);
    assert_int_equal (svc_int (r, "written"), 1);
    json_decref (r);
    r = svc_ok (svc_h, "token.audit_list", "{\"event\": \"bus_refused\", \"last\": true, \"limit\": 1}");
    ev = json_array_get (json_object_get (r, "events"), 0);
    assert_string_equal (svc_str (ev, "details.broker"), broker);
    assert_int_equal (svc_int (ev, "details.dropped"), 4);
    assert_string_equal (svc_str (ev, "outcome"), "refused");
    assert_true (json_is_null (json_object_get (ev, "subject")));
    json_decref (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_health_reaches_the_database),
        cmocka_unit_test (test_client_add_returns_the_secret_once_and_stores_a_keyed_hash),
        cmocka_unit_test (test_client_add_without_id_generates_one),
        cmocka_unit_test (test_public_client_authenticates_with_none_and_needs_pkce),
        cmocka_unit_test (test_client_add_refuses_bad_fields_with_invalid_request),
        cmocka_unit_test (test_client_list_shows_clients_without_secrets),
        cmocka_unit_test (test_client_get_and_remove_of_unknown_client_is_not_found),
        cmocka_unit_test (test_client_remove_deletes_the_client),
        cmocka_unit_test (test_rotate_secret_replaces_the_old_secret),
        cmocka_unit_test (test_authorize_stores_a_valid_request),
        cmocka_unit_test (test_authorize_without_a_valid_client_or_redirect_uri_is_a_page_error),
        cmocka_unit_test (test_authorize_error_after_validation_redirects_with_state_and_iss),
        cmocka_unit_test (test_request_get_of_unknown_request_is_invalid_request),
        cmocka_unit_test (test_authorize_error_redirects_and_uses_the_request_up),
        cmocka_unit_test (test_authorize_page_errors_before_the_redirect_uri),
        cmocka_unit_test (test_authorize_redirect_uri_may_be_omitted_or_be_the_second_one),
        cmocka_unit_test (test_authorize_errors_redirect_with_error_state_and_iss),
        cmocka_unit_test (test_authorize_error_response_modes_and_state),
        cmocka_unit_test (test_authorize_request_carries_what_the_login_flow_needs),
        cmocka_unit_test (test_authorize_unsigned_request_object),
        cmocka_unit_test (test_authorize_error_redirect_is_exact_and_ends_the_request),
        cmocka_unit_test (test_consent_is_remembered_for_what_was_granted),
        cmocka_unit_test (test_issue_code_answers_and_refusals),
        cmocka_unit_test (test_consent_is_needed_once_for_a_third_party_client_when_remembered),
        cmocka_unit_test (test_issue_code_returns_a_code_once),
        cmocka_unit_test (test_denied_consent_is_access_denied),
        cmocka_unit_test (test_exchange_code_checks_leave_the_code_usable),
        cmocka_unit_test (test_exchange_replay_revokes_only_when_it_passes_the_checks),
        cmocka_unit_test (test_exchange_refuses_codes_it_cannot_redeem),
        cmocka_unit_test (test_exchange_authenticates_the_client_first),
        cmocka_unit_test (test_userinfo_case_by_case),
        cmocka_unit_test (test_code_exchange_issues_tokens_and_consumes_the_code),
        cmocka_unit_test (test_code_replay_is_invalid_grant_and_revokes_the_first_tokens),
        cmocka_unit_test (test_audit_list_shows_client_changes_in_the_one_shape),
        cmocka_unit_test (test_consent_answers_are_audited),
        cmocka_unit_test (test_code_replay_and_revocation_are_audited),
        cmocka_unit_test (test_audit_refusals_are_written_as_bus_refused),
        cmocka_unit_test (test_a_failed_redemption_leaves_the_code_usable),
        cmocka_unit_test (test_exchange_refuses_bad_requests_and_clients),
        cmocka_unit_test (test_refresh_rotates_and_reuse_revokes_the_family),
        cmocka_unit_test (test_refresh_retry_is_not_counted_as_issuance),
        cmocka_unit_test (test_client_credentials_issues_an_access_token_only),
        cmocka_unit_test (test_userinfo_refuses_malformed_and_foreign_tokens),
        cmocka_unit_test (test_introspect_and_revoke_an_access_token),
        cmocka_unit_test (test_introspect_and_revoke_a_refresh_token),
        cmocka_unit_test (test_subject_revoke_ends_what_the_subject_holds),
        cmocka_unit_test (test_revoke_refresh_and_access_tokens),
        cmocka_unit_test (test_revoke_refusals_and_tokens_it_does_not_know),
        cmocka_unit_test (test_introspect_case_by_case),
        cmocka_unit_test (test_disabling_a_client_revokes_its_tokens_for_good),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
