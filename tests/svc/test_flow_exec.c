/*  flow-svc's ops in-process (tests/svc/svc_harness.h) with the Argon2id
 *  cost of config.def's defaults, not the harness's cheap one: requests that
 *  proto/ops.def forbids are refused before the handler runs (nothing
 *  changes, a refused submission is not counted), handles and passwords are
 *  stored only as hashes, two submissions of one execution at the same
 *  moment complete it once, an unknown user costs a password verification
 *  like a known one, and a hash of other parameters is replaced at login. */
//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "config.h"
#include "secure.h"
#include "svc_harness.h"

#include <argon2.h>
#include <czmq.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD "correct horse battery staple"
#define CLIENT_IP "198.18.0.9"
//  OSTIARY_LOGIN_MAX_ATTEMPTS's default.
#define MAX_ATTEMPTS 5

//  The Argon2id parameters of config.def's defaults, as a stored hash names them.
static char s_argon2_prefix[64];

static int
s_setup (void **state)
{
    OST_UNUSED (state);
    config_t *defaults = config_new ();
    assert_non_null (defaults);
    char t_cost[64], m_cost[64];
    snprintf (t_cost, sizeof t_cost, "OSTIARY_ARGON2_T_COST=%ld", defaults->argon2_t_cost);
    snprintf (m_cost, sizeof m_cost, "OSTIARY_ARGON2_M_COST_KIB=%ld", defaults->argon2_m_cost_kib);
    snprintf (s_argon2_prefix, sizeof s_argon2_prefix, "$argon2id$v=19$m=%ld,t=%ld,p=%ld$",
              defaults->argon2_m_cost_kib, defaults->argon2_t_cost, defaults->argon2_parallelism);
    config_destroy (&defaults);
    const char *settings[] = {t_cost, m_cost, NULL};
    svc_h = svc_harness_new (settings);
    return 0;
}

//  --------------------------------------------------------------- helpers

//  A new user with PASSWORD; its username and sub.
static void
s_user (char *username, char *sub)
{
    svc_unique (username, 64, "u");
    json_t *r =
        svc_ok (svc_h, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" PASSWORD "\"}", username);
    if (sub)
        snprintf (sub, 64, "%s", svc_str (r, "user.sub"));
    json_decref (r);
}

//  flow.start of the login flow; the state (with "flow" and "csrf").
static json_t *
s_start (void)
{
    char rid[64];
    svc_unique (rid, sizeof rid, "req-");
    return svc_ok (svc_h, "flow.start",
                   "{\"request_id\": \"%s\", \"purpose\": \"login\", \"client_ip\": \"" CLIENT_IP "\"}", rid);
}

//  The body of a password submission of flow (its own csrf).
static json_t *
s_submit_body (const json_t *flow, const char *username, const char *password)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:{s:s, s:s}, s:s}", "flow", svc_str (flow, "flow"), "csrf",
                              svc_str (flow, "csrf"), "node", "password", "input", "username", username,
                              "password", password, "client_ip", CLIENT_IP);
    assert_non_null (body);
    return body;
}

static int
s_submit (const json_t *flow, const char *username, const char *password, json_t **result, bus_error_t *error)
{
    json_t *body = s_submit_body (flow, username, password);
    int rc = svc_call_json (svc_h, "flow.submit", body, result, error);
    json_decref (body);
    return rc;
}

//  A successful login of username with password: the final state (with "result").
static json_t *
s_login (const char *username, const char *password, json_t **flow_out)
{
    json_t *flow = s_start ();
    json_t *r = NULL;
    bus_error_t e;
    if (s_submit (flow, username, password, &r, &e) != 0)
        fail_msg ("flow.submit: %s (%s)", e.code, e.description);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    svc_str (r, "result.session");
    if (flow_out)
        *flow_out = flow;
    else
        json_decref (flow);
    return r;
}

//  --------------------------------------------------------------- requests outside proto/ops.def

