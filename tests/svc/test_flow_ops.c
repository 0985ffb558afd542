/*  flow-svc's ops in-process (tests/svc/svc_harness.h), over the bus with
 *  JSON bodies as the gateway and ostiaryctl send them: users, sessions and
 *  claims, the login flow of flows/login.json through flow.start, flow.get
 *  and flow.submit, action tokens, runtime settings, unlock and the audit
 *  list. Each op: its answer, its refusals, and the rows it writes.
 *  flow.user_disable reaches the in-process token-svc (token.subject_revoke). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"
#include "secure.h"
#include "svc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASSWORD "correct horse battery staple"
#define CLIENT_IP "198.18.0.7"

//  --------------------------------------------------------------- helpers

//  A new user with PASSWORD and the extra members (leading comma); its
//  username and sub.
static void
s_user (char *username, char *sub, const char *extra)
{
    svc_unique (username, 64, "u");
    json_t *r = svc_ok (svc_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"%s}",
                        username, extra ? extra : "");
    assert_string_equal (svc_str (r, "user.username"), username);
    if (sub)
        snprintf (sub, 64, "%s", svc_str (r, "user.sub"));
    json_decref (r);
}

//  flow.start of the login flow; the state (with "flow").
static json_t *
s_start (const char *extra)
{
    char rid[64];
    svc_unique (rid, sizeof rid, "req-");
    return svc_ok (svc_h, "flow.start",
                   "{\"request_id\": \"%s\", \"purpose\": \"login\", \"client_ip\": \"" CLIENT_IP "\"%s}",
                   rid, extra ? extra : "");
}

static int
s_submit (const json_t *flow, const char *csrf, const char *username, const char *password, json_t **result,
          bus_error_t *error)
{
    return svc_call (
        svc_h, "flow.submit", result, error,
        "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"password\", \"input\": {\"username\": \"%s\","
        " \"password\": \"%s\"}, \"client_ip\": \"" CLIENT_IP "\"}",
        svc_str (flow, "flow"), csrf ? csrf : svc_str (flow, "csrf"), username, password);
}

//  A successful login of username: the final state (with "result").
static json_t *
s_login (const char *username)
{
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    if (s_submit (flow, NULL, username, PASSWORD, &r, &e) != 0)
        fail_msg ("flow.submit: %s (%s)", e.code, e.description);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    json_decref (flow);
    return r;
}

//  --------------------------------------------------------------- registration

//  A sign-up form refused for a weak password and a mismatched confirmation
//  says both at once, each at its field.
static void
test_registration_reports_a_weak_password_and_a_mismatch_together (void **state)
{
    OST_UNUSED (state);
    char username[64];
    svc_unique (username, sizeof username, "reg");
    json_t *flow =
        svc_ok (svc_h, "flow.start", "{\"flow\": \"registration\", \"client_ip\": \"" CLIENT_IP "\"}");
    json_t *r =
        svc_ok (svc_h, "flow.submit",
                "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"register\", \"input\": {\"username\": "
                "\"%s\", \"email\": \"%s@example.org\", \"password\": \"short\", \"password_confirm\": "
                "\"different\"}, \"client_ip\": \"" CLIENT_IP "\"}",
                svc_str (flow, "flow"), svc_str (flow, "csrf"), username, username);
    assert_string_equal (svc_str (r, "status"), "running");
    assert_string_equal (svc_str (r, "step.field_errors.password"), "weak_password");
    assert_string_equal (svc_str (r, "step.field_errors.password_confirm"), "mismatch");
    json_decref (r);
    json_decref (flow);
}

//  --------------------------------------------------------------- users

static void
test_health_reaches_the_database (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *r = svc_ok (svc_h, "flow.health", NULL);
    assert_string_equal (svc_str (r, "status"), "ok");
    json_decref (r);
}

static void
test_user_add_stores_a_random_sub_and_an_argon2id_hash (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub,
            ", \"email\": \"alice@example.org\", \"email_verified\": true, \"given_name\": \"Alice\"");
    assert_true (strlen (sub) >= 22);
    assert_null (strstr (sub, username));
    json_t *r = svc_ok (svc_h, "flow.user_get", "{\"username\": \"%s\"}", username);
    assert_string_equal (svc_str (r, "user.email"), "alice@example.org");
    assert_true (svc_bool (r, "user.email_verified"));
    assert_true (svc_bool (r, "user.has_password"));
    assert_false (svc_bool (r, "user.disabled"));
    //  A member not set is absent, never null or "".
    assert_null (json_object_get (json_object_get (r, "user"), "family_name"));
    char *text = json_dumps (r, JSON_COMPACT);
    assert_null (strstr (text, "argon2"));
    assert_null (strstr (text, PASSWORD));
    free (text);
    json_decref (r);
    //  The harness's cheap cost (config.def's minimum), never the password.
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM flow.users WHERE sub = '%s'"
                                    " AND password_hash LIKE '$argon2id$v=19$m=7168,t=1,p=1$%%'"
                                    " AND position('" PASSWORD "' in password_hash) = 0",
                                    sub),
                      1);
}

static void
test_user_add_refuses_bad_fields_and_duplicates (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], upper[64];
    s_user (username, NULL, NULL);
    for (size_t i = 0; username[i]; i++)
        upper[i] = (char)(username[i] >= 'a' && username[i] <= 'z' ? username[i] - 32 : username[i]);
    upper[strlen (username)] = '\0';
    //  Usernames are case-insensitive.
    assert_string_equal (
        svc_err (svc_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"}", upper),
        "invalid_request");
    const char *bad[] = {
        "\"username\": \"\", \"password\": \"" PASSWORD "\"",
        "\"username\": \"-dash\", \"password\": \"" PASSWORD "\"",
        "\"username\": \"has space\", \"password\": \"" PASSWORD "\"",
        "\"username\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\", \"password\": "
        "\"" PASSWORD "\"",
        "\"username\": \"okbad1\", \"password\": \"short\"",
        "\"username\": \"okbad2\", \"password\": 12345678",
        "\"username\": \"okbad3\", \"password\": \"" PASSWORD "\", \"email\": \"not-an-email\"",
        "\"username\": \"okbad4\", \"password\": \"" PASSWORD "\", \"email_verified\": \"yes\"",
        "\"username\": \"okbad5\", \"password\": \"" PASSWORD "\", \"name\": \"line\\nbreak\"",
        "\"username\": \"okbad6\", \"password\": \"" PASSWORD "\", \"picture\": \"javascript:alert(1)\"",
        "\"username\": \"okbad7\", \"password\": \"" PASSWORD "\", \"birthdate\": \"1990-13-01\"",
        "\"username\": \"okbad8\", \"password\": \"" PASSWORD "\", \"address\": {\"planet\": \"Mars\"}",
        "\"username\": \"okbad9\", \"password\": \"" PASSWORD "\", \"address\": \"street\"",
        "\"username\": \"okbad10\", \"password\": \"" PASSWORD "\", \"password_hash\": \"$argon2id$...\"",
        "\"username\": \"okbad11\", \"password\": \"" PASSWORD "\", \"sub\": \"chosen\"",
        "\"password\": \"" PASSWORD "\"",
    };
    long before = svc_sql_long (svc_h, "SELECT count(*) FROM flow.users");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = svc_err (svc_h, "flow.user_add", "{%s}", bad[i]);
        if (strcmp (code, "invalid_request") != 0)
            fail_msg ("%s: %s", bad[i], code);
    }
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.users"), before);
}

static void
test_user_get_by_username_or_sub (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *a = svc_ok (svc_h, "flow.user_get", "{\"username\": \"%s\"}", username);
    json_t *b = svc_ok (svc_h, "flow.user_get", "{\"sub\": \"%s\"}", sub);
    assert_true (json_equal (a, b));
    json_decref (a);
    json_decref (b);
    assert_string_equal (svc_err (svc_h, "flow.user_get", "{\"username\": \"nobody-here\"}"), "not_found");
    assert_string_equal (svc_err (svc_h, "flow.user_get", "{\"sub\": \"AAAAAAAAAAAAAAAAAAAAAA\"}"),
                         "not_found");
    assert_string_equal (svc_err (svc_h, "flow.user_get", NULL), "invalid_request");
}

static void
test_user_list_pages (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    for (int i = 0; i < 3; i++)
        s_user (username, NULL, NULL);
    json_t *first = svc_ok (svc_h, "flow.user_list", "{\"limit\": 2}");
    assert_int_equal (json_array_size (json_object_get (first, "users")), 2);
    json_t *second =
        svc_ok (svc_h, "flow.user_list", "{\"limit\": 2, \"after\": \"%s\"}", svc_str (first, "next"));
    assert_true (strcmp (svc_str (second, "users.0.username"), svc_str (first, "users.1.username")) > 0);
    json_decref (first);
    json_decref (second);
    json_t *all = svc_ok (svc_h, "flow.user_list", NULL);
    assert_int_equal ((long)json_array_size (json_object_get (all, "users")),
                      svc_sql_long (svc_h, "SELECT least(count(*), 100) FROM flow.users"));
    char *text = json_dumps (all, JSON_COMPACT);
    assert_null (strstr (text, "argon2"));
    free (text);
    json_decref (all);
}

static void
test_user_passwd_changes_the_hash_and_revokes_sessions (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64], before[256], after[256];
    s_user (username, sub, NULL);
    json_t *login = s_login (username);
    svc_sql_text (svc_h, before, sizeof before, "SELECT password_hash FROM flow.users WHERE sub = '%s'", sub);
    assert_string_equal (
        svc_err (svc_h, "flow.user_passwd", "{\"username\": \"%s\", \"password\": \"1234567\"}", username),
        "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.user_passwd",
                                  "{\"username\": \"nobody-here\", \"password\": \"" PASSWORD "\"}"),
                         "not_found");
    json_t *r = svc_ok (svc_h, "flow.user_passwd",
                        "{\"username\": \"%s\", \"password\": \"another good password\"}", username);
    assert_true (svc_bool (r, "updated"));
    json_decref (r);
    svc_sql_text (svc_h, after, sizeof after, "SELECT password_hash FROM flow.users WHERE sub = '%s'", sub);
    assert_string_not_equal (before, after);
    r = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (login, "result.session"));
    assert_true (json_is_null (json_object_get (r, "session")));
    json_decref (r);
    json_decref (login);
    //  The old password no longer logs in.
    json_t *flow = s_start (NULL);
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), 0);
    assert_string_equal (svc_str (r, "step.error"), "login_failed");
    json_decref (r);
    json_decref (flow);
}

static void
test_user_disable_ends_sessions_claims_and_tokens (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *login = s_login (username);
    assert_string_equal (
        svc_err (svc_h, "flow.user_disable", "{\"username\": \"nobody-here\", \"disabled\": true}"),
        "not_found");
    assert_string_equal (svc_err (svc_h, "flow.user_disable", "{\"username\": \"%s\"}", username),
                         "invalid_request");
    json_t *r = svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}", username);
    assert_true (svc_bool (r, "updated"));
    //  What token.subject_revoke revoked.
    assert_int_equal (svc_int (r, "families"), 0);
    assert_int_equal (svc_int (r, "access_tokens"), 0);
    json_decref (r);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM flow.users WHERE sub = '%s' AND disabled", sub), 1);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM token.subject_revocations WHERE sub = '%s'", sub), 1);
    r = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (login, "result.session"));
    assert_true (json_is_null (json_object_get (r, "session")));
    json_decref (r);
    json_decref (login);
    assert_string_equal (
        svc_err (svc_h, "flow.user_claims", "{\"sub\": \"%s\", \"scopes\": [\"openid\"]}", sub), "not_found");
    //  And back.
    r = svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": false}", username);
    assert_true (svc_bool (r, "updated"));
    json_decref (r);
    json_decref (s_login (username));
}

static void
test_user_claims_by_scope (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub,
            ", \"email\": \"alice@example.org\", \"email_verified\": true, \"given_name\": \"Alice\","
            " \"phone_number\": \"+44 1865 000000\", \"address\": {\"locality\": \"Oxford\"}");
    json_t *r = svc_ok (svc_h, "flow.user_claims", "{\"sub\": \"%s\", \"scopes\": [\"openid\"]}", sub);
    assert_int_equal (json_object_size (json_object_get (r, "claims")), 1);
    assert_string_equal (svc_str (r, "claims.sub"), sub);
    json_decref (r);
    r = svc_ok (svc_h, "flow.user_claims", "{\"sub\": \"%s\", \"scopes\": [\"openid\", \"profile\"]}", sub);
    assert_string_equal (svc_str (r, "claims.given_name"), "Alice");
    assert_string_equal (svc_str (r, "claims.preferred_username"), username);
    assert_null (json_object_get (json_object_get (r, "claims"), "email"));
    assert_null (json_object_get (json_object_get (r, "claims"), "family_name"));
    json_decref (r);
    r = svc_ok (svc_h, "flow.user_claims",
                "{\"sub\": \"%s\", \"scopes\": [\"openid\", \"email\", \"phone\", \"address\"]}", sub);
    assert_string_equal (svc_str (r, "claims.email"), "alice@example.org");
    assert_true (svc_bool (r, "claims.email_verified"));
    assert_false (svc_bool (r, "claims.phone_number_verified"));
    assert_string_equal (svc_str (r, "claims.address.locality"), "Oxford");
    assert_null (json_object_get (json_object_get (r, "claims"), "given_name"));
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "flow.user_claims",
                                  "{\"sub\": \"AAAAAAAAAAAAAAAAAAAAAA\", \"scopes\": [\"openid\"]}"),
                         "not_found");
    assert_string_equal (svc_err (svc_h, "flow.user_claims", "{\"scopes\": [\"openid\"]}"),
                         "invalid_request");
}

//  --------------------------------------------------------------- the login flow

static void
test_flow_start_returns_handle_csrf_and_expiry (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *s = s_start (", \"login_hint\": \"alice\"");
    assert_int_equal (strlen (svc_str (s, "flow")), 43);
    assert_int_equal (strlen (svc_str (s, "csrf")), 43);
    assert_string_not_equal (svc_str (s, "flow"), svc_str (s, "csrf"));
    long left = (long)svc_int (s, "expires_at") - (long)time (NULL);
    assert_true (left > 0 && left <= 900 + 5);
    assert_string_equal (svc_str (s, "status"), "running");
    assert_string_equal (svc_str (s, "step.type"), "password");
    //  The handle is stored only as a hash.
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM flow.executions WHERE handle_hash = "
                                    "sha256(decode(translate('%s', '-_', '+/') || '=', 'base64'))",
                                    svc_str (s, "flow")),
                      1);
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (s, "flow"));
    assert_string_equal (svc_str (g, "csrf"), svc_str (s, "csrf"));
    assert_string_equal (svc_str (g, "login_hint"), "alice");
    assert_string_equal (svc_str (g, "purpose"), "login");
    assert_true (json_is_null (json_object_get (g, "session")));
    assert_null (json_object_get (g, "flow"));
    assert_null (json_object_get (g, "result"));
    json_decref (g);
    json_decref (s);
}

//  The language of the pages and emails (a catalogue of
//  OSTIARY_LOCALES_DIR) is kept for the whole execution; a tag no
//  catalogue serves is English, said by no locale at all.
static void
test_flow_start_keeps_the_locale_of_a_catalogue (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *s = s_start (", \"locale\": \"fr\"");
    assert_string_equal (svc_str (s, "locale"), "fr");
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (s, "flow"));
    assert_string_equal (svc_str (g, "locale"), "fr");
    json_decref (g);
    json_decref (s);
    s = s_start (", \"locale\": \"xx\"");
    assert_null (json_object_get (s, "locale"));
    json_decref (s);
    s = s_start ("");
    assert_null (json_object_get (s, "locale"));
    json_decref (s);
}

static void
test_flow_start_refuses_bad_arguments (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  Unknown flow; a login flow without request_id; another flow with one;
    //  members of the wrong type.
    assert_string_equal (svc_err (svc_h, "flow.start", "{\"flow\": \"no-such-flow\", \"request_id\": \"r\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.start", "{\"flow\": \"login\"}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.start", "{\"flow\": \"registration\", \"request_id\": \"r\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.start", "{\"request_id\": 5}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.start", "{\"request_id\": \"r\", \"client_ip\": 5}"),
                         "invalid_request");
    //  A flow that needs a session gets none live.
    assert_string_equal (
        svc_err (
            svc_h, "flow.start",
            "{\"flow\": \"verify-email\", \"session\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
        "login_required");
}

static void
test_login_creates_a_session_and_returns_its_handle_once (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    double logins = metrics_get (METRIC_LOGINS_SUCCEEDED, NULL);
    //  Usernames are case-insensitive at login too.
    username[0] = (char)(username[0] - 32);
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    assert_true (metrics_get (METRIC_LOGINS_SUCCEEDED, NULL) == logins + 1);
    assert_string_equal (svc_str (r, "step.type"), "done");
    assert_string_equal (svc_str (r, "result.sub"), sub);
    assert_string_equal (svc_str (r, "result.amr.0"), "pwd");
    const char *handle = svc_str (r, "result.session");
    assert_int_equal (strlen (handle), 43);
    assert_string_not_equal (svc_str (r, "result.sid"), handle);
    assert_int_equal (svc_int (r, "result.expires_at") - svc_int (r, "result.auth_time"), 28800);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM flow.sessions WHERE sid = '%s' AND handle_hash = "
                                    "sha256(decode(translate('%s', '-_', '+/') || '=', 'base64'))",
                                    svc_str (r, "result.sid"), handle),
                      1);
    json_t *s = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", handle);
    assert_string_equal (svc_str (s, "session.sub"), sub);
    assert_string_equal (svc_str (s, "session.sid"), svc_str (r, "result.sid"));
    json_decref (s);
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_string_equal (svc_str (g, "status"), "succeeded");
    assert_null (json_object_get (g, "result"));
    char *text = json_dumps (g, JSON_COMPACT);
    assert_null (strstr (text, handle));
    free (text);
    json_decref (g);
    //  A flow completes once.
    json_t *again = NULL;
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &again, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    json_decref (r);
    json_decref (flow);
    //  An unknown session is null.
    s = svc_ok (svc_h, "flow.session_get", "{\"session\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    assert_true (json_is_null (json_object_get (s, "session")));
    json_decref (s);
}

static void
test_wrong_password_unknown_and_disabled_user_fail_alike (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], disabled[64];
    s_user (username, NULL, NULL);
    s_user (disabled, NULL, NULL);
    json_decref (svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}", disabled));
    const char *cases[][2] = {{username, "wrong password"}, {"nobody-here", PASSWORD}, {disabled, PASSWORD}};
    //  The metrics cannot tell them apart either.
    const char *const reason[] = {"login_failed"};
    double failures = metrics_get (METRIC_LOGINS_FAILED, reason);
    double logins = metrics_get (METRIC_LOGINS_SUCCEEDED, NULL);
    for (size_t i = 0; i < 3; i++) {
        json_t *flow = s_start (NULL);
        json_t *r = NULL;
        bus_error_t e;
        assert_int_equal (s_submit (flow, NULL, cases[i][0], cases[i][1], &r, &e), 0);
        assert_string_equal (svc_str (r, "status"), "running");
        assert_string_equal (svc_str (r, "node"), "password");
        assert_string_equal (svc_str (r, "step.error"), "login_failed");
        assert_int_equal (svc_int (r, "step.attempts_left"), 4);
        assert_null (json_object_get (r, "result"));
        json_decref (r);
        json_decref (flow);
        assert_true (metrics_get (METRIC_LOGINS_FAILED, reason) == failures + (double)i + 1);
    }
    assert_true (metrics_get (METRIC_LOGINS_SUCCEEDED, NULL) == logins);
}

static void
test_flow_refuses_bad_csrf_unknown_handles_and_stale_nodes (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", "y", &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    //  It counted as an attempt.
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_int_equal (svc_int (g, "attempts"), 1);
    json_decref (g);
    assert_int_equal (svc_call (svc_h, "flow.submit", &r, &e,
                                "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"totp\", \"input\": {}}",
                                svc_str (flow, "flow"), svc_str (flow, "csrf")),
                      -1);
    assert_string_equal (e.code, "invalid_flow");
    assert_string_equal (
        svc_err (svc_h, "flow.get", "{\"flow\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
        "invalid_flow");
    assert_string_equal (svc_err (svc_h, "flow.get", "{\"flow\": \"not a handle\"}"), "invalid_flow");
    assert_string_equal (svc_err (svc_h, "flow.submit",
                                  "{\"flow\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"csrf\": "
                                  "\"x\", \"node\": \"password\", \"input\": {}}"),
                         "invalid_flow");
    //  input must be an object of strings.
    assert_string_equal (
        svc_err (svc_h, "flow.submit",
                 "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"password\", \"input\": {\"username\": 5}}",
                 svc_str (flow, "flow"), svc_str (flow, "csrf")),
        "invalid_request");
    json_decref (flow);
}

static void
test_attempts_are_limited_per_execution (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    //  OSTIARY_LOGIN_MAX_ATTEMPTS (5): the last wrong one fails the execution.
    for (int i = 0; i < 5; i++) {
        assert_int_equal (s_submit (flow, NULL, username, "wrong password", &r, &e), 0);
        json_decref (r);
    }
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_string_equal (svc_str (g, "status"), "failed");
    json_decref (g);
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    json_decref (flow);
}

//  --------------------------------------------------------------- the login flow, in detail

#define HANDLE_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void
test_flow_get_reports_the_execution (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *s = svc_ok (svc_h, "flow.start",
                        "{\"request_id\": \"req-get-1\", \"purpose\": \"select_account\", \"login_hint\": "
                        "\"alice@example.org\","
                        " \"client_ip\": \"" CLIENT_IP "\"}");
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (s, "flow"));
    assert_string_equal (svc_str (g, "request_id"), "req-get-1");
    assert_string_equal (svc_str (g, "csrf"), svc_str (s, "csrf"));
    assert_string_equal (svc_str (g, "purpose"), "select_account");
    assert_string_equal (svc_str (g, "login_hint"), "alice@example.org");
    assert_string_equal (svc_str (g, "status"), "running");
    assert_true (json_is_null (json_object_get (g, "session")));
    assert_null (json_object_get (g, "flow"));
    assert_null (json_object_get (g, "result"));
    json_decref (g);
    json_decref (s);
}

static void
test_login_session_object_is_what_the_result_said (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *r = s_login (username);
    long now = (long)time (NULL);
    assert_true (labs ((long)svc_int (r, "result.auth_time") - now) < 60);
    assert_int_equal (json_array_size (json_object_get (json_object_get (r, "result"), "amr")), 1);
    json_t *s = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (r, "result.session"));
    json_t *expected =
        json_pack ("{s:s, s:s, s:s, s:I, s:[s], s:I}", "sid", svc_str (r, "result.sid"), "sub", sub,
                   "username", username, "auth_time", (json_int_t)svc_int (r, "result.auth_time"), "amr",
                   "pwd", "expires_at", (json_int_t)svc_int (r, "result.expires_at"));
    assert_true (json_equal (json_object_get (s, "session"), expected));
    json_decref (expected);
    json_decref (s);
    json_decref (r);
}

//  The answer to a refused password, without the execution's own handles and times.
static char *
s_refusal_shape (const char *username, const char *password)
{
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, password, &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "running");
    assert_string_equal (svc_str (r, "node"), "password");
    assert_string_equal (svc_str (r, "step.error"), "login_failed");
    assert_null (json_object_get (r, "result"));
    json_object_del (r, "csrf");
    json_object_del (r, "expires_at");
    json_object_del (r, "request_id");
    char *text = json_dumps (r, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (r);
    json_decref (flow);
    return text;
}

static void
test_every_refused_login_answers_the_same (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], disabled[64], nopw[64];
    s_user (username, NULL, NULL);
    s_user (disabled, NULL, NULL);
    json_decref (svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}", disabled));
    svc_unique (nopw, sizeof nopw, "u");
    json_decref (svc_ok (svc_h, "flow.user_add", "{\"username\": \"%s\"}", nopw));
    const char *cases[][2] = {{username, "wrong password"},
                              {"nobody-at-all", PASSWORD},
                              {disabled, PASSWORD},
                              {nopw, PASSWORD},
                              {"", PASSWORD},
                              {username, ""}};
    char *first = s_refusal_shape (cases[0][0], cases[0][1]);
    for (size_t i = 1; i < sizeof cases / sizeof cases[0]; i++) {
        char *other = s_refusal_shape (cases[i][0], cases[i][1]);
        if (strcmp (first, other) != 0)
            fail_msg ("case %zu answers %s, not %s", i, other, first);
        free (other);
    }
    free (first);
}

static void
test_bad_csrf_and_unknown_or_malformed_handles_are_invalid_flow (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (
        s_submit (flow, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", username, PASSWORD, &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    assert_int_equal (s_submit (flow, "", username, PASSWORD, &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    json_decref (flow);
    const char *handles[] = {"", "short", HANDLE_A, HANDLE_A "A",
                             "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++) {
        assert_string_equal (svc_err (svc_h, "flow.get", "{\"flow\": \"%s\"}", handles[i]), "invalid_flow");
        assert_string_equal (svc_err (svc_h, "flow.submit",
                                      "{\"flow\": \"%s\", \"csrf\": \"x\", \"node\": \"password\","
                                      " \"input\": {\"username\": \"a\", \"password\": \"b\"}}",
                                      handles[i]),
                             "invalid_flow");
    }
}

static void
test_completed_flow_cannot_be_submitted_again (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    json_t *flow = s_start (NULL);
    json_t *first = NULL, *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &first, &e), 0);
    //  The page's node, and the node the finished execution stands at.
    const char *nodes[] = {"password", "done"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal (
            svc_call (
                svc_h, "flow.submit", &r, &e,
                "{\"flow\": \"%s\", \"csrf\": \"%s\", \"node\": \"%s\", \"input\": {\"username\": \"%s\","
                " \"password\": \"" PASSWORD "\"}, \"client_ip\": \"" CLIENT_IP "\"}",
                svc_str (flow, "flow"), svc_str (flow, "csrf"), nodes[i], username),
            -1);
        assert_string_equal (e.code, "invalid_flow");
    }
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_string_equal (svc_str (g, "status"), "succeeded");
    assert_string_equal (svc_str (g, "session.sid"), svc_str (first, "result.sid"));
    json_decref (g);
    json_decref (first);
    json_decref (flow);
}

static void
test_attempts_left_count_down_and_the_last_fails_the_execution (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], other[64];
    s_user (username, NULL, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    for (int left = 4; left > 0; left--) {
        assert_int_equal (s_submit (flow, NULL, username, "wrong password", &r, &e), 0);
        assert_string_equal (svc_str (r, "step.error"), "login_failed");
        assert_int_equal (svc_int (r, "step.attempts_left"), left);
        json_decref (r);
    }
    //  The last allowed wrong password takes the failure edge.
    assert_int_equal (s_submit (flow, NULL, username, "wrong password", &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "failed");
    assert_string_equal (svc_str (r, "step.type"), "failed");
    assert_null (json_object_get (r, "result"));
    json_decref (r);
    //  Used up: even the right password does not open it.
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    json_decref (flow);
    //  A new execution works (for another user: five failures also reached
    //  the account's lockout threshold).
    s_user (other, NULL, NULL);
    json_decref (s_login (other));
}

static void
test_bad_csrf_counts_as_an_attempt (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    for (int i = 0; i < 5; i++) {
        assert_int_equal (
            s_submit (flow, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", username, PASSWORD, &r, &e), -1);
        assert_string_equal (e.code, "invalid_flow");
    }
    //  The right password, one submission past the limit: failed, no session.
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "failed");
    assert_null (json_object_get (r, "result"));
    json_decref (r);
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), -1);
    assert_string_equal (e.code, "invalid_flow");
    json_decref (flow);
}

static void
test_new_login_replaces_the_session_it_started_with (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *first = s_login (username);
    char extra[128];
    snprintf (extra, sizeof extra, ", \"session\": \"%s\"", svc_str (first, "result.session"));
    json_t *flow = s_start (extra);
    json_t *g = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_string_equal (svc_str (g, "session.sid"), svc_str (first, "result.sid"));
    assert_string_equal (svc_str (g, "session.sub"), sub);
    json_decref (g);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, PASSWORD, &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    assert_string_not_equal (svc_str (r, "result.sid"), svc_str (first, "result.sid"));
    assert_true (svc_int (r, "result.auth_time") >= svc_int (first, "result.auth_time"));
    json_t *s =
        svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (first, "result.session"));
    assert_true (json_is_null (json_object_get (s, "session")));
    json_decref (s);
    s = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (r, "result.session"));
    assert_string_equal (svc_str (s, "session.sid"), svc_str (r, "result.sid"));
    json_decref (s);
    json_decref (r);
    json_decref (flow);
    json_decref (first);
}

static void
test_flow_start_refuses_malformed_members (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *bodies[] = {"{}", "{\"request_id\": \"r\", \"purpose\": \"other\"}",
                            "{\"request_id\": \"r\", \"session\": 5}", "{\"request_id\": \"a b\"}",
                            "{\"request_id\": \"r\", \"login_hint\": \"a\\nb\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        assert_string_equal (svc_err (svc_h, "flow.start", "%s", bodies[i]), "invalid_request");
}

//  --------------------------------------------------------------- sessions, users, claims in detail

static void
test_session_get_of_unknown_handles_is_null (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *handles[] = {"", "garbage", HANDLE_A};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", handles[i]);
        assert_true (json_is_null (json_object_get (s, "session")));
        json_decref (s);
    }
}

static void
test_enabling_again_does_not_bring_a_revoked_session_back (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    json_t *login = s_login (username);
    json_decref (svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": true}", username));
    json_decref (
        svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": false}", username));
    json_t *s =
        svc_ok (svc_h, "flow.session_get", "{\"session\": \"%s\"}", svc_str (login, "result.session"));
    assert_true (json_is_null (json_object_get (s, "session")));
    json_decref (s);
    json_decref (login);
    json_decref (s_login (username));
}

static void
test_new_password_logs_in_and_a_weak_one_changes_nothing (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    s_user (username, NULL, NULL);
    assert_string_equal (
        svc_err (svc_h, "flow.user_passwd", "{\"username\": \"%s\", \"password\": \"1234567\"}", username),
        "invalid_request");
    json_decref (s_login (username));
    json_decref (svc_ok (svc_h, "flow.user_passwd",
                         "{\"username\": \"%s\", \"password\": \"another long password\"}", username));
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, "another long password", &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    json_decref (r);
    json_decref (flow);
}

static void
test_user_objects_never_carry_the_hash_and_subs_differ (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], other[64];
    svc_unique (username, sizeof username, "u");
    json_t *added = svc_ok (
        svc_h, "flow.user_add",
        "{\"username\": \"%s\", \"password\": \"" PASSWORD "\", \"email\": \"a@example.org\"}", username);
    json_t *got = svc_ok (svc_h, "flow.user_get", "{\"username\": \"%s\"}", username);
    json_t *by_sub = svc_ok (svc_h, "flow.user_get", "{\"sub\": \"%s\"}", svc_str (added, "user.sub"));
    assert_true (json_equal (json_object_get (added, "user"), json_object_get (got, "user")));
    assert_true (json_equal (json_object_get (added, "user"), json_object_get (by_sub, "user")));
    json_t *listed = svc_ok (svc_h, "flow.user_list", NULL);
    json_t *all[] = {added, got, listed};
    for (size_t i = 0; i < 3; i++) {
        char *text = json_dumps (all[i], JSON_COMPACT);
        assert_null (strstr (text, "argon2"));
        assert_null (strstr (text, "password_hash"));
        assert_null (strstr (text, PASSWORD));
        free (text);
    }
    char sub2[64];
    s_user (other, sub2, NULL);
    assert_string_not_equal (svc_str (added, "user.sub"), sub2);
    json_decref (listed);
    json_decref (by_sub);
    json_decref (got);
    json_decref (added);
}

static void
test_user_claims_exactly_by_scope (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64];
    svc_unique (username, sizeof username, "u");
    json_t *added =
        svc_ok (svc_h, "flow.user_add",
                "{\"username\": \"%s\", \"password\": \"" PASSWORD "\", \"email\": \"alice@example.org\","
                " \"email_verified\": true, \"given_name\": \"Alice\", \"family_name\": \"Liddell\","
                " \"name\": \"Alice Liddell\", \"phone_number\": \"+44 1865 000000\", \"address\":"
                " {\"street_address\": \"1 Rabbit Hole\\nFlat 2\", \"locality\": \"Oxford\", "
                "\"postal_code\": \"OX1\","
                " \"country\": \"UK\"}, \"locale\": \"en-GB\", \"zoneinfo\": \"Europe/London\"}",
                username);
    const char *sub = svc_str (added, "user.sub");
    json_int_t updated = (json_int_t)svc_int (added, "user.updated_at");
    struct {
        const char *scopes;
        json_t *expected;
    } cases[] = {
        {"\"openid\"", json_pack ("{s:s}", "sub", sub)},
        {"\"openid\", \"profile\"",
         json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "sub", sub, "name", "Alice Liddell",
                    "given_name", "Alice", "family_name", "Liddell", "preferred_username", username, "locale",
                    "en-GB", "zoneinfo", "Europe/London", "updated_at", updated)},
        {"\"openid\", \"email\"",
         json_pack ("{s:s, s:s, s:b}", "sub", sub, "email", "alice@example.org", "email_verified", 1)},
        {"\"openid\", \"phone\"", json_pack ("{s:s, s:s, s:b}", "sub", sub, "phone_number", "+44 1865 000000",
                                             "phone_number_verified", 0)},
        {"\"openid\", \"address\"",
         json_pack ("{s:s, s:{s:s, s:s, s:s, s:s}}", "sub", sub, "address", "street_address",
                    "1 Rabbit Hole\nFlat 2", "locality", "Oxford", "postal_code", "OX1", "country", "UK")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r =
            svc_ok (svc_h, "flow.user_claims", "{\"sub\": \"%s\", \"scopes\": [%s]}", sub, cases[i].scopes);
        if (!json_equal (json_object_get (r, "claims"), cases[i].expected))
            fail_msg ("scopes %s: %s", cases[i].scopes, json_dumps (r, JSON_COMPACT));
        json_decref (r);
    }
    //  Everything: the union of the above (offline_access adds nothing).
    json_t *r = svc_ok (svc_h, "flow.user_claims",
                        "{\"sub\": \"%s\", \"scopes\": [\"openid\", \"profile\", \"email\", \"phone\", "
                        "\"address\", \"offline_access\"]}",
                        sub);
    json_t *union_ = json_object ();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        json_object_update (union_, cases[i].expected);
    assert_true (json_equal (json_object_get (r, "claims"), union_));
    json_decref (union_);
    json_decref (r);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        json_decref (cases[i].expected);
    json_decref (added);
    //  A user with nothing set: only what is always there.
    char bare[64], bare_sub[64];
    s_user (bare, bare_sub, NULL);
    json_t *u = svc_ok (svc_h, "flow.user_get", "{\"sub\": \"%s\"}", bare_sub);
    r = svc_ok (svc_h, "flow.user_claims",
                "{\"sub\": \"%s\", \"scopes\": [\"openid\", \"profile\", \"email\", \"phone\", \"address\"]}",
                bare_sub);
    json_t *expected = json_pack ("{s:s, s:s, s:I}", "sub", bare_sub, "preferred_username", bare,
                                  "updated_at", (json_int_t)svc_int (u, "user.updated_at"));
    assert_true (json_equal (json_object_get (r, "claims"), expected));
    json_decref (expected);
    json_decref (r);
    json_decref (u);
}

//  --------------------------------------------------------------- action tokens

static void
test_unknown_action_tokens_are_invalid_action (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    const char *token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_string_equal (
        svc_err (svc_h, "flow.action_get", "{\"token\": \"%s\", \"purpose\": \"magic_link\"}", token),
        "invalid_action");
    assert_string_equal (
        svc_err (svc_h, "flow.action", "{\"token\": \"%s\", \"purpose\": \"magic_link\"}", token),
        "invalid_action");
    assert_string_equal (
        svc_err (svc_h, "flow.action",
                 "{\"token\": \"%s\", \"purpose\": \"webhook_callback\", \"outcome\": \"success\"}", token),
        "invalid_action");
    //  outcome and data belong to callbacks only; a callback needs an outcome.
    assert_string_equal (
        svc_err (svc_h, "flow.action",
                 "{\"token\": \"%s\", \"purpose\": \"magic_link\", \"outcome\": \"success\"}", token),
        "invalid_request");
    assert_string_equal (
        svc_err (svc_h, "flow.action", "{\"token\": \"%s\", \"purpose\": \"webhook_callback\"}", token),
        "invalid_request");
    //  Without a token at all the body does not fit flow.action_get (proto/ops.def).
    assert_string_equal (svc_err (svc_h, "flow.action_get", "{\"purpose\": \"magic_link\"}"),
                         "invalid_request");
}

//  --------------------------------------------------------------- settings, unlock, audit

static void
test_settings_set_round_trips_and_is_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *l = svc_ok (svc_h, "flow.settings_list", NULL);
    json_t *settings = json_object_get (l, "settings");
    assert_int_equal (json_array_size (settings), 8);
    size_t i;
    json_t *one;
    long def = -1;
    json_array_foreach (settings, i, one)
    {
        assert_true (svc_int (one, "min") <= svc_int (one, "default"));
        assert_true (svc_int (one, "default") <= svc_int (one, "max"));
        assert_true (strlen (svc_str (one, "description")) > 0);
        if (strcmp (svc_str (one, "name"), "lockout_seconds") == 0)
            def = (long)svc_int (one, "default");
    }
    assert_int_equal (def, 900);
    json_decref (l);
    json_t *r = svc_ok (svc_h, "flow.settings_set", "{\"name\": \"lockout_seconds\", \"value\": 60}");
    assert_int_equal (svc_int (r, "value"), 60);
    json_decref (r);
    r = svc_ok (svc_h, "flow.settings_set", "{\"name\": \"lockout_seconds\", \"value\": null}");
    assert_int_equal (svc_int (r, "value"), 900);
    json_decref (r);
    json_t *a =
        svc_ok (svc_h, "flow.audit_list", "{\"event\": \"settings_set\", \"limit\": 2, \"last\": true}");
    assert_int_equal (json_array_size (json_object_get (a, "events")), 2);
    //  The newest two, oldest first: the set, then the reset.
    assert_int_equal (svc_int (a, "events.0.details.value"), 60);
    assert_true (json_is_null (json_object_get (
        json_object_get (json_array_get (json_object_get (a, "events"), 1), "details"), "value")));
    assert_true (svc_int (a, "events.0.id") < svc_int (a, "events.1.id"));
    //  common/audit.def: the value in force after the change and before it.
    assert_int_equal (svc_int (a, "events.0.details.effective"), 60);
    assert_int_equal (svc_int (a, "events.1.details.effective"), 900);
    assert_int_equal (svc_int (a, "events.1.details.previous"), 60);
    assert_string_equal (svc_str (a, "events.1.subject"), "lockout_seconds");
    assert_string_equal (svc_str (a, "events.1.actor"), "admin");
    assert_string_equal (svc_str (a, "events.1.outcome"), "success");
    assert_string_equal (svc_str (a, "events.1.service"), "flow");
    json_decref (a);
    const char *bad[] = {"{\"name\": \"no_such_setting\", \"value\": 3}",
                         "{\"name\": \"lockout_threshold\", \"value\": 0}",
                         "{\"name\": \"lockout_threshold\", \"value\": 1001}",
                         "{\"name\": \"lockout_threshold\"}",
                         "{\"name\": \"lockout_threshold\", \"value\": \"3\"}",
                         "{\"name\": \"lockout_threshold\", \"value\": 2.5}",
                         "{\"value\": 3}"};
    long events = svc_sql_long (svc_h, "SELECT count(*) FROM flow.audit_events");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = svc_err (svc_h, "flow.settings_set", "%s", bad[i]);
        if (strcmp (code, "invalid_request") != 0)
            fail_msg ("%s: %s", bad[i], code);
    }
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.audit_events"), events);
}

static void
test_audit_list_filters_and_bounds_its_limit (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_decref (
        svc_ok (svc_h, "flow.settings_set", "{\"name\": \"address_window_seconds\", \"value\": 120}"));
    json_decref (
        svc_ok (svc_h, "flow.settings_set", "{\"name\": \"address_window_seconds\", \"value\": null}"));
    json_t *a = svc_ok (svc_h, "flow.audit_list", "{\"event\": \"settings_set\"}");
    size_t i;
    json_t *ev;
    long long last_id = -1;
    json_array_foreach (json_object_get (a, "events"), i, ev)
    {
        assert_string_equal (svc_str (ev, "event"), "settings_set");
        //  Oldest first.
        long long id = svc_int (ev, "id");
        assert_true (id > last_id);
        last_id = id;
        assert_int_equal (strlen (svc_str (ev, "time")), 27);
        assert_string_equal (svc_str (ev, "service"), "flow");
        assert_true (json_is_object (json_object_get (ev, "details")));
    }
    assert_true (i >= 2);
    json_decref (a);
    a = svc_ok (svc_h, "flow.audit_list", "{\"event\": \"settings_set\", \"limit\": 1}");
    assert_int_equal (json_array_size (json_object_get (a, "events")), 1);
    json_decref (a);
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"limit\": 0}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"limit\": 1001}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"limit\": \"5\"}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"kind\": \"lockout\"}"), "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"event\": \"no_such_event\"}"),
                         "invalid_request");
    assert_string_equal (svc_err (svc_h, "flow.audit_list", "{\"since\": 20, \"until\": 10}"),
                         "invalid_request");
}

static void
test_audit_list_pages_with_its_cursor_and_filters_by_subject_and_time (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    for (int i = 0; i < 3; i++)
        json_decref (
            svc_ok (svc_h, "flow.settings_set", "{\"name\": \"code_mail_cap\", \"value\": %d}", 5 + i));
    json_t *a =
        svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"code_mail_cap\", \"last\": true, \"limit\": 3}");
    assert_int_equal (json_array_size (json_object_get (a, "events")), 3);
    long long first = svc_int (a, "events.0.id");
    assert_int_equal (svc_int (a, "cursor"), svc_int (a, "events.2.id"));
    json_decref (a);
    //  From the first of the three: the other two, then nothing, no cursor.
    a = svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"code_mail_cap\", \"cursor\": %lld}", first);
    assert_int_equal (json_array_size (json_object_get (a, "events")), 2);
    assert_int_equal (svc_int (a, "events.0.details.value"), 6);
    long long last = svc_int (a, "cursor");
    json_decref (a);
    a = svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"code_mail_cap\", \"cursor\": %lld}", last);
    assert_int_equal (json_array_size (json_object_get (a, "events")), 0);
    assert_null (json_object_get (a, "cursor"));
    json_decref (a);
    //  since and until bound the time.
    long long now = (long long)time (NULL);
    a = svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"code_mail_cap\", \"since\": %lld}", now + 60);
    assert_int_equal (json_array_size (json_object_get (a, "events")), 0);
    json_decref (a);
    a = svc_ok (svc_h, "flow.audit_list",
                "{\"subject\": \"code_mail_cap\", \"since\": %lld, \"until\": %lld}", now - 600, now + 60);
    assert_true (json_array_size (json_object_get (a, "events")) >= 3);
    json_decref (a);
    json_decref (svc_ok (svc_h, "flow.settings_set", "{\"name\": \"code_mail_cap\", \"value\": null}"));
}

static void
test_logins_are_audited_with_their_reason (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_t *flow = s_start (NULL);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, NULL, username, "wrong password", &r, &e), 0);
    json_decref (r);
    json_decref (flow);
    json_decref (s_login (username));
    json_t *a = svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"%s\"}", sub);
    json_t *events = json_object_get (a, "events");
    //  user_add, then the two attempts.
    assert_int_equal (json_array_size (events), 3);
    assert_string_equal (svc_str (a, "events.0.event"), "user_add");
    assert_string_equal (svc_str (a, "events.1.event"), "login_failed");
    assert_string_equal (svc_str (a, "events.1.outcome"), "failure");
    assert_string_equal (svc_str (a, "events.1.details.reason"), "wrong_password");
    assert_string_equal (svc_str (a, "events.1.actor"), "user");
    assert_string_equal (svc_str (a, "events.1.address"), CLIENT_IP);
    assert_string_equal (svc_str (a, "events.2.event"), "login_succeeded");
    assert_string_equal (svc_str (a, "events.2.outcome"), "success");
    //  A completed login, once, with the methods it passed.
    assert_string_equal (svc_str (a, "events.2.details.methods.0"), "password");
    assert_int_equal (json_array_size (json_object_get (
                          json_object_get (json_array_get (events, 2), "details"), "methods")),
                      1);
    assert_string_equal (svc_str (a, "events.2.details.flow"), "login");
    //  The trace id of the request that wrote each.
    assert_true (strlen (svc_str (a, "events.2.trace_id")) > 0);
    json_decref (a);
    //  An unknown user: no subject, and never what was typed.
    flow = s_start (NULL);
    assert_int_equal (s_submit (flow, NULL, "nobody-of-that-name", "whatever", &r, &e), 0);
    json_decref (r);
    json_decref (flow);
    a = svc_ok (svc_h, "flow.audit_list", "{\"event\": \"login_failed\", \"last\": true, \"limit\": 1}");
    assert_string_equal (svc_str (a, "events.0.details.reason"), "unknown_user");
    assert_true (
        json_is_null (json_object_get (json_array_get (json_object_get (a, "events"), 0), "subject")));
    char *text = json_dumps (a, 0);
    assert_null (strstr (text, "nobody-of-that-name"));
    assert_null (strstr (text, "whatever"));
    free (text);
    json_decref (a);
}

static void
test_user_changes_are_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    json_decref (svc_ok (svc_h, "flow.user_passwd",
                         "{\"username\": \"%s\", \"password\": \"another secret pw\"}", username));
    json_decref (
        svc_ok (svc_h, "flow.user_disable", "{\"username\": \"%s\", \"disabled\": false}", username));
    json_t *a = svc_ok (svc_h, "flow.audit_list", "{\"subject\": \"%s\"}", sub);
    assert_int_equal (json_array_size (json_object_get (a, "events")), 3);
    assert_string_equal (svc_str (a, "events.0.event"), "user_add");
    assert_string_equal (svc_str (a, "events.0.details.username"), username);
    assert_string_equal (svc_str (a, "events.1.event"), "user_passwd");
    assert_string_equal (svc_str (a, "events.2.event"), "user_disable");
    assert_false (svc_bool (a, "events.2.details.disabled"));
    for (int i = 0; i < 3; i++) {
        char path[32];
        snprintf (path, sizeof path, "events.%d.actor", i);
        assert_string_equal (svc_str (a, path), "admin");
    }
    char *text = json_dumps (a, 0);
    assert_null (strstr (text, "another secret pw"));
    free (text);
    json_decref (a);
}

static void
test_user_unlock_clears_the_lock_and_is_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64];
    s_user (username, sub, NULL);
    //  Three wrong passwords with a threshold of 3 lock the account.
    json_decref (svc_ok (svc_h, "flow.settings_set", "{\"name\": \"lockout_threshold\", \"value\": 3}"));
    for (int i = 0; i < 3; i++) {
        json_t *flow = s_start (NULL);
        json_t *r = NULL;
        bus_error_t e;
        assert_int_equal (s_submit (flow, NULL, username, "wrong password", &r, &e), 0);
        json_decref (r);
        json_decref (flow);
    }
    json_decref (svc_ok (svc_h, "flow.settings_set", "{\"name\": \"lockout_threshold\", \"value\": null}"));
    json_t *r = svc_ok (svc_h, "flow.user_unlock", "{\"username\": \"%s\"}", username);
    assert_string_equal (svc_str (r, "sub"), sub);
    assert_true (svc_bool (r, "was_locked"));
    assert_false (svc_bool (r, "second_factor_was_locked"));
    json_decref (r);
    json_decref (s_login (username));
    r = svc_ok (svc_h, "flow.user_unlock", "{\"username\": \"%s\"}", username);
    assert_false (svc_bool (r, "was_locked"));
    json_decref (r);
    assert_true (
        svc_sql_long (svc_h,
                      "SELECT count(*) FROM flow.audit_events WHERE event = 'unlock' AND subject = '%s'",
                      sub) == 2);
    assert_string_equal (svc_err (svc_h, "flow.user_unlock", "{\"username\": \"nobody-here\"}"), "not_found");
    assert_string_equal (svc_err (svc_h, "flow.user_unlock", NULL), "invalid_request");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_health_reaches_the_database),
        cmocka_unit_test (test_flow_start_keeps_the_locale_of_a_catalogue),
        cmocka_unit_test (test_user_add_stores_a_random_sub_and_an_argon2id_hash),
        cmocka_unit_test (test_user_add_refuses_bad_fields_and_duplicates),
        cmocka_unit_test (test_user_get_by_username_or_sub),
        cmocka_unit_test (test_user_list_pages),
        cmocka_unit_test (test_user_passwd_changes_the_hash_and_revokes_sessions),
        cmocka_unit_test (test_user_disable_ends_sessions_claims_and_tokens),
        cmocka_unit_test (test_user_claims_by_scope),
        cmocka_unit_test (test_flow_start_returns_handle_csrf_and_expiry),
        cmocka_unit_test (test_flow_start_refuses_bad_arguments),
        cmocka_unit_test (test_login_creates_a_session_and_returns_its_handle_once),
        cmocka_unit_test (test_wrong_password_unknown_and_disabled_user_fail_alike),
        cmocka_unit_test (test_flow_refuses_bad_csrf_unknown_handles_and_stale_nodes),
        cmocka_unit_test (test_attempts_are_limited_per_execution),
        cmocka_unit_test (test_flow_get_reports_the_execution),
        cmocka_unit_test (test_login_session_object_is_what_the_result_said),
        cmocka_unit_test (test_every_refused_login_answers_the_same),
        cmocka_unit_test (test_bad_csrf_and_unknown_or_malformed_handles_are_invalid_flow),
        cmocka_unit_test (test_completed_flow_cannot_be_submitted_again),
        cmocka_unit_test (test_attempts_left_count_down_and_the_last_fails_the_execution),
        cmocka_unit_test (test_bad_csrf_counts_as_an_attempt),
        cmocka_unit_test (test_new_login_replaces_the_session_it_started_with),
        cmocka_unit_test (test_flow_start_refuses_malformed_members),
        cmocka_unit_test (test_session_get_of_unknown_handles_is_null),
        cmocka_unit_test (test_enabling_again_does_not_bring_a_revoked_session_back),
        cmocka_unit_test (test_new_password_logs_in_and_a_weak_one_changes_nothing),
        cmocka_unit_test (test_user_objects_never_carry_the_hash_and_subs_differ),
        cmocka_unit_test (test_user_claims_exactly_by_scope),
        cmocka_unit_test (test_unknown_action_tokens_are_invalid_action),
        cmocka_unit_test (test_settings_set_round_trips_and_is_audited),
        cmocka_unit_test (test_audit_list_filters_and_bounds_its_limit),
        cmocka_unit_test (test_audit_list_pages_with_its_cursor_and_filters_by_subject_and_time),
        cmocka_unit_test (test_logins_are_audited_with_their_reason),
        cmocka_unit_test (test_user_changes_are_audited),
        cmocka_unit_test (test_user_unlock_clears_the_lock_and_is_audited),
        cmocka_unit_test (test_registration_reports_a_weak_password_and_a_mismatch_together),
    };
    return cmocka_run_group_tests (tests, svc_setup, svc_teardown);
}
