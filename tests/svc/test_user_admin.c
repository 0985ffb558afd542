/*  An operator's hold on a user's sign-in, in-process (tests/svc/svc_harness.h):
 *  flow.user_totp_reset (the second factor goes, audited),
 *  flow.user_sessions and flow.user_session_revoke (one live session or all,
 *  each client they served told through the outbox, audited), and
 *  token.grant_list and token.grant_revoke (a client's refresh families, the
 *  access tokens they issued and the consent, audited). */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "svc_harness.h"

#include <stdio.h>
#include <string.h>

#define PASSWORD "correct horse battery staple"

static svc_harness_t *s_h;

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    s_h = svc_harness_new (NULL);
    return 0;
}

static int
s_teardown (void **state)
{
    OST_UNUSED (state);
    svc_harness_destroy (&s_h);
    return 0;
}

//  A new user: username and sub.
static void
s_user (char *username, size_t usize, char *sub, size_t ssize)
{
    svc_unique (username, usize, "ua");
    json_t *r =
        svc_ok (s_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"}", username);
    snprintf (sub, ssize, "%s", svc_str (r, "user.sub"));
    json_decref (r);
}

static void
test_totp_reset_removes_the_app_and_the_recovery_codes_audited (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (s_h);
    char username[64], sub[80];
    s_user (username, sizeof username, sub, sizeof sub);
    svc_sql_exec (s_h,
                  "INSERT INTO flow.user_totp (sub, secret_sealed) VALUES ('%s', 'sealed');"
                  " INSERT INTO flow.recovery_codes (sub, code_hash)"
                  " SELECT '%s', sha256(g::text::bytea) FROM generate_series(1, 4) g",
                  sub, sub);
    json_t *r = svc_ok (s_h, "flow.user_totp_reset", "{\"username\": \"%s\"}", username);
    assert_string_equal (svc_str (r, "sub"), sub);
    assert_true (svc_bool (r, "totp_removed"));
    assert_int_equal (svc_int (r, "recovery_codes_removed"), 4);
    json_decref (r);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM flow.user_totp WHERE sub = '%s'", sub), 0);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM flow.recovery_codes WHERE sub = '%s'", sub),
                      0);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM flow.audit_events WHERE event = 'user_totp_reset'"
                                    " AND subject = '%s' AND actor = 'admin'"
                                    " AND details->>'recovery_codes_removed' = '4'",
                                    sub),
                      1);
    //  Nothing left: no error, nothing removed.
    r = svc_ok (s_h, "flow.user_totp_reset", "{\"username\": \"%s\"}", username);
    assert_false (svc_bool (r, "totp_removed"));
    assert_int_equal (svc_int (r, "recovery_codes_removed"), 0);
    json_decref (r);
    assert_string_equal (svc_err (s_h, "flow.user_totp_reset", "{\"username\": \"nobody-xyz\"}"),
                         "not_found");
    assert_string_equal (svc_err (s_h, "flow.user_totp_reset", "{\"username\": \"Not A Name\"}"),
                         "invalid_request");
}

//  A live session sid of sub that served client_id (a session_clients row).
static void
s_session (const char *sub, const char *sid, const char *client_id, int age_s)
{
    svc_sql_exec (
        s_h,
        "INSERT INTO flow.sessions (sid, handle_hash, sub, auth_time, amr, created_at, expires_at)"
        " VALUES ('%s', sha256('%s'::bytea), '%s', now(), '[\"pwd\"]', now() - make_interval(secs => %d),"
        " now() + interval '1 hour');"
        " INSERT INTO flow.session_clients (sid, client_id, client_name) VALUES ('%s', '%s', 'App')",
        sid, sid, sub, age_s, sid, client_id);
}

