/*  svc_harness - the bus services inside a test process. */
#include "svc_harness.h"

//  cmocka.h needs these first.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64url.h"
#include "broker.h"
#include "bus_curve.h"
#include "config.h"
#include "log.h"
#include "pidcache.h"
#include "pkce.h"
#include "secure.h"
#include "service.h"

#include "flow-svc/flow_service.h"
#include "keys-svc/keys_service.h"
#include "token-svc/token_service.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SVC_COUNT 3

struct _svc_harness_t {
    char endpoint[64];
    char run_dir[64];
    zactor_t *broker;
    bus_curve_t *curve;
    service_def_t defs[SVC_COUNT];
    config_t *cfgs[SVC_COUNT];
    service_t *services[SVC_COUNT];
    bus_client_t *client;
    PGconn *pg;
    char last_code[48];
};

static void
s_random_key (char *out, size_t size)
{
    unsigned char raw[32];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    assert_true (size > b64url_encoded_len (sizeof raw));
    b64url_encode (raw, sizeof raw, out);
}

static void
s_set (config_t *cfg, const char *name, const char *value)
{
    const char *why = NULL;
    if (config_set (cfg, name, value, &why) != 0)
        fail_msg ("setting %s: %s", name, why ? why : "refused");
}

static void
s_drop_schemas (PGconn *pg)
{
    PGresult *res = PQexec (pg, "SET client_min_messages = warning; "
                                "DROP SCHEMA IF EXISTS token, flow, keys CASCADE");
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("dropping the service schemas: %s", PQerrorMessage (pg));
    PQclear (res);
}

svc_harness_t *
svc_harness_new (const char *const *settings)
{
    const char *conninfo = getenv ("OSTIARY_TEST_DB");
    if (!conninfo || !*conninfo)
        return NULL;
    svc_harness_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    pidcache_init ();
    log_init ("svctest", (log_level_t)log_level_parse (getenv ("OSTIARY_SVC_LOG") ? getenv ("OSTIARY_SVC_LOG")
                                                                                  : "error"));
    zsys_init ();
    zsys_set_logstream (NULL);

    self->pg = PQconnectdb (conninfo);
    if (PQstatus (self->pg) != CONNECTION_OK)
        fail_msg ("OSTIARY_TEST_DB: %s", PQerrorMessage (self->pg));
    s_drop_schemas (self->pg);

    snprintf (self->endpoint, sizeof self->endpoint, "inproc://svc-harness-%d", (int)getpid ());
    snprintf (self->run_dir, sizeof self->run_dir, "/tmp/svc-harness-XXXXXX");
    assert_non_null (mkdtemp (self->run_dir));

    const char *why = NULL;
    self->curve = bus_curve_new (0, NULL, NULL, &why);
    assert_non_null (self->curve);
    broker_cfg_t bcfg = {
        .endpoint = self->endpoint, .heartbeat_ms = 1000, .liveness = 3, .curve = self->curve};
    self->broker = broker_new (&bcfg);
    assert_non_null (self->broker);

    char kek[64], client_key[64], flow_key[64];
    s_random_key (kek, sizeof kek);
    s_random_key (client_key, sizeof client_key);
    s_random_key (flow_key, sizeof flow_key);
    const char *migrations = getenv ("OSTIARY_MIGRATIONS_DIR");
    //  keys-svc first: token-svc signs with it.
    self->defs[0] = keys_service_def ();
    self->defs[1] = token_service_def ();
    self->defs[2] = flow_service_def ();
    for (int i = 0; i < SVC_COUNT; i++) {
        config_t *cfg = config_new ();
        assert_non_null (cfg);
        self->cfgs[i] = cfg;
        s_set (cfg, "OSTIARY_DB", conninfo);
        s_set (cfg, "OSTIARY_BUS_ENDPOINT", self->endpoint);
        s_set (cfg, "OSTIARY_BUS_CURVE", "0");
        s_set (cfg, "OSTIARY_WORKERS", "2");
        s_set (cfg, "OSTIARY_MIGRATIONS_DIR", migrations && *migrations ? migrations : "migrations");
        s_set (cfg, "OSTIARY_RUN_DIR", self->run_dir);
        s_set (cfg, "OSTIARY_KEYS_ADMIN", "none");
        s_set (cfg, "OSTIARY_KEK", kek);
        s_set (cfg, "OSTIARY_CLIENT_SECRET_KEY", client_key);
        s_set (cfg, "OSTIARY_FLOW_SECRET_KEY", flow_key);
        //  The cheapest Argon2id config.def allows: a login costs
        //  milliseconds, not the production setting's tens of them.
        s_set (cfg, "OSTIARY_ARGON2_T_COST", "1");
        s_set (cfg, "OSTIARY_ARGON2_M_COST_KIB", "7168");
        s_set (cfg, "OSTIARY_FLOWS_DIR", "flows");
        //  No SMTP server listens there: mail stays queued in the outbox,
        //  where the tests read it.
        s_set (cfg, "OSTIARY_SMTP_URL", "smtp://127.0.0.1:9");
        s_set (cfg, "OSTIARY_OUTBOX_POLL_MS", "60000");
        s_set (cfg, "OSTIARY_JANITOR_INTERVAL", "86400");
        for (size_t s = 0; settings && settings[s]; s++) {
            char name[128];
            const char *eq = strchr (settings[s], '=');
            assert_non_null (eq);
            assert_true ((size_t)(eq - settings[s]) < sizeof name);
            memcpy (name, settings[s], (size_t)(eq - settings[s]));
            name[eq - settings[s]] = '\0';
            s_set (cfg, name, eq + 1);
        }
        assert_int_equal (config_validate (cfg, self->defs[i].req_flag), 0);
        int exit_code = 0;
        self->services[i] = service_new (&self->defs[i], cfg, self->curve, &exit_code);
        if (!self->services[i])
            fail_msg ("%s-svc did not start (exit code %d)", self->defs[i].name, exit_code);
    }

    self->client = bus_client_new (self->endpoint, 0, self->curve);
    assert_non_null (self->client);
    //  The worker threads announce READY to the broker on their own; wait
    //  until each service has one (bounded).
    for (int i = 0; i < SVC_COUNT; i++) {
        int ready = 0;
        for (int tries = 0; tries < 100 && ready != 1; tries++)
            if ((ready = bus_client_service_ready (self->client, self->defs[i].name, 100)) != 1)
                zclock_sleep (20);
        if (ready != 1)
            fail_msg ("%s-svc has no worker at the broker", self->defs[i].name);
    }
    return self;
}

