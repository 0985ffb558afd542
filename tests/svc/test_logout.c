/*  Logout in-process (tests/svc/svc_harness.h): token.logout_check (the
 *  end-session request of RP-Initiated Logout 1.0: id_token_hint, client_id,
 *  post_logout_redirect_uri, state), the clients' logout registration, and
 *  flow-svc's session_touch (the clients a session served) and session_end
 *  (the end of a session, audited). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "config.h"
#include "flow-svc/flow_app.h"
#include "flow-svc/flow_janitor.h"
#include "svc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISSUER "http://127.0.0.1:8080"
#define RP "https://rp.example/"
#define PASSWORD "correct horse battery staple"

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    svc_h = svc_harness_new (NULL);
    if (svc_h) {
        json_t *r =
            svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"rp-a\", \"name\": \"App A\", \"redirect_uris\": [\"" RP "a/cb\"],"
                    " \"post_logout_redirect_uris\": [\"" RP "a/bye\", \"" RP "a/bye?x=1\"]}");
        json_decref (r);
        r = svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"rp-bc\", \"name\": \"App BC\", \"redirect_uris\": [\"" RP "bc/cb\"],"
                    " \"backchannel_logout_uri\": \"" RP
                    "bc/logout\", \"backchannel_logout_session_required\": true,"
                    " \"id_token_signed_response_alg\": \"ES256\"}");
        json_decref (r);
        r = svc_ok (svc_h, "token.client_add",
                    "{\"client_id\": \"rp-b\", \"name\": \"App B\", \"redirect_uris\": [\"" RP "b/cb\"],"
                    " \"post_logout_redirect_uris\": [\"" RP "b/bye\"]}");
        json_decref (r);
    }
    return 0;
}

//  --------------------------------------------------------------- helpers

//  An ID token for aud (JSON text) signed by the in-process keys-svc with
//  typ, issued at iat and expiring at exp (caller frees).
static char *
s_token (const char *aud, const char *iss, const char *typ, long iat, long exp)
{
    json_t *r = svc_ok (svc_h, "keys.sign",
                        "{\"claims\": {\"iss\": \"%s\", \"sub\": \"user-1\", \"aud\": %s, \"sid\": \"sid-1\","
                        " \"iat\": %ld, \"exp\": %ld}, \"alg\": \"RS256\", \"typ\": \"%s\"}",
                        iss, aud, iat, exp, typ);
    char *jws = strdup (svc_str (r, "jws"));
    json_decref (r);
    return jws;
}

//  token.logout_check of the parameters params (JSON text of an object).
static json_t *
s_check (const char *params)
{
    json_t *p = json_loads (params, 0, NULL);
    if (!p)
        fail_msg ("not JSON: %s", params);
    json_t *body = json_pack ("{s:o, s:[]}", "params", p, "repeated");
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (svc_h, "token.logout_check", body, &r, &e) != 0)
        fail_msg ("token.logout_check: %s (%s)", e.code, e.description);
    json_decref (body);
    return r;
}

//  The page_error description of a refused request, and its reason
//  (proto/page_errors.def), which the page says.
static void
s_refused (const char *params, const char *why, const char *reason)
{
    json_t *r = s_check (params);
    assert_null (json_object_get (r, "logout"));
    assert_string_equal (svc_str (r, "page_error.error"), "invalid_request");
    const char *description = svc_str (r, "page_error.error_description");
    if (!strstr (description, why))
        fail_msg ("refused with \"%s\", not \"%s\"", description, why);
    assert_string_equal (svc_str (r, "page_error.reason"), reason);
    json_decref (r);
}

//  --------------------------------------------------------------- token.logout_check

static void
test_clients_show_their_logout_registration (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"rp-a\"}");
    assert_int_equal (
        json_array_size (json_object_get (json_object_get (r, "client"), "post_logout_redirect_uris")), 2);
    assert_false (svc_bool (r, "client.backchannel_logout_session_required"));
    json_decref (r);
}

static void
test_registration_refuses_bad_post_logout_uris (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *bad[] = {"\"" RP "x#f\"", "\"relative/path\"", "\"" RP "x\", \"" RP "x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal (
            svc_err (svc_h, "token.client_add",
                     "{\"redirect_uris\": [\"" RP "cb\"], \"post_logout_redirect_uris\": [%s]}", bad[i]),
            "invalid_request");
}

static void
test_expired_hint_names_its_user_session_and_client (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    char *hint = s_token ("\"rp-a\"", ISSUER, "JWT", now - 7200, now - 3600);
    char params[4096];
    snprintf (params, sizeof params,
              "{\"id_token_hint\": \"%s\", \"post_logout_redirect_uri\": \"" RP
              "a/bye?x=1\", \"state\": \"s 1\","
              " \"ui_locales\": \"fr en\", \"logout_hint\": \"alice\"}",
              hint);
    json_t *r = s_check (params);
    assert_null (json_object_get (r, "page_error"));
    assert_string_equal (svc_str (r, "logout.client_id"), "rp-a");
    assert_string_equal (svc_str (r, "logout.client_name"), "App A");
    assert_string_equal (svc_str (r, "logout.sub"), "user-1");
    assert_string_equal (svc_str (r, "logout.sid"), "sid-1");
    assert_string_equal (svc_str (r, "logout.post_logout_redirect_uri"), RP "a/bye?x=1");
    assert_string_equal (svc_str (r, "logout.state"), "s 1");
    assert_string_equal (svc_str (r, "logout.ui_locales"), "fr en");
    assert_string_equal (svc_str (r, "logout.logout_hint"), "alice");
    json_decref (r);
    free (hint);
}

static void
test_state_is_returned_only_with_a_redirect (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = s_check ("{\"client_id\": \"rp-a\", \"state\": \"abc\"}");
    assert_null (json_object_get (json_object_get (r, "logout"), "state"));
    assert_string_equal (svc_str (r, "logout.client_id"), "rp-a");
    json_decref (r);
    r = s_check ("{}");
    assert_int_equal (json_object_size (json_object_get (r, "logout")), 0);
    json_decref (r);
}

static void
test_post_logout_uri_must_be_registered_exactly_for_the_client (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_refused ("{\"client_id\": \"rp-a\", \"post_logout_redirect_uri\": \"" RP "a/bye/\"}", "not registered",
               "post_logout_redirect_uri_unregistered");
    s_refused ("{\"client_id\": \"rp-a\", \"post_logout_redirect_uri\": \"" RP "a/cb\"}", "not registered",
               "post_logout_redirect_uri_unregistered");
    s_refused ("{\"client_id\": \"rp-a\", \"post_logout_redirect_uri\": \"" RP "b/bye\"}", "not registered",
               "post_logout_redirect_uri_unregistered");
    s_refused ("{\"post_logout_redirect_uri\": \"" RP "a/bye\"}", "client_id or id_token_hint",
               "post_logout_redirect_uri_needs_client");
    json_t *r = s_check ("{\"client_id\": \"rp-b\", \"post_logout_redirect_uri\": \"" RP "b/bye\"}");
    assert_string_equal (svc_str (r, "logout.post_logout_redirect_uri"), RP "b/bye");
    json_decref (r);
}

static void
test_hint_of_another_client_unknown_clients_and_bad_hints_are_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    long now = (long)time (NULL);
    char *hint = s_token ("\"rp-b\"", ISSUER, "JWT", now - 10, now + 300);
    char params[4096];
    snprintf (params, sizeof params, "{\"id_token_hint\": \"%s\", \"client_id\": \"rp-a\"}", hint);
    s_refused (params, "audience", "client_id_not_audience");
    s_refused ("{\"client_id\": \"nobody\"}", "unknown client", "unknown_client");
    s_refused ("{\"id_token_hint\": \"abc.def.ghi\"}", "id_token_hint is invalid", "id_token_hint_invalid");
    //  A signature that does not match the claims.
    char forged[2048];
    snprintf (forged, sizeof forged, "%s", hint);
    char *dot = strchr (forged, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    snprintf (params, sizeof params, "{\"id_token_hint\": \"%s\"}", forged);
    s_refused (params, "id_token_hint is invalid", "id_token_hint_invalid");
    free (hint);
    //  An access token is no ID token.
    hint = s_token ("\"rp-a\"", ISSUER, "at+jwt", now - 10, now + 300);
    snprintf (params, sizeof params, "{\"id_token_hint\": \"%s\"}", hint);
    s_refused (params, "id_token_hint is invalid", "id_token_hint_invalid");
    free (hint);
}

static void
test_repeated_parameters_are_refused (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "token.logout_check",
                        "{\"params\": {\"client_id\": \"rp-a\"}, \"repeated\": [\"state\"]}");
    assert_string_equal (svc_str (r, "page_error.error_description"), "a parameter is repeated");
    assert_string_equal (svc_str (r, "page_error.reason"), "parameter_repeated");
    json_decref (r);
    //  A parameter of no meaning here may repeat.
    r = svc_ok (svc_h, "token.logout_check", "{\"params\": {}, \"repeated\": [\"foo\"]}");
    assert_non_null (json_object_get (r, "logout"));
    json_decref (r);
}

//  --------------------------------------------------------------- flow sessions

//  A login of a new user: the result ({session, sid, sub, ...}).
static json_t *
s_login (char *username)
{
    svc_unique (username, 64, "u");
    json_decref (
        svc_ok (svc_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"}", username));
    char rid[64];
    svc_unique (rid, sizeof rid, "req-");
    json_t *flow = svc_ok (svc_h, "flow.start", "{\"request_id\": \"%s\", \"purpose\": \"login\"}", rid);
    json_t *r =
        svc_ok (svc_h, "flow.submit",
                "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"password\", \"input\": {\"username\": "
                "\"%s\", \"password\": \"" PASSWORD "\"}}",
                svc_str (flow, "flow"), svc_str (flow, "csrf"), username);
    json_t *result = json_incref (json_object_get (r, "result"));
    assert_non_null (result);
    json_decref (r);
    json_decref (flow);
    return result;
}

static void
test_session_touch_records_clients_and_last_use (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    json_t *login = s_login (username);
    const char *sid = svc_str (login, "sid");
    json_t *r =
        svc_ok (svc_h, "flow.session_touch",
                "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\", \"client_ip\": "
                "\"198.18.0.1\", \"user_agent\": \"Test/1.0\"}",
                sid);
    assert_true (svc_bool (r, "live"));
    json_decref (r);
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\"}", sid));
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.session_clients WHERE sid = '%s'", sid),
                      1);
    char text[128];
    svc_sql_text (
        svc_h, text, sizeof text,
        "SELECT address || ' ' || user_agent || ' ' || (last_used_at IS NOT NULL) FROM flow.sessions "
        "WHERE sid = '%s'",
        sid);
    assert_string_equal (text, "198.18.0.1 Test/1.0 true");
    //  A sid that is no live session records nothing.
    r = svc_ok (svc_h, "flow.session_touch", "{\"sid\": \"no-such-session-sid-0000\"}");
    assert_false (svc_bool (r, "live"));
    json_decref (r);
    assert_string_equal (
        svc_err (svc_h, "flow.session_touch", "{\"sid\": \"%s\", \"client_id\": \"rp-a\"}", sid),
        "invalid_request");
    json_decref (login);
}

static void
test_session_end_ends_the_session_and_names_its_clients (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    json_t *login = s_login (username);
    const char *sid = svc_str (login, "sid");
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-b\", \"client_name\": \"App B\"}", sid));
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\"}", sid));
    json_t *r = svc_ok (svc_h, "flow.session_end",
                        "{\"session\": \"%s\", \"client_id\": \"rp-a\", \"client_ip\": \"198.18.0.2\"}",
                        svc_str (login, "session"));
    assert_true (svc_bool (r, "ended"));
    assert_string_equal (svc_str (r, "sid"), sid);
    assert_string_equal (svc_str (r, "sub"), svc_str (login, "sub"));
    assert_true (svc_bool (r, "current"));
    json_t *clients = json_object_get (r, "clients");
    assert_int_equal (json_array_size (clients), 2);
    assert_string_equal (json_string_value (json_object_get (json_array_get (clients, 0), "client_id")),
                         "rp-b");
    assert_string_equal (json_string_value (json_object_get (json_array_get (clients, 1), "name")), "App A");
    json_decref (r);
    //  The handle opens nothing any more, and a second end ends nothing.
    r = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (login, "session"));
    assert_true (!json_object_get (r, "session") || json_is_null (json_object_get (r, "session")));
    json_decref (r);
    r = svc_ok (svc_h, "flow.session_end", "{\"session\": \"%s\"}", svc_str (login, "session"));
    assert_false (svc_bool (r, "ended"));
    assert_int_equal (json_array_size (json_object_get (r, "clients")), 0);
    json_decref (r);
    //  Audited once, with the clients the session served.
    r = svc_ok (svc_h, "flow.audit_list", "{\"event\": \"logout\", \"subject\": \"%s\"}",
                svc_str (login, "sub"));
    json_t *events = json_object_get (r, "events");
    assert_int_equal (json_array_size (events), 1);
    json_t *ev = json_array_get (events, 0);
    assert_string_equal (svc_str (ev, "client_id"), "rp-a");
    assert_string_equal (svc_str (ev, "address"), "198.18.0.2");
    assert_string_equal (svc_str (ev, "details.sid"), sid);
    assert_string_equal (svc_str (ev, "details.reason"), "rp_initiated");
    assert_int_equal (json_array_size (json_object_get (json_object_get (ev, "details"), "clients")), 2);
    json_decref (r);
    json_decref (login);
}

static void
test_session_end_of_another_session_of_the_same_user_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char alice[64], bob[64];
    json_t *a = s_login (alice);
    json_t *b = s_login (bob);
    //  bob cannot end alice's session.
    json_t *r =
        svc_ok (svc_h, "flow.session_end", "{\"session\": \"%s\", \"sid\": \"%s\", \"reason\": \"account\"}",
                svc_str (b, "session"), svc_str (a, "sid"));
    assert_false (svc_bool (r, "ended"));
    json_decref (r);
    r = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (a, "session"));
    assert_true (json_is_object (json_object_get (r, "session")));
    json_decref (r);
    //  A malformed handle ends nothing; an unknown reason is refused.
    r = svc_ok (svc_h, "flow.session_end", "{\"session\": \"not-a-handle\"}");
    assert_false (svc_bool (r, "ended"));
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "flow.session_end", "{\"session\": \"%s\", \"reason\": \"whim\"}",
                                  svc_str (a, "session")),
                         "invalid_request");
    json_decref (a);
    json_decref (b);
}

static void
test_session_list_shows_the_users_live_sessions_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char alice[64], bob[64];
    json_t *a = s_login (alice);
    json_t *b = s_login (bob);
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\","
                         " \"client_ip\": \"198.18.0.3\", \"user_agent\": \"UA\"}",
                         svc_str (a, "sid")));
    json_t *r = svc_ok (svc_h, "flow.session_list", "{\"session\": \"%s\"}", svc_str (a, "session"));
    json_t *list = json_object_get (r, "sessions");
    assert_int_equal (json_array_size (list), 1);
    json_t *s = json_array_get (list, 0);
    assert_string_equal (svc_str (s, "sid"), svc_str (a, "sid"));
    assert_true (svc_bool (s, "current"));
    assert_string_equal (svc_str (s, "address"), "198.18.0.3");
    assert_string_equal (svc_str (s, "user_agent"), "UA");
    assert_true (svc_int (s, "last_used_at") > 0);
    assert_int_equal (json_array_size (json_object_get (s, "clients")), 1);
    json_decref (r);
    //  Bob's session has no last use yet; an ended or malformed handle lists nothing.
    r = svc_ok (svc_h, "flow.session_list", "{\"session\": \"%s\"}", svc_str (b, "session"));
    assert_null (json_object_get (json_array_get (json_object_get (r, "sessions"), 0), "last_used_at"));
    json_decref (r);
    json_decref (svc_ok (svc_h, "flow.session_end", "{\"session\": \"%s\"}", svc_str (b, "session")));
    r = svc_ok (svc_h, "flow.session_list", "{\"session\": \"%s\"}", svc_str (b, "session"));
    assert_int_equal (json_array_size (json_object_get (r, "sessions")), 0);
    json_decref (r);
    r = svc_ok (svc_h, "flow.session_list", "{\"session\": \"garbage\"}");
    assert_int_equal (json_array_size (json_object_get (r, "sessions")), 0);
    json_decref (r);
    json_decref (a);
    json_decref (b);
}

//  The JSON of a part (0 header, 1 claims) of a compact JWS.
static json_t *
s_part (const char *jws, int which)
{
    const char *start = jws;
    if (which == 1)
        start = strchr (jws, '.') + 1;
    size_t len = strcspn (start, ".");
    char buf[4096];
    long n = b64url_decode (start, len, buf, sizeof buf - 1);
    assert_true (n > 0);
    buf[n] = '\0';
    json_t *j = json_loads (buf, 0, NULL);
    assert_non_null (j);
    return j;
}

static void
test_logout_tokens_for_the_clients_with_a_uri_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r =
        svc_ok (svc_h, "token.logout_tokens",
                "{\"sub\": \"user-9\", \"sid\": \"sid-9\", \"clients\": [\"rp-a\", \"rp-bc\", \"gone\"]}");
    json_t *tokens = json_object_get (r, "tokens");
    assert_int_equal (json_array_size (tokens), 1);
    json_t *t = json_array_get (tokens, 0);
    assert_string_equal (svc_str (t, "client_id"), "rp-bc");
    assert_string_equal (svc_str (t, "uri"), RP "bc/logout");
    json_t *header = s_part (svc_str (t, "logout_token"), 0);
    json_t *claims = s_part (svc_str (t, "logout_token"), 1);
    assert_string_equal (svc_str (header, "typ"), "logout+jwt");
    assert_string_equal (svc_str (header, "alg"), "ES256");
    assert_string_equal (svc_str (claims, "iss"), ISSUER);
    assert_string_equal (svc_str (claims, "aud"), "rp-bc");
    assert_string_equal (svc_str (claims, "sub"), "user-9");
    assert_string_equal (svc_str (claims, "sid"), "sid-9");
    assert_true (strlen (svc_str (claims, "jti")) >= 16);
    assert_null (json_object_get (claims, "nonce"));
    assert_int_equal (svc_int (claims, "exp") - svc_int (claims, "iat"), 120);
    assert_int_equal (svc_int (claims, "exp"), svc_int (t, "exp"));
    json_t *events = json_object_get (claims, "events");
    assert_int_equal (json_object_size (events), 1);
    assert_true (
        json_is_object (json_object_get (events, "http://schemas.openid.net/event/backchannel-logout")));
    json_decref (header);
    json_decref (claims);
    json_decref (r);
}

static void
test_session_end_queues_the_logout_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    json_t *login = s_login (username);
    const char *sid = svc_str (login, "sid");
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-bc\", \"client_name\": \"App BC\"}", sid));
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\"}", sid));
    long before = svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'");
    json_t *r = svc_ok (svc_h, "flow.session_end", "{\"session\": \"%s\"}", svc_str (login, "session"));
    assert_true (svc_bool (r, "ended"));
    json_decref (r);
    //  One row per client the session served: which of them registered a
    //  backchannel_logout_uri is token-svc's to say when the row is
    //  delivered.
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'"),
                      before + 2);
    r = svc_ok (svc_h, "flow.audit_list", "{\"event\": \"logout\", \"subject\": \"%s\"}",
                svc_str (login, "sub"));
    assert_int_equal (svc_int (json_array_get (json_object_get (r, "events"), 0), "details.backchannel"), 2);
    json_decref (r);
    json_decref (login);
}

//  A password change and a disable end the user's sessions like a logout:
//  the logout of each session's clients is queued with the end.
static void
s_ends_with_backchannel (const char *op, const char *body_fmt)
{
    char username[64];
    json_t *one = s_login (username);
    const char *sid = svc_str (one, "sid");
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-bc\", \"client_name\": \"App BC\"}", sid));
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\"}", sid));
    long before = svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'");
    json_decref (svc_ok (svc_h, op, body_fmt, username));
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'"),
                      before + 2);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM flow.sessions WHERE sid = '%s' AND revoked_at IS NULL",
                      sid),
        0);
    //  Nothing is left to end: a second change queues nothing.
    json_decref (svc_ok (svc_h, op, body_fmt, username));
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'"),
                      before + 2);
    json_decref (one);
}

static void
test_password_change_queues_the_logout_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_ends_with_backchannel ("flow.user_passwd",
                             "{\"username\": \"%s\", \"password\": \"another password 4242\"}");
}

static void
test_disable_queues_the_logout_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    s_ends_with_backchannel ("flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}");
}

//  token.logout_tokens ends the refresh families bound to the session (and
//  their access tokens), never one without session_bound (offline_access)
//  nor one of another session.
static void
test_logout_tokens_revoke_the_session_bound_families (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char sid[64], other[64];
    svc_unique (sid, sizeof sid, "sid-b-");
    svc_unique (other, sizeof other, "sid-o-");
    const char *rows[][2] = {{sid, "true"}, {sid, "false"}, {other, "true"}};
    for (size_t i = 0; i < 3; i++)
        svc_sql_exec (
            svc_h,
            "WITH f AS (INSERT INTO token.refresh_families (client_id, sub, sid, auth_time, amr,"
            " scopes, session_bound) VALUES ('rp-a', 'user-b', '%s', 0, '[\"pwd\"]', '[\"openid\"]',"
            " %s) RETURNING id)"
            " INSERT INTO token.family_jtis (jti, family_id, expires_at)"
            " SELECT 'jti-' || '%s' || '-' || id, id, now() + interval '1 hour' FROM f",
            rows[i][0], rows[i][1], rows[i][0]);
    json_decref (svc_ok (svc_h, "token.logout_tokens",
                         "{\"sub\": \"user-b\", \"sid\": \"%s\", \"clients\": [\"rp-a\"]}", sid));
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.refresh_families WHERE sid = '%s' AND session_bound"
                      " AND revoked_at IS NOT NULL AND revoke_reason = 'session_ended'",
                      sid),
        1);
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.refresh_families WHERE sid = '%s' AND NOT session_bound"
                      " AND revoked_at IS NULL",
                      sid),
        1);
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.refresh_families WHERE sid = '%s' AND revoked_at IS NULL",
                      other),
        1);
    assert_int_equal (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM token.revoked_jtis j JOIN token.family_jtis f USING (jti)"
                      " JOIN token.refresh_families r ON r.id = f.family_id WHERE r.sid = '%s'",
                      sid),
        1);
}

//  --------------------------------------------------------------- front-channel logout

//  Front-Channel Logout 1.0 §2: frontchannel_logout_uri is an absolute
//  http(s) URI without fragment; frontchannel_logout_session_required only
//  with one; both shown by client_get.
static void
test_frontchannel_registration (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *bad[] = {RP "fc#x", "ftp://rp.example/fc", "com.example.app:/fc", "relative/fc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal (
            svc_err (svc_h, "token.client_add",
                     "{\"redirect_uris\": [\"" RP "cb\"], \"frontchannel_logout_uri\": \"%s\"}", bad[i]),
            "invalid_request");
    assert_string_equal (svc_err (svc_h, "token.client_add",
                                  "{\"redirect_uris\": [\"" RP
                                  "cb\"], \"frontchannel_logout_session_required\": true}"),
                         "invalid_request");
    char id[64];
    svc_unique (id, sizeof id, "rp-fc-");
    json_decref (svc_ok (svc_h, "token.client_add",
                         "{\"client_id\": \"%s\", \"redirect_uris\": [\"" RP
                         "cb\"], \"frontchannel_logout_uri\":"
                         " \"" RP "fc?x=1\", \"frontchannel_logout_session_required\": true}",
                         id));
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", id);
    assert_string_equal (svc_str (r, "client.frontchannel_logout_uri"), RP "fc?x=1");
    assert_true (svc_bool (r, "client.frontchannel_logout_session_required"));
    json_decref (r);
    r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"rp-a\"}");
    assert_null (json_object_get (json_object_get (r, "client"), "frontchannel_logout_uri"));
    assert_false (svc_bool (r, "client.frontchannel_logout_session_required"));
    json_decref (r);
}

//  §3: one frame per client of the session with a frontchannel_logout_uri,
//  in the session's order; iss and sid form-encoded into the query of a
//  client that asked for them, the URI as registered otherwise.
static void
test_frontchannel_frames_for_the_clients_with_a_uri_only (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char with_sid[64], plain[64];
    svc_unique (with_sid, sizeof with_sid, "rp-fcs-");
    svc_unique (plain, sizeof plain, "rp-fcp-");
    json_decref (svc_ok (svc_h, "token.client_add",
                         "{\"client_id\": \"%s\", \"redirect_uris\": [\"" RP
                         "cb\"], \"frontchannel_logout_uri\":"
                         " \"" RP "fc?x=1\", \"frontchannel_logout_session_required\": true}",
                         with_sid));
    json_decref (svc_ok (svc_h, "token.client_add",
                         "{\"client_id\": \"%s\", \"redirect_uris\": [\"" RP
                         "cb\"], \"frontchannel_logout_uri\":"
                         " \"https://other.example/fc\"}",
                         plain));
    json_t *r =
        svc_ok (svc_h, "token.frontchannel_frames",
                "{\"sid\": \"sid-7+/\", \"clients\": [\"%s\", \"rp-a\", \"gone\", \"%s\"]}", plain, with_sid);
    json_t *frames = json_object_get (r, "frames");
    assert_int_equal (json_array_size (frames), 2);
    assert_string_equal (svc_str (json_array_get (frames, 0), "client_id"), plain);
    assert_string_equal (svc_str (json_array_get (frames, 0), "uri"), "https://other.example/fc");
    assert_string_equal (svc_str (json_array_get (frames, 1), "client_id"), with_sid);
    assert_string_equal (svc_str (json_array_get (frames, 1), "uri"),
                         RP "fc?x=1&iss=http%3A%2F%2F127.0.0.1%3A8080&sid=sid-7%2B%2F");
    json_decref (r);
}

//  --------------------------------------------------------------- expiry

//  One round of a flow janitor of its own (the harness's runs once a day),
//  sealing with a key of its own: these rows are counted, never delivered.
static void
s_janitor_round (void)
{
    config_t *cfg = config_new ();
    assert_non_null (cfg);
    const char *why = NULL;
    assert_int_equal (config_set (cfg, "OSTIARY_DB", getenv ("OSTIARY_TEST_DB"), &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_JANITOR_INTERVAL", "86400", &why), 0);
    assert_int_equal (config_set (cfg, "OSTIARY_JANITOR_BATCH", "2", &why), 0);
    flow_app_t app;
    memset (&app, 0, sizeof app);
    memset (app.flow_key, 0x5a, sizeof app.flow_key);
    flow_janitor_t *janitor = flow_janitor_new (cfg, &app);
    assert_non_null (janitor);
    //  Its first round starts at once; the next one would be a day later.
    for (int i = 0; i < 1200 && flow_janitor_rounds (janitor) < 1; i++)
        usleep (50000);
    long rounds = flow_janitor_rounds (janitor);
    flow_janitor_destroy (&janitor);
    config_destroy (&cfg);
    assert_int_equal (rounds, 1);
}

static long
s_backchannel_rows (void)
{
    return svc_sql_long (svc_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'");
}

//  Back-Channel Logout 1.0 §2.5 for a session that ends on its own: the
//  janitor queues the logout of every client it served, once, however
//  many rounds follow; and the session is no longer live for a touch.
static void
test_expired_session_tells_its_clients_once (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    //  More sessions than one batch of the janitor (2): every one is told.
    json_t *logins[3];
    for (int i = 0; i < 3; i++) {
        logins[i] = s_login (username);
        const char *sid = svc_str (logins[i], "sid");
        json_decref (svc_ok (svc_h, "flow.session_touch",
                             "{\"sid\": \"%s\", \"client_id\": \"rp-bc\", \"client_name\": \"App BC\"}",
                             sid));
        json_decref (svc_ok (svc_h, "flow.session_touch",
                             "{\"sid\": \"%s\", \"client_id\": \"rp-a\", \"client_name\": \"App A\"}", sid));
        svc_sql_exec (
            svc_h, "UPDATE flow.sessions SET expires_at = now() - interval '1 second' WHERE sid = '%s'", sid);
    }
    long before = s_backchannel_rows ();
    s_janitor_round ();
    assert_int_equal (s_backchannel_rows (), before + 6);
    for (int i = 0; i < 3; i++) {
        const char *sid = svc_str (logins[i], "sid");
        assert_int_equal (
            svc_sql_long (
                svc_h, "SELECT count(*) FROM flow.sessions WHERE sid = '%s' AND logout_queued_at IS NOT NULL",
                sid),
            1);
        //  Past its end nothing records a client for it any more.
        json_t *r = svc_ok (svc_h, "flow.session_touch",
                            "{\"sid\": \"%s\", \"client_id\": \"rp-b\", \"client_name\": \"App B\"}", sid);
        assert_false (svc_bool (r, "live"));
        json_decref (r);
    }
    //  A second round finds nothing left to tell.
    s_janitor_round ();
    assert_int_equal (s_backchannel_rows (), before + 6);
    for (int i = 0; i < 3; i++)
        json_decref (logins[i]);
}

//  A session that was ended (and its clients told then) says nothing more
//  when its time runs out; nor does one a new login replaced.
static void
test_ended_session_is_not_told_again_when_it_expires (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    json_t *login = s_login (username);
    const char *sid = svc_str (login, "sid");
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-bc\", \"client_name\": \"App BC\"}", sid));
    long before = s_backchannel_rows ();
    json_decref (svc_ok (svc_h, "flow.session_end", "{\"session\": \"%s\"}", svc_str (login, "session")));
    assert_int_equal (s_backchannel_rows (), before + 1);
    svc_sql_exec (svc_h, "UPDATE flow.sessions SET expires_at = now() - interval '1 second' WHERE sid = '%s'",
                  sid);
    s_janitor_round ();
    assert_int_equal (s_backchannel_rows (), before + 1);
    json_decref (login);
}

//  A password change revokes live sessions only: one that had expired
//  untold is left for the janitor, which tells its clients it expired.
static void
test_password_change_leaves_an_expired_session_to_the_janitor (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    json_t *login = s_login (username);
    const char *sid = svc_str (login, "sid");
    json_decref (svc_ok (svc_h, "flow.session_touch",
                         "{\"sid\": \"%s\", \"client_id\": \"rp-bc\", \"client_name\": \"App BC\"}", sid));
    svc_sql_exec (svc_h, "UPDATE flow.sessions SET expires_at = now() - interval '1 second' WHERE sid = '%s'",
                  sid);
    long before = s_backchannel_rows ();
    json_decref (svc_ok (svc_h, "flow.user_passwd",
                         "{\"username\": \"%s\", \"password\": \"another password 4242\"}", username));
    assert_int_equal (s_backchannel_rows (), before);
    s_janitor_round ();
    assert_int_equal (s_backchannel_rows (), before + 1);
    json_decref (login);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_clients_show_their_logout_registration),
        cmocka_unit_test (test_registration_refuses_bad_post_logout_uris),
        cmocka_unit_test (test_expired_hint_names_its_user_session_and_client),
        cmocka_unit_test (test_state_is_returned_only_with_a_redirect),
        cmocka_unit_test (test_post_logout_uri_must_be_registered_exactly_for_the_client),
        cmocka_unit_test (test_hint_of_another_client_unknown_clients_and_bad_hints_are_refused),
        cmocka_unit_test (test_repeated_parameters_are_refused),
        cmocka_unit_test (test_session_touch_records_clients_and_last_use),
        cmocka_unit_test (test_session_end_ends_the_session_and_names_its_clients),
        cmocka_unit_test (test_session_end_of_another_session_of_the_same_user_only),
        cmocka_unit_test (test_session_list_shows_the_users_live_sessions_only),
        cmocka_unit_test (test_logout_tokens_for_the_clients_with_a_uri_only),
        cmocka_unit_test (test_session_end_queues_the_logout_tokens),
        cmocka_unit_test (test_password_change_queues_the_logout_tokens),
        cmocka_unit_test (test_disable_queues_the_logout_tokens),
        cmocka_unit_test (test_logout_tokens_revoke_the_session_bound_families),
        cmocka_unit_test (test_frontchannel_registration),
        cmocka_unit_test (test_frontchannel_frames_for_the_clients_with_a_uri_only),
        cmocka_unit_test (test_expired_session_tells_its_clients_once),
        cmocka_unit_test (test_ended_session_is_not_told_again_when_it_expires),
        cmocka_unit_test (test_password_change_leaves_an_expired_session_to_the_janitor),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