static void
test_user_sessions_lists_and_revoke_ends_one_or_all_with_backchannel (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (s_h);
    char username[64], sub[80], sid[3][64];
    s_user (username, sizeof username, sub, sizeof sub);
    for (int i = 0; i < 3; i++) {
        svc_unique (sid[i], sizeof sid[i], "sid-session-identifier");
        s_session (sub, sid[i], "app-one", 30 - i);
    }
    //  An ended session is not listed.
    char gone[64];
    svc_unique (gone, sizeof gone, "sid-session-identifier");
    s_session (sub, gone, "app-one", 60);
    svc_sql_exec (s_h, "UPDATE flow.sessions SET revoked_at = now() WHERE sid = '%s'", gone);

    json_t *r = svc_ok (s_h, "flow.user_sessions", "{\"username\": \"%s\"}", username);
    assert_string_equal (svc_str (r, "sub"), sub);
    const json_t *list = json_object_get (r, "sessions");
    assert_int_equal (json_array_size (list), 3);
    //  Newest first.
    assert_string_equal (svc_str (json_array_get (list, 0), "sid"), sid[2]);
    assert_false (svc_bool (json_array_get (list, 0), "current"));
    assert_string_equal (svc_str (json_array_get (list, 0), "clients.0.client_id"), "app-one");
    json_decref (r);

    long outbox = svc_sql_long (s_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'");
    r = svc_ok (s_h, "flow.user_session_revoke", "{\"username\": \"%s\", \"sid\": \"%s\"}", username, sid[0]);
    assert_int_equal (json_array_size (json_object_get (r, "ended")), 1);
    assert_string_equal (svc_str (r, "ended.0"), sid[0]);
    assert_int_equal (svc_int (r, "backchannel"), 1);
    json_decref (r);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM flow.sessions WHERE sid = '%s'"
                                    " AND revoked_at IS NOT NULL",
                                    sid[0]),
                      1);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'"),
                      outbox + 1);
    //  Not live any more; not a session of theirs.
    assert_string_equal (svc_err (s_h, "flow.user_session_revoke", "{\"username\": \"%s\", \"sid\": \"%s\"}",
                                  username, sid[0]),
                         "not_found");
    assert_string_equal (svc_err (s_h, "flow.user_session_revoke", "{\"username\": \"%s\", \"sid\": \"%s\"}",
                                  username, "sid-of-nobody-at-all-123"),
                         "not_found");

    r = svc_ok (s_h, "flow.user_session_revoke", "{\"username\": \"%s\"}", username);
    assert_int_equal (json_array_size (json_object_get (r, "ended")), 2);
    assert_int_equal (svc_int (r, "backchannel"), 2);
    json_decref (r);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM flow.sessions WHERE sub = '%s'"
                                    " AND revoked_at IS NULL",
                                    sub),
                      0);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM flow.outbox WHERE kind = 'backchannel'"),
                      outbox + 3);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM flow.audit_events WHERE event = 'session_revoked'"
                                    " AND subject = '%s' AND actor = 'admin'",
                                    sub),
                      2);
    //  Nothing live: every session is none, no error.
    r = svc_ok (s_h, "flow.user_session_revoke", "{\"username\": \"%s\"}", username);
    assert_int_equal (json_array_size (json_object_get (r, "ended")), 0);
    json_decref (r);
    r = svc_ok (s_h, "flow.user_sessions", "{\"username\": \"%s\"}", username);
    assert_int_equal (json_array_size (json_object_get (r, "sessions")), 0);
    json_decref (r);
    assert_string_equal (svc_err (s_h, "flow.user_sessions", "{\"username\": \"nobody-xyz\"}"), "not_found");
    assert_string_equal (svc_err (s_h, "flow.user_session_revoke", "{\"username\": \"nobody-xyz\"}"),
                         "not_found");
}

//  A client, and a refresh family of sub for it that issued one live access
//  token (jti); the family's id.
static long
s_family (const char *client_id, const char *sub, const char *jti)
{
    svc_sql_exec (s_h,
                  "WITH f AS (INSERT INTO token.refresh_families (client_id, sub, auth_time, amr, scopes)"
                  " VALUES ('%s', '%s', 0, '[\"pwd\"]', '[\"openid\", \"offline_access\"]') RETURNING id)"
                  " INSERT INTO token.family_jtis (jti, family_id, expires_at)"
                  " SELECT '%s', id, now() + interval '5 minutes' FROM f",
                  client_id, sub, jti);
    return svc_sql_long (s_h, "SELECT family_id FROM token.family_jtis WHERE jti = '%s'", jti);
}