void
svc_harness_destroy (svc_harness_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    svc_harness_t *self = *self_p;
    bus_client_destroy (&self->client);
    //  flow-svc and token-svc call keys-svc: stop them first.
    for (int i = SVC_COUNT - 1; i >= 0; i--) {
        service_destroy (&self->services[i]);
        config_destroy (&self->cfgs[i]);
    }
    zactor_destroy (&self->broker);
    bus_curve_destroy (&self->curve);
    if (self->pg) {
        s_drop_schemas (self->pg);
        PQfinish (self->pg);
    }
    rmdir (self->run_dir);
    free (self);
    *self_p = NULL;
}

int
svc_call_json (svc_harness_t *self, const char *op, const json_t *body, json_t **result, bus_error_t *error)
{
    *result = NULL;
    memset (error, 0, sizeof *error);
    return bus_client_call (self->client, op, body, 0, result, error);
}

bus_client_t *
svc_harness_client_new (svc_harness_t *self)
{
    bus_client_t *client = bus_client_new (self->endpoint, 0, self->curve);
    assert_non_null (client);
    return client;
}

svc_harness_t *svc_h;

int
svc_setup (void **state)
{
    OST_UNUSED (state);
    svc_h = svc_harness_new (NULL);
    return 0;
}

int
svc_teardown (void **state)
{
    OST_UNUSED (state);
    svc_harness_destroy (&svc_h);
    return 0;
}

static json_t *
s_body (const char *fmt, va_list args)
{
    if (!fmt || !*fmt)
        return json_object ();
    char *text = NULL;
    assert_true (vasprintf (&text, fmt, args) >= 0);
    json_error_t jerr;
    json_t *body = json_loads (text, 0, &jerr);
    if (!body)
        fail_msg ("test body is not JSON (%s): %s", jerr.text, text);
    free (text);
    return body;
}