static void
test_user_ops_refuse_what_proto_ops_def_forbids_before_the_handler (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64], other[64], long_pw[1026], long_after[66];
    s_user (username, sub);
    svc_unique (other, sizeof other, "ok");
    memset (long_pw, 'p', 1025);
    long_pw[1025] = '\0';
    memset (long_after, 'x', 65);
    long_after[65] = '\0';
    svc_refused_text (svc_h, "flow.user_get", "admin: unknown member",
                      "{\"username\": \"%s\", \"admin\": true}", username);
    svc_refused_text (svc_h, "flow.user_passwd", "password: too long (at most 1024 bytes)",
                      "{\"username\": \"%s\", \"password\": \"%s\"}", username, long_pw);
    svc_refused_text (svc_h, "flow.user_disable", "disabled: must be true or false",
                      "{\"username\": \"%s\", \"disabled\": \"yes\"}", username);
    svc_refused_text (svc_h, "flow.user_claims", "scopes: must not contain control characters",
                      "{\"sub\": \"%s\", \"scopes\": [\"openid\\u0007\"]}", sub);
    svc_refused_text (svc_h, "flow.user_add", "nickname: must not contain control characters",
                      "{\"username\": \"%s\", \"nickname\": \"a\\u0085b\"}", other);
    svc_refused_text (svc_h, "flow.user_list", "after: too long (at most 64 bytes)", "{\"after\": \"%s\"}",
                      long_after);
    //  Nothing changed: the password is the old one, the user is enabled,
    //  the refused user_add stored nobody.
    json_decref (s_login (username, PASSWORD, NULL));
    json_t *r = svc_ok (svc_h, "flow.user_get", "{\"username\": \"%s\"}", username);
    assert_false (svc_bool (r, "user.disabled"));
    json_decref (r);
    assert_string_equal (svc_err (svc_h, "flow.user_get", "{\"username\": \"%s\"}", other), "not_found");
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.users WHERE username = '%s'", other),
                      0);
}

static void
test_flow_ops_refuse_what_proto_ops_def_forbids_before_the_handler (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    json_t *flow = s_start ();
    char long_ip[66];
    memset (long_ip, '1', 65);
    long_ip[65] = '\0';
    svc_refused_text (svc_h, "flow.session_get", "sid: unknown member",
                      "{\"session\": \"x\", \"sid\": \"y\"}");
    svc_refused_text (svc_h, "flow.start", "client_ip: too long (at most 64 bytes)",
                      "{\"request_id\": \"r\", \"client_ip\": \"%s\"}", long_ip);
    svc_refused_text (svc_h, "flow.get", "flow: must be a string", "{\"flow\": [\"a\"]}");
    //  Submissions whose input does not fit: a number, 17 members, 1025 bytes.
    json_t *body = s_submit_body (flow, "a", "b");
    json_object_set_new (json_object_get (body, "input"), "password", json_integer (5));
    svc_refused_naming (svc_h, "flow.submit", body, "input: must be a string");
    json_t *many = json_object ();
    for (int i = 0; i < 17; i++) {
        char key[8];
        snprintf (key, sizeof key, "f%d", i);
        json_object_set_new (many, key, json_string (""));
    }
    json_object_set_new (body, "input", many);
    svc_refused_naming (svc_h, "flow.submit", body, "input: too many members (at most 16)");
    char long_pw[1026];
    memset (long_pw, 'p', 1025);
    long_pw[1025] = '\0';
    json_object_set_new (body, "input", json_pack ("{s:s, s:s}", "username", "a", "password", long_pw));
    svc_refused_naming (svc_h, "flow.submit", body, "input: too long (at most 1024 bytes)");
    json_object_set_new (body, "input", json_object ());
    json_object_set_new (body, "node", json_string ("password\n"));
    svc_refused_naming (svc_h, "flow.submit", body, "node: must not contain control characters");
    json_decref (body);
    //  None of them was counted: the handler, which counts first, never ran.
    json_t *got = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_int_equal (svc_int (got, "attempts"), 0);
    assert_int_equal (svc_int (got, "step.attempts_left"), MAX_ATTEMPTS);
    json_decref (got);
    json_decref (flow);
}

static void
test_login_answer_names_its_request_and_flow_get_its_session (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], rid[64];
    s_user (username, NULL);
    svc_unique (rid, sizeof rid, "req-");
    json_t *flow =
        svc_ok (svc_h, "flow.start",
                "{\"request_id\": \"%s\", \"purpose\": \"login\", \"client_ip\": \"" CLIENT_IP "\"}", rid);
    json_t *r = NULL;
    bus_error_t e;
    assert_int_equal (s_submit (flow, username, PASSWORD, &r, &e), 0);
    assert_string_equal (svc_str (r, "status"), "succeeded");
    assert_string_equal (svc_str (r, "request_id"), rid);
    json_t *got = svc_ok (svc_h, "flow.get", "{\"flow\": \"%s\"}", svc_str (flow, "flow"));
    assert_string_equal (svc_str (got, "status"), "succeeded");
    assert_string_equal (svc_str (got, "session.sid"), svc_str (r, "result.sid"));
    json_decref (got);
    json_decref (r);
    json_decref (flow);
}

