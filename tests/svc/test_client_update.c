/*  token.client_update and token.client_rotate_secret in-process
 *  (tests/svc/svc_harness.h): an update changes what /authorize and /token
 *  accept, a stale version changes nothing (conflict), every rule of a
 *  registration holds for an update, a disabled client is refused, per-client
 *  token lifetimes, and a rotation whose old secret works during the overlap
 *  the caller chose and not after. Every change is audited without a
 *  secret. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "secure.h"
#include "svc_harness.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    //  No client cache: a change is seen by the next request. keys-svc signs
    //  nothing that lives over two hours.
    static const char *const settings[] = {"OSTIARY_CLIENT_CACHE_MS=0",
                                           "OSTIARY_KEYS_TOKEN_LIFETIME_MAX=7200", NULL};
    svc_h = svc_harness_new (settings);
    return 0;
}

//  --------------------------------------------------------------- helpers

//  A confidential client_secret_post client with the code and
//  client_credentials grants, one redirect URI.
static void
s_client (svc_client_t *c, const char *prefix)
{
    svc_client (svc_h, c, prefix,
                "\"token_endpoint_auth_method\": \"client_secret_post\","
                " \"grant_types\": [\"authorization_code\", \"client_credentials\"]");
}

static long long
s_version (const svc_client_t *c)
{
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", c->id);
    long long v = svc_int (r, "client.version");
    json_decref (r);
    return v;
}

//  client_credentials at the token endpoint with secret: 0 and the
//  result's expires_in in *expires_in, or -1 and the error code in code.
static int
s_cc (const svc_client_t *c, const char *secret, long long *expires_in, char *code, size_t size)
{
    json_t *r = NULL;
    bus_error_t e;
    int rc = svc_call (svc_h, "token.exchange", &r, &e,
                       "{\"form\": {\"grant_type\": \"client_credentials\", \"client_id\": \"%s\","
                       " \"client_secret\": \"%s\"}}",
                       c->id, secret);
    if (rc == 0 && expires_in)
        *expires_in = svc_int (r, "expires_in");
    if (rc != 0 && code)
        snprintf (code, size, "%s", e.code);
    json_decref (r);
    return rc;
}

//  token.authorize for c at redirect_uri, with or without a PKCE challenge:
//  "request", "redirect" or "page_error" (the member it answered).
static const char *
s_authorize (const svc_client_t *c, const char *redirect_uri, int pkce)
{
    json_t *r =
        svc_ok (svc_h, "token.authorize",
                "{\"params\": {\"response_type\": \"code\", \"client_id\": \"%s\", \"redirect_uri\": \"%s\","
                " \"scope\": \"openid\", \"state\": \"s\"%s}, \"repeated\": []}",
                c->id, redirect_uri,
                pkce ? ", \"code_challenge\": \"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\","
                       " \"code_challenge_method\": \"S256\""
                     : "");
    const char *what = json_object_get (r, "request")    ? "request"
                       : json_object_get (r, "redirect") ? "redirect"
                                                         : "page_error";
    json_decref (r);
    return what;
}

//  The newest client_update or client_rotate_secret event of c.
static json_t *
s_last_event (const char *event, const svc_client_t *c)
{
    json_t *r =
        svc_ok (svc_h, "token.audit_list",
                "{\"event\": \"%s\", \"subject\": \"%s\", \"last\": true, \"limit\": 1}", event, c->id);
    json_t *ev = json_incref (json_array_get (json_object_get (r, "events"), 0));
    json_decref (r);
    assert_non_null (ev);
    return ev;
}

//  --------------------------------------------------------------- tests

static void
test_update_changes_redirect_uris_and_bumps_the_version (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "upd");
    assert_int_equal (s_version (&c), 1);
    assert_string_equal (s_authorize (&c, c.redirect_uri, 1), "request");
    json_t *r =
        svc_ok (svc_h, "token.client_update",
                "{\"client_id\": \"%s\", \"version\": 1, \"redirect_uris\": [\"https://new.example/cb\"],"
                " \"name\": \"Renamed\"}",
                c.id);
    assert_int_equal (svc_int (r, "client.version"), 2);
    assert_string_equal (svc_str (r, "client.name"), "Renamed");
    assert_false (json_object_get (json_object_get (r, "client"), "client_secret"));
    json_decref (r);
    //  The old redirect URI is refused now, the new one accepted.
    assert_string_equal (s_authorize (&c, c.redirect_uri, 1), "page_error");
    assert_string_equal (s_authorize (&c, "https://new.example/cb", 1), "request");
    //  Members not given kept their values; the secret still works.
    assert_int_equal (s_cc (&c, c.secret, NULL, NULL, 0), 0);
    assert_int_equal (svc_sql_long (svc_h, "SELECT version FROM token.clients WHERE client_id = '%s'", c.id),
                      2);
}

static void
test_stale_version_is_a_conflict_and_changes_nothing (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "stale");
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"name\": \"First\"}", c.id));
    char before[4096], after[4096];
    svc_sql_text (svc_h, before, sizeof before,
                  "SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '%s'", c.id);
    long events = svc_sql_long (
        svc_h, "SELECT count(*) FROM token.audit_events WHERE event = 'client_update' AND subject = '%s'",
        c.id);
    //  Based on version 1, which another change replaced.
    assert_string_equal (
        svc_err (svc_h, "token.client_update",
                 "{\"client_id\": \"%s\", \"version\": 1, \"redirect_uris\": [\"https://x.example/cb\"]}",
                 c.id),
        "conflict");
    assert_string_equal (svc_err (svc_h, "token.client_update",
                                  "{\"client_id\": \"%s\", \"version\": 7, \"name\": \"x\"}", c.id),
                         "conflict");
    svc_sql_text (svc_h, after, sizeof after,
                  "SELECT row_to_json(c)::text FROM token.clients c WHERE client_id = '%s'", c.id);
    assert_string_equal (before, after);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.audit_events WHERE event = 'client_update'"
                                    " AND subject = '%s'",
                                    c.id),
                      events);
    assert_string_equal (
        svc_err (svc_h, "token.client_update", "{\"client_id\": \"no-such-client\", \"version\": 1}"),
        "not_found");
}

static void
test_update_holds_the_registration_rules (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "rules");
    static const char *const bad[] = {
        "\"redirect_uris\": [\"https://rp.example/cb#frag\"]",
        "\"redirect_uris\": [\"not a uri\"]",
        "\"redirect_uris\": []",
        "\"token_endpoint_auth_method\": \"none\"",
        "\"grant_types\": [\"password\"]",
        "\"scopes\": [\"admin-everything\"]",
        "\"allowed_web_origins\": [\"https://app.example/\"]",
        "\"id_token_signed_response_alg\": \"none\"",
        "\"backchannel_logout_session_required\": true",
        "\"unset\": [\"name\"]",
        "\"unset\": [\"access_token_alg\"], \"access_token_alg\": \"ES256\"",
        "\"type\": \"public\"",
        "\"client_secret\": \"mine\"",
        "\"access_token_lifetime\": 0",
        "\"refresh_grace\": 301",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *code = svc_err (svc_h, "token.client_update",
                                    "{\"client_id\": \"%s\", \"version\": 1, %s}", c.id, bad[i]);
        if (strcmp (code, "invalid_request") != 0)
            fail_msg ("%s: %s", bad[i], code);
    }
    //  None of them changed anything.
    assert_int_equal (s_version (&c), 1);
    //  A public client can never turn PKCE off.
    char id[80];
    svc_unique (id, sizeof id, "pub");
    json_decref (svc_ok (
        svc_h, "token.client_add",
        "{\"client_id\": \"%s\", \"type\": \"public\", \"redirect_uris\": [\"https://p.example/cb\"]}", id));
    assert_string_equal (svc_err (svc_h, "token.client_update",
                                  "{\"client_id\": \"%s\", \"version\": 1, \"require_pkce\": false}", id),
                         "invalid_request");
}

static void
test_pkce_choice_can_be_set_and_unset (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "pkce");
    //  No choice of its own: the server's default (required) applies.
    json_t *r = svc_ok (svc_h, "token.client_get", "{\"client_id\": \"%s\"}", c.id);
    assert_false (json_object_get (json_object_get (r, "client"), "require_pkce_own"));
    json_decref (r);
    assert_string_equal (s_authorize (&c, c.redirect_uri, 0), "redirect");
    r = svc_ok (svc_h, "token.client_update",
                "{\"client_id\": \"%s\", \"version\": 1, \"require_pkce\": false}", c.id);
    assert_false (svc_bool (r, "client.require_pkce_own"));
    json_decref (r);
    assert_string_equal (s_authorize (&c, c.redirect_uri, 0), "request");
    r = svc_ok (svc_h, "token.client_update",
                "{\"client_id\": \"%s\", \"version\": 2, \"unset\": [\"require_pkce\"]}", c.id);
    assert_false (json_object_get (json_object_get (r, "client"), "require_pkce_own"));
    assert_true (svc_bool (r, "client.require_pkce"));
    json_decref (r);
    assert_string_equal (s_authorize (&c, c.redirect_uri, 0), "redirect");
    assert_true (svc_sql_long (
        svc_h, "SELECT (require_pkce IS NULL)::int FROM token.clients WHERE client_id = '%s'", c.id));
}

static void
test_disabled_client_is_refused_until_enabled (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "dis");
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"disabled\": true}", c.id));
    char code[48];
    assert_int_equal (s_cc (&c, c.secret, NULL, code, sizeof code), -1);
    assert_string_equal (code, "invalid_client");
    assert_string_equal (s_authorize (&c, c.redirect_uri, 1), "page_error");
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 2, \"disabled\": false}", c.id));
    assert_int_equal (s_cc (&c, c.secret, NULL, NULL, 0), 0);
    assert_string_equal (s_authorize (&c, c.redirect_uri, 1), "request");
}

static void
test_token_lifetimes_of_the_client_replace_the_servers (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ttl");
    long long expires_in = 0;
    assert_int_equal (s_cc (&c, c.secret, &expires_in, NULL, 0), 0);
    assert_int_equal (expires_in, 600);
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"access_token_lifetime\": 120}", c.id));
    assert_int_equal (s_cc (&c, c.secret, &expires_in, NULL, 0), 0);
    assert_int_equal (expires_in, 120);
    json_t *r =
        svc_ok (svc_h, "token.client_update",
                "{\"client_id\": \"%s\", \"version\": 2, \"unset\": [\"access_token_lifetime\"]}", c.id);
    assert_false (json_object_get (json_object_get (r, "client"), "access_token_lifetime"));
    json_decref (r);
    assert_int_equal (s_cc (&c, c.secret, &expires_in, NULL, 0), 0);
    assert_int_equal (expires_in, 600);
}

//  A lifetime keys-svc would refuse to sign (OSTIARY_KEYS_TOKEN_LIFETIME_MAX)
//  is refused at the update, naming the member, not at every issue after.
static void
test_lifetime_beyond_what_keys_svc_signs_is_refused_at_update (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ttlmax");
    const char *members[] = {"access_token_lifetime", "id_token_lifetime"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        json_t *r = NULL;
        bus_error_t e;
        assert_int_equal (svc_call (svc_h, "token.client_update", &r, &e,
                                    "{\"client_id\": \"%s\", \"version\": 1, \"%s\": 7201}", c.id,
                                    members[i]),
                          -1);
        assert_string_equal (e.code, "invalid_request");
        assert_int_equal (strncmp (e.description, members[i], strlen (members[i])), 0);
    }
    assert_int_equal (s_version (&c), 1);
    long long expires_in = 0;
    assert_int_equal (s_cc (&c, c.secret, &expires_in, NULL, 0), 0);
    assert_int_equal (expires_in, 600);
    //  At the bound: stored and issued.
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"access_token_lifetime\": 7200,"
                         " \"id_token_lifetime\": 7200}",
                         c.id));
    assert_int_equal (s_cc (&c, c.secret, &expires_in, NULL, 0), 0);
    assert_int_equal (expires_in, 7200);
}

static void
test_update_is_audited_with_before_and_after_without_secrets (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "aud");
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"scopes\": [\"openid\", \"email\"]}",
                         c.id));
    json_t *ev = s_last_event ("client_update", &c);
    assert_string_equal (svc_str (ev, "actor"), "admin");
    assert_string_equal (svc_str (ev, "client_id"), c.id);
    const json_t *details = json_object_get (ev, "details");
    assert_int_equal (json_array_size (json_object_get (json_object_get (details, "before"), "scopes")), 1);
    assert_int_equal (json_array_size (json_object_get (json_object_get (details, "after"), "scopes")), 2);
    assert_int_equal (svc_int (ev, "details.before.version"), 1);
    assert_int_equal (svc_int (ev, "details.after.version"), 2);
    const json_t *changed = json_object_get (details, "changed");
    assert_int_equal (json_array_size (changed), 1);
    assert_string_equal (json_string_value (json_array_get (changed, 0)), "scopes");
    json_decref (ev);
    //  No secret and no hash of one anywhere in the trail.
    char hash[80];
    svc_sql_text (svc_h, hash, sizeof hash,
                  "SELECT encode(secret_hash, 'hex') FROM token.clients WHERE client_id = '%s'", c.id);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.audit_events WHERE subject = '%s'"
                                    " AND (details::text LIKE '%%%s%%' OR details::text LIKE '%%%s%%')",
                                    c.id, c.secret, hash),
                      0);
}

static void
test_rotation_with_overlap_accepts_both_secrets_until_it_ends (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "ovl");
    json_t *r = svc_ok (svc_h, "token.client_rotate_secret",
                        "{\"client_id\": \"%s\", \"overlap_seconds\": 3600}", c.id);
    char fresh[128];
    snprintf (fresh, sizeof fresh, "%s", svc_str (r, "client_secret"));
    long long until = svc_int (r, "previous_secret_expires_at");
    assert_int_equal (svc_int (r, "version"), 2);
    json_decref (r);
    assert_true (until > (long long)time (NULL) + 3500 && until <= (long long)time (NULL) + 3601);
    //  Both secrets work during the overlap; a wrong one never does.
    assert_int_equal (s_cc (&c, fresh, NULL, NULL, 0), 0);
    assert_int_equal (s_cc (&c, c.secret, NULL, NULL, 0), 0);
    char code[48];
    assert_int_equal (s_cc (&c, "wrong-secret", NULL, code, sizeof code), -1);
    //  The overlap ends (made to end now): the old one stops, the new one works.
    svc_sql_exec (svc_h,
                  "UPDATE token.clients SET previous_secret_expires_at = now() - interval '1 second'"
                  " WHERE client_id = '%s'",
                  c.id);
    assert_int_equal (s_cc (&c, c.secret, NULL, code, sizeof code), -1);
    assert_string_equal (code, "invalid_client");
    assert_int_equal (s_cc (&c, fresh, NULL, NULL, 0), 0);
    json_t *ev = s_last_event ("client_rotate_secret", &c);
    assert_int_equal (svc_int (ev, "details.overlap_seconds"), 3600);
    json_decref (ev);
}

static void
test_rotation_without_overlap_ends_the_old_secret_at_once (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "now");
    //  An overlap running, then a rotation without one: every old secret ends.
    json_t *r = svc_ok (svc_h, "token.client_rotate_secret",
                        "{\"client_id\": \"%s\", \"overlap_seconds\": 600}", c.id);
    char second[128];
    snprintf (second, sizeof second, "%s", svc_str (r, "client_secret"));
    json_decref (r);
    r = svc_ok (svc_h, "token.client_rotate_secret", "{\"client_id\": \"%s\"}", c.id);
    char third[128];
    snprintf (third, sizeof third, "%s", svc_str (r, "client_secret"));
    assert_false (json_object_get (r, "previous_secret_expires_at"));
    json_decref (r);
    assert_int_equal (s_cc (&c, c.secret, NULL, NULL, 0), -1);
    assert_int_equal (s_cc (&c, second, NULL, NULL, 0), -1);
    assert_int_equal (s_cc (&c, third, NULL, NULL, 0), 0);
    //  A stale version, and an overlap beyond the bound, change nothing.
    assert_string_equal (
        svc_err (svc_h, "token.client_rotate_secret", "{\"client_id\": \"%s\", \"version\": 1}", c.id),
        "conflict");
    assert_string_equal (svc_err (svc_h, "token.client_rotate_secret",
                                  "{\"client_id\": \"%s\", \"overlap_seconds\": 604801}", c.id),
                         "invalid_request");
    assert_int_equal (s_cc (&c, third, NULL, NULL, 0), 0);
    assert_int_equal (s_version (&c), 3);
}

static void
test_frontchannel_logout_is_kept_changed_and_unset (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    svc_client_t c;
    s_client (&c, "front");
    json_decref (svc_ok (svc_h, "token.client_update",
                         "{\"client_id\": \"%s\", \"version\": 1, \"frontchannel_logout_uri\":"
                         " \"https://rp.example/front\", \"frontchannel_logout_session_required\": true}",
                         c.id));
    //  An update of something else keeps them, and its audit event does
    //  not name them as changed.
    json_t *r = svc_ok (svc_h, "token.client_update",
                        "{\"client_id\": \"%s\", \"version\": 2, \"name\": \"F\"}", c.id);
    assert_string_equal (svc_str (r, "client.frontchannel_logout_uri"), "https://rp.example/front");
    assert_true (json_is_true (
        json_object_get (json_object_get (r, "client"), "frontchannel_logout_session_required")));
    json_decref (r);
    assert_int_equal (svc_sql_long (svc_h,
                                    "SELECT count(*) FROM token.audit_events WHERE event = 'client_update'"
                                    " AND subject = '%s' AND details->'changed' = '[\"name\"]'::jsonb",
                                    c.id),
                      1);
    //  Unset it (the session flag needs it, so it goes too).
    r = svc_ok (svc_h, "token.client_update",
                "{\"client_id\": \"%s\", \"version\": 3, \"unset\": [\"frontchannel_logout_uri\"],"
                " \"frontchannel_logout_session_required\": false}",
                c.id);
    assert_false (json_object_get (json_object_get (r, "client"), "frontchannel_logout_uri"));
    json_decref (r);
    assert_int_equal (
        svc_sql_long (
            svc_h,
            "SELECT count(*) FROM token.clients WHERE client_id = '%s' AND frontchannel_logout_uri IS NULL",
            c.id),
        1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_update_changes_redirect_uris_and_bumps_the_version),
        cmocka_unit_test (test_stale_version_is_a_conflict_and_changes_nothing),
        cmocka_unit_test (test_update_holds_the_registration_rules),
        cmocka_unit_test (test_pkce_choice_can_be_set_and_unset),
        cmocka_unit_test (test_disabled_client_is_refused_until_enabled),
        cmocka_unit_test (test_token_lifetimes_of_the_client_replace_the_servers),
        cmocka_unit_test (test_lifetime_beyond_what_keys_svc_signs_is_refused_at_update),
        cmocka_unit_test (test_update_is_audited_with_before_and_after_without_secrets),
        cmocka_unit_test (test_rotation_with_overlap_accepts_both_secrets_until_it_ends),
        cmocka_unit_test (test_rotation_without_overlap_ends_the_old_secret_at_once),
        cmocka_unit_test (test_frontchannel_logout_is_kept_changed_and_unset),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