int
svc_call (svc_harness_t *self, const char *op, json_t **result, bus_error_t *error, const char *body_fmt, ...)
{
    va_list args;
    va_start (args, body_fmt);
    json_t *body = s_body (body_fmt, args);
    va_end (args);
    int rc = svc_call_json (self, op, body, result, error);
    json_decref (body);
    return rc;
}

json_t *
svc_ok (svc_harness_t *self, const char *op, const char *body_fmt, ...)
{
    va_list args;
    va_start (args, body_fmt);
    json_t *body = s_body (body_fmt, args);
    va_end (args);
    json_t *result = NULL;
    bus_error_t error;
    if (svc_call_json (self, op, body, &result, &error) != 0) {
        char *text = json_dumps (body, JSON_COMPACT);
        fail_msg ("%s %s: %s (%s)", op, text, error.code, error.description);
    }
    json_decref (body);
    assert_non_null (result);
    return result;
}

const char *
svc_err (svc_harness_t *self, const char *op, const char *body_fmt, ...)
{
    va_list args;
    va_start (args, body_fmt);
    json_t *body = s_body (body_fmt, args);
    va_end (args);
    json_t *result = NULL;
    bus_error_t error;
    if (svc_call_json (self, op, body, &result, &error) == 0) {
        char *text = json_dumps (body, JSON_COMPACT);
        char *answer = json_dumps (result, JSON_COMPACT);
        fail_msg ("%s %s succeeded: %s", op, text, answer);
    }
    json_decref (body);
    snprintf (self->last_code, sizeof self->last_code, "%s", error.code);
    return self->last_code;
}

void
svc_refused_naming (svc_harness_t *self, const char *op, const json_t *body, const char *why)
{
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (self, op, body, &r, &e) == 0)
        fail_msg ("%s %s succeeded", op, json_dumps (body, JSON_COMPACT));
    char want[256];
    snprintf (want, sizeof want, "invalid request: %s", why);
    if (strcmp (e.code, "invalid_request") != 0 || strcmp (e.description, want) != 0)
        fail_msg ("%s %s: %s (%s), not invalid_request (%s)", op, json_dumps (body, JSON_COMPACT), e.code,
                  e.description, want);
}

void
svc_refused_text (svc_harness_t *self, const char *op, const char *why, const char *body_fmt, ...)
{
    va_list args;
    va_start (args, body_fmt);
    json_t *body = s_body (body_fmt, args);
    va_end (args);
    svc_refused_naming (self, op, body, why);
    json_decref (body);
}

void
svc_client (svc_harness_t *self, svc_client_t *c, const char *prefix, const char *members_fmt, ...)
{
    memset (c, 0, sizeof *c);
    svc_unique (c->id, sizeof c->id, prefix);
    snprintf (c->redirect_uri, sizeof c->redirect_uri, SVC_RP "%s", c->id);
    char *members = NULL;
    va_list args;
    va_start (args, members_fmt);
    assert_true (vasprintf (&members, members_fmt, args) >= 0);
    va_end (args);
    char *text = NULL;
    assert_true (asprintf (&text, "{%s}", members) >= 0);
    json_error_t jerr;
    json_t *extra = json_loads (text, 0, &jerr);
    if (!extra)
        fail_msg ("not JSON (%s): %s", jerr.text, text);
    json_t *body =
        json_pack ("{s:s, s:s, s:[s]}", "client_id", c->id, "name", "Test", "redirect_uris", c->redirect_uri);
    assert_non_null (body);
    assert_int_equal (json_object_update (body, extra), 0);
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (self, "token.client_add", body, &r, &e) != 0)
        fail_msg ("token.client_add %s: %s (%s)", text, e.code, e.description);
    const json_t *secret = json_object_get (r, "client_secret");
    if (json_is_string (secret))
        snprintf (c->secret, sizeof c->secret, "%s", json_string_value (secret));
    snprintf (c->method, sizeof c->method, "%s", svc_str (r, "client.token_endpoint_auth_method"));
    json_decref (r);
    json_decref (body);
    json_decref (extra);
    free (text);
    free (members);
}