//  --------------------------------------------------------------- storage

//  The hex SHA-256 of the bytes a base64url handle encodes (into hex).
static void
s_handle_hash (const char *handle, char *hex)
{
    unsigned char raw[64], digest[SHA256_DIGEST_LENGTH];
    long n = b64url_decode (handle, strlen (handle), raw, sizeof raw);
    assert_true (n > 0);
    SHA256 (raw, (size_t)n, digest);
    secure_hex (digest, sizeof digest, hex);
}

static void
test_secrets_are_stored_only_as_hashes (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    char username[64], sub[64], hex[2 * SHA256_DIGEST_LENGTH + 1], stored[128];
    s_user (username, sub);
    json_t *flow = NULL;
    json_t *out = s_login (username, PASSWORD, &flow);
    const char *session = svc_str (out, "result.session");
    const char *handle = svc_str (flow, "flow");
    //  The session's and the execution's handles are kept as SHA-256 of their bytes.
    s_handle_hash (session, hex);
    svc_sql_text (svc_h, stored, sizeof stored,
                  "SELECT encode(handle_hash, 'hex') FROM flow.sessions WHERE sid = '%s'",
                  svc_str (out, "result.sid"));
    assert_string_equal (stored, hex);
    s_handle_hash (handle, hex);
    assert_int_equal (
        svc_sql_long (svc_h, "SELECT count(*) FROM flow.executions WHERE handle_hash = '\\x%s'::bytea", hex),
        1);
    //  No row of these tables holds a handle or the password.
    const char *tables[] = {"users", "sessions", "executions"};
    const char *secrets[] = {session, handle, PASSWORD};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < 3; s++)
            if (svc_sql_long (svc_h, "SELECT count(*) FROM flow.%s x WHERE position('%s' in x::text) > 0",
                              tables[t], secrets[s]) != 0)
                fail_msg ("flow.%s holds secret %zu", tables[t], s);
    //  Argon2id with config.def's default parameters (OWASP: m=12 MiB, t=3, p=1).
    assert_string_equal (s_argon2_prefix, "$argon2id$v=19$m=12288,t=3,p=1$");
    svc_sql_text (svc_h, stored, sizeof stored,
                  "SELECT left(password_hash, %zu) FROM flow.users WHERE sub = '%s'",
                  strlen (s_argon2_prefix), sub);
    assert_string_equal (stored, s_argon2_prefix);
    json_decref (flow);
    json_decref (out);
}