static void
test_grant_list_and_revoke_end_the_families_tokens_and_consent (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (s_h);
    char a[64], b[64], sub[64], jti[64], jti2[64];
    svc_unique (a, sizeof a, "grant-a");
    svc_unique (b, sizeof b, "grant-b");
    svc_unique (sub, sizeof sub, "grant-sub");
    svc_unique (jti, sizeof jti, "jti");
    svc_unique (jti2, sizeof jti2, "jti");
    const char *ids[] = {a, b};
    for (int i = 0; i < 2; i++)
        json_decref (svc_ok (s_h, "token.client_add",
                             "{\"client_id\": \"%s\", \"name\": \"App %d\", \"redirect_uris\":"
                             " [\"https://rp.example/cb\"]}",
                             ids[i], i));
    long family = s_family (a, sub, jti);
    s_family (b, sub, jti2);
    svc_sql_exec (s_h,
                  "INSERT INTO token.consents (sub, client_id, scopes) VALUES ('%s', '%s', '[\"openid\"]')",
                  sub, a);

    json_t *r = svc_ok (s_h, "token.grant_list", "{\"sub\": \"%s\"}", sub);
    const json_t *grants = json_object_get (r, "grants");
    assert_int_equal (json_array_size (grants), 2);
    assert_string_equal (svc_str (json_array_get (grants, 0), "client_id"), a);
    assert_string_equal (svc_str (json_array_get (grants, 0), "client_name"), "App 0");
    assert_int_equal (svc_int (json_array_get (grants, 0), "families"), 1);
    //  The consent's scopes; without a consent, the families'.
    assert_string_equal (svc_str (json_array_get (grants, 0), "scopes.0"), "openid");
    assert_non_null (json_object_get (json_array_get (grants, 0), "consented_at"));
    assert_null (json_object_get (json_array_get (grants, 1), "consented_at"));
    assert_int_equal (json_array_size (json_object_get (json_array_get (grants, 1), "scopes")), 2);
    json_decref (r);

    r = svc_ok (s_h, "token.grant_revoke", "{\"sub\": \"%s\", \"client_id\": \"%s\"}", sub, a);
    assert_int_equal (svc_int (r, "families"), 1);
    assert_int_equal (svc_int (r, "access_tokens"), 1);
    assert_true (svc_bool (r, "consent"));
    json_decref (r);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM token.refresh_families WHERE id = %ld"
                                    " AND revoked_at IS NOT NULL AND revoke_reason = 'admin'",
                                    family),
                      1);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM token.revoked_jtis WHERE jti = '%s'", jti), 1);
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM token.consents WHERE sub = '%s'", sub), 0);
    //  The other client's grant is left alone.
    assert_int_equal (svc_sql_long (s_h, "SELECT count(*) FROM token.revoked_jtis WHERE jti = '%s'", jti2),
                      0);
    assert_int_equal (svc_sql_long (s_h,
                                    "SELECT count(*) FROM token.audit_events WHERE event = 'grant_revoked'"
                                    " AND subject = '%s' AND client_id = '%s' AND actor = 'admin'",
                                    sub, a),
                      1);
    r = svc_ok (s_h, "token.grant_list", "{\"sub\": \"%s\"}", sub);
    assert_int_equal (json_array_size (json_object_get (r, "grants")), 1);
    assert_string_equal (svc_str (r, "grants.0.client_id"), b);
    json_decref (r);
    //  Nothing left to revoke.
    assert_string_equal (
        svc_err (s_h, "token.grant_revoke", "{\"sub\": \"%s\", \"client_id\": \"%s\"}", sub, a), "not_found");
    r = svc_ok (s_h, "token.grant_list", "{\"sub\": \"nobody-at-all\"}");
    assert_int_equal (json_array_size (json_object_get (r, "grants")), 0);
    json_decref (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_totp_reset_removes_the_app_and_the_recovery_codes_audited),
        cmocka_unit_test (test_user_sessions_lists_and_revoke_ends_one_or_all_with_backchannel),
        cmocka_unit_test (test_grant_list_and_revoke_end_the_families_tokens_and_consent),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