void
svc_user (svc_harness_t *self, const char *prefix, int admin, char *username, size_t usize, char *sub,
          size_t ssize)
{
    svc_unique (username, usize, prefix);
    json_t *r = svc_ok (self, "flow.user_add", "{\"username\": \"%s\", \"password\": \"" SVC_PASSWORD "\"}",
                        username);
    snprintf (sub, ssize, "%s", svc_str (r, "user.sub"));
    json_decref (r);
    if (admin)
        json_decref (
            svc_ok (self, "flow.user_set_admin", "{\"username\": \"%s\", \"admin\": true}", username));
}

void
svc_pkce (char verifier[44], char challenge[44])
{
    unsigned char raw[32];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    b64url_encode (raw, sizeof raw, verifier);
    assert_int_equal (pkce_s256 (verifier, challenge), 0);
}

json_t *
svc_code_tokens (svc_harness_t *self, const svc_client_t *c, const char *sub, const char *scope,
                 const char *sid)
{
    char verifier[44], challenge[PKCE_CHALLENGE_SIZE];
    svc_pkce (verifier, challenge);
    json_t *params = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "response_type", "code", "client_id", c->id,
                                "redirect_uri", c->redirect_uri, "scope", scope, "code_challenge", challenge,
                                "code_challenge_method", "S256");
    json_t *body = json_pack ("{s:o}", "params", params);
    json_t *r = NULL;
    bus_error_t e;
    if (svc_call_json (self, "token.authorize", body, &r, &e) != 0)
        fail_msg ("token.authorize for %s: %s (%s)", c->id, e.code, e.description);
    json_decref (body);
    body = json_pack ("{s:s, s:s, s:s, s:I}", "request_id", svc_str (r, "request.request_id"), "sub", sub,
                      "sid", sid, "auth_time", (json_int_t)time (NULL) - 1);
    json_decref (r);
    if (svc_call_json (self, "token.issue_code", body, &r, &e) != 0)
        fail_msg ("token.issue_code for %s: %s (%s)", c->id, e.code, e.description);
    json_decref (body);
    json_t *form = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "grant_type", "authorization_code", "code",
                              svc_str (r, "redirect.params.code"), "redirect_uri", c->redirect_uri,
                              "code_verifier", verifier, "client_id", c->id);
    json_decref (r);
    if (c->secret[0])
        json_object_set_new (form, "client_secret", json_string (c->secret));
    body = json_pack ("{s:o}", "form", form);
    if (svc_call_json (self, "token.exchange", body, &r, &e) != 0)
        fail_msg ("token.exchange for %s: %s (%s)", c->id, e.code, e.description);
    json_decref (body);
    return r;
}

json_t *
svc_jws_payload (const char *jws)
{
    const char *p = strchr (jws, '.');
    assert_non_null (p);
    p++;
    const char *end = strchr (p, '.');
    assert_non_null (end);
    char payload[4096];
    long n = b64url_decode (p, (size_t)(end - p), payload, sizeof payload - 1);
    assert_true (n > 0);
    payload[n] = '\0';
    json_t *claims = json_loads (payload, 0, NULL);
    assert_non_null (claims);
    return claims;
}