static void
test_old_argon2_parameters_are_upgraded_at_login (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  A hash of the password made with t=2 (a deployment's earlier cost).
    char username[64], sub[64], encoded[256], salt[16], stored[256];
    s_user (username, sub);
    assert_int_equal (secure_random ((unsigned char *)salt, sizeof salt), 0);
    assert_int_equal (argon2id_hash_encoded (2, 12288, 1, PASSWORD, strlen (PASSWORD), salt, sizeof salt, 32,
                                             encoded, sizeof encoded),
                      ARGON2_OK);
    assert_non_null (strstr (encoded, "m=12288,t=2,p=1$"));
    svc_sql_exec (svc_h, "UPDATE flow.users SET password_hash = '%s' WHERE sub = '%s'", encoded, sub);
    //  The login succeeds and replaces the hash with one of today's parameters.
    json_decref (s_login (username, PASSWORD, NULL));
    svc_sql_text (svc_h, stored, sizeof stored, "SELECT password_hash FROM flow.users WHERE sub = '%s'", sub);
    assert_string_not_equal (stored, encoded);
    assert_int_equal (strncmp (stored, s_argon2_prefix, strlen (s_argon2_prefix)), 0);
    //  The new hash verifies.
    json_decref (s_login (username, PASSWORD, NULL));
}

//  --------------------------------------------------------------- one execution, two submissions

typedef struct {
    json_t *body;
    bus_client_t *client;
    pthread_barrier_t *go;
    int rc;
    json_t *result;
    bus_error_t error;
} s_racer_t;

static void *
s_race (void *arg)
{
    s_racer_t *self = (s_racer_t *)arg;
    //  Both threads submit once both are ready.
    pthread_barrier_wait (self->go);
    self->rc = bus_client_call (self->client, "flow.submit", self->body, 0, &self->result, &self->error);
    return NULL;
}

static void
test_concurrent_submissions_complete_the_flow_once (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  The guarded UPDATE lets exactly one of them create a session.
    char username[64], sub[64];
    s_user (username, sub);
    json_t *flow = s_start ();
    pthread_barrier_t go;
    assert_int_equal (pthread_barrier_init (&go, NULL, 2), 0);
    s_racer_t racers[2];
    pthread_t threads[2];
    memset (racers, 0, sizeof racers);
    for (int i = 0; i < 2; i++) {
        racers[i].body = s_submit_body (flow, username, PASSWORD);
        racers[i].client = svc_harness_client_new (svc_h);
        racers[i].go = &go;
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_race, &racers[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_join (threads[i], NULL), 0);
    pthread_barrier_destroy (&go);
    int won = -1, lost = -1;
    for (int i = 0; i < 2; i++) {
        if (racers[i].rc == 0)
            won = i;
        else
            lost = i;
    }
    if (won < 0 || lost < 0)
        fail_msg ("not one success and one refusal: %d (%s), %d (%s)", racers[0].rc, racers[0].error.code,
                  racers[1].rc, racers[1].error.code);
    assert_string_equal (svc_str (racers[won].result, "status"), "succeeded");
    svc_str (racers[won].result, "result.session");
    assert_string_equal (racers[lost].error.code, "invalid_flow");
    //  One session for the user: the winner's.
    assert_int_equal (svc_sql_long (svc_h, "SELECT count(*) FROM flow.sessions WHERE sub = '%s'", sub), 1);
    for (int i = 0; i < 2; i++) {
        json_decref (racers[i].body);
        json_decref (racers[i].result);
        bus_client_destroy (&racers[i].client);
    }
    json_decref (flow);
}

//  --------------------------------------------------------------- timing

//  Seconds flow.submit takes to refuse a wrong password for user.
static double
s_timed_failure (const char *user)
{
    json_t *flow = s_start ();
    json_t *r = NULL;
    bus_error_t e;
    int64_t t0 = zclock_usecs ();
    int rc = s_submit (flow, user, "not the password", &r, &e);
    int64_t t1 = zclock_usecs ();
    if (rc != 0)
        fail_msg ("flow.submit: %s", e.code);
    assert_string_equal (svc_str (r, "step.error"), "login_failed");
    json_decref (r);
    json_decref (flow);
    return (double)(t1 - t0) / 1e6;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_median5 (double *v)
{
    qsort (v, 5, sizeof *v, s_cmp_double);
    return v[2];
}

static void
test_unknown_user_costs_a_password_verification (void **state)
{
    OST_UNUSED (state);
    SVC_NEED_DB (svc_h);
    //  An unknown user is checked against a dummy Argon2id hash, so the time
    //  taken does not tell whether the username exists.
    char username[64], ghost[64];
    s_user (username, NULL);
    double known[5], unknown[5];
    for (int i = 0; i < 5; i++)
        known[i] = s_timed_failure (username);
    for (int i = 0; i < 5; i++) {
        svc_unique (ghost, sizeof ghost, "ghost");
        unknown[i] = s_timed_failure (ghost);
    }
    double k = s_median5 (known), u = s_median5 (unknown);
    if (!(u > 0.5 * k))
        fail_msg ("unknown user %.4f s, known user %.4f s", u, k);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_user_ops_refuse_what_proto_ops_def_forbids_before_the_handler),
        cmocka_unit_test (test_flow_ops_refuse_what_proto_ops_def_forbids_before_the_handler),
        cmocka_unit_test (test_login_answer_names_its_request_and_flow_get_its_session),
        cmocka_unit_test (test_secrets_are_stored_only_as_hashes),
        cmocka_unit_test (test_old_argon2_parameters_are_upgraded_at_login),
        cmocka_unit_test (test_concurrent_submissions_complete_the_flow_once),
        cmocka_unit_test (test_unknown_user_costs_a_password_verification),
    };
    return cmocka_run_group_tests (tests, s_setup, svc_teardown);
}