static PGresult *
s_sql (svc_harness_t *self, const char *fmt, va_list args)
{
    char *sql = NULL;
    assert_true (vasprintf (&sql, fmt, args) >= 0);
    PGresult *res = PQexec (self->pg, sql);
    ExecStatusType st = PQresultStatus (res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg ("%s: %s", sql, PQerrorMessage (self->pg));
    free (sql);
    return res;
}

long
svc_sql_long (svc_harness_t *self, const char *sql_fmt, ...)
{
    va_list args;
    va_start (args, sql_fmt);
    PGresult *res = s_sql (self, sql_fmt, args);
    va_end (args);
    if (PQntuples (res) < 1 || PQgetisnull (res, 0, 0))
        fail_msg ("%s: no value", sql_fmt);
    long value = strtol (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    return value;
}

void
svc_sql_text (svc_harness_t *self, char *out, size_t size, const char *sql_fmt, ...)
{
    va_list args;
    va_start (args, sql_fmt);
    PGresult *res = s_sql (self, sql_fmt, args);
    va_end (args);
    if (PQntuples (res) < 1)
        fail_msg ("%s: no row", sql_fmt);
    snprintf (out, size, "%s", PQgetisnull (res, 0, 0) ? "(null)" : PQgetvalue (res, 0, 0));
    PQclear (res);
}

void
svc_sql_exec (svc_harness_t *self, const char *sql_fmt, ...)
{
    va_list args;
    va_start (args, sql_fmt);
    PGresult *res = s_sql (self, sql_fmt, args);
    va_end (args);
    PQclear (res);
}

static const json_t *
s_member (const json_t *obj, const char *path)
{
    char key[128];
    const json_t *at = obj;
    const char *p = path;
    while (at && *p) {
        const char *dot = strchr (p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen (p);
        assert_true (n < sizeof key);
        memcpy (key, p, n);
        key[n] = '\0';
        at = json_is_array (at) ? json_array_get (at, strtoul (key, NULL, 10)) : json_object_get (at, key);
        p += n + (dot ? 1 : 0);
    }
    if (!at) {
        char *text = json_dumps (obj, JSON_COMPACT);
        fail_msg ("no member %s in %s", path, text);
    }
    return at;
}

const char *
svc_str (const json_t *obj, const char *path)
{
    const json_t *v = s_member (obj, path);
    if (!json_is_string (v))
        fail_msg ("member %s is not a string", path);
    return json_string_value (v);
}

long long
svc_int (const json_t *obj, const char *path)
{
    const json_t *v = s_member (obj, path);
    if (!json_is_integer (v))
        fail_msg ("member %s is not an integer", path);
    return (long long)json_integer_value (v);
}

int
svc_bool (const json_t *obj, const char *path)
{
    const json_t *v = s_member (obj, path);
    if (!json_is_boolean (v))
        fail_msg ("member %s is not a boolean", path);
    return json_is_true (v);
}

void
svc_unique (char *out, size_t size, const char *prefix)
{
    unsigned char raw[5];
    char hex[11];
    assert_int_equal (secure_random (raw, sizeof raw), 0);
    secure_hex (raw, sizeof raw, hex);
    snprintf (out, size, "%s%s", prefix, hex);
}

//  Appends to out the scans of plan (EXPLAIN's JSON) that are sequential.
static void
s_seq_scan_names (const json_t *node, char *out, size_t size)
{
    const char *type = json_string_value (json_object_get (node, "Node Type"));
    const char *rel = json_string_value (json_object_get (node, "Relation Name"));
    if (type && strcmp (type, "Seq Scan") == 0) {
        size_t len = strlen (out);
        snprintf (out + len, size - len, " Seq Scan on %s;", rel ? rel : "?");
    }
    const json_t *plans = json_object_get (node, "Plans");
    size_t i;
    const json_t *child;
    json_array_foreach (plans, i, child) s_seq_scan_names (child, out, size);
}

int
svc_seq_scans (db_t *db, const char *const *executes, size_t n)
{
    static const char *const modes[] = {"force_generic_plan", "force_custom_plan"};
    int bad = 0;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char sql[512];
        snprintf (sql, sizeof sql, "SET plan_cache_mode = %s", modes[m]);
        assert_int_equal (db_exec_sql (db, sql), DB_OK);
        for (size_t i = 0; i < n; i++) {
            snprintf (sql, sizeof sql, "EXPLAIN (FORMAT JSON) EXECUTE %s", executes[i]);
            PGresult *res = PQexec (db_conn (db), sql);
            assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
            json_t *plan = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
            PQclear (res);
            assert_non_null (plan);
            char seq[512] = "";
            s_seq_scan_names (json_object_get (json_array_get (plan, 0), "Plan"), seq, sizeof seq);
            json_decref (plan);
            if (*seq) {
                print_error ("%s (%s):%s\n", executes[i], modes[m], seq);
                bad++;
            }
        }
    }
    return bad;
}
