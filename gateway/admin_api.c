/*  admin_api - the admin API under /admin/api/ (docs/admin/openapi.json is
 *  the one description of its routes and shapes): JSON over HTTP for an
 *  admin authenticated by a Bearer access token that Ostiary issued to the
 *  admin client with the admin scope.
 *
 *  The gateway never runs an admin op itself: every call goes through
 *  token.admin_call with the admin's token, and token-svc verifies the token
 *  (admin scope, admin client, the admin role asked again of flow-svc)
 *  before it runs the op (proto/bus.md, "Acting for an admin"). So 401 and
 *  403 are token-svc's answers, mapped here.
 *
 *  Every answer: application/json, Cache-Control: no-store. Errors have one
 *  shape, {"error", "error_description"[, "field"]}. Lists take limit and
 *  cursor and answer {"items", "next_cursor"?}. A client's ETag is its
 *  version, a setting's its value; updates require If-Match, and a stale one
 *  is 409 with nothing changed. */
#include "form.h"
#include "log.h"
#include "ops.h"
#include "routes.h"
#include "secure.h"
#include "settings_table.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/admin/api/"
#define TOKEN_MAX 8192
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 200
#define ID_MAX 64

//  ------------------------------------------------------------- answers

static int
s_json (gw_req_t *req, int status, const json_t *body, const char *etag)
{
    http_header_t extra[] = {{"ETag", etag}};
    return http_send_json (req, status, body, "no-store", extra, etag ? 1 : 0);
}

//  The one error shape; field names the member at fault when known.
static int
s_error (gw_req_t *req, int status, const char *code, const char *description, const char *field)
{
    json_t *body = json_pack ("{s:s, s:s}", "error", code, "error_description", description);
    if (body && field)
        json_object_set_new (body, "field", json_string (field));
    int rc;
    if (status == 401) {
        http_header_t extra[] = {{"WWW-Authenticate", "Bearer realm=\"ostiary-admin\""}};
        rc = http_send_json (req, status, body, "no-store", extra, 1);
    } else
        rc = s_json (req, status, body, NULL);
    json_decref (body);
    return rc;
}

//  The member an invalid_request description is about: the schema's
//  "invalid request: <member>: ...", or a registration rule's first words.
static const char *
s_field (const char *description, char *out, size_t size)
{
    static const struct {
        const char *starts;
        const char *field;
    } rules[] = {
        {"a redirect URI", "redirect_uris"},
        {"every redirect URI", "redirect_uris"},
        {"an http or https redirect URI", "redirect_uris"},
        {"http redirect URIs", "redirect_uris"},
        {"a web origin", "allowed_web_origins"},
        {"http web origins", "allowed_web_origins"},
        {"value must be", "value"},
        {"only the admin client", "scopes"},
    };
    const char *prefix = "invalid request: ";
    if (!strncmp (description, prefix, strlen (prefix))) {
        const char *name = description + strlen (prefix);
        size_t n = strcspn (name, ": ");
        if (n && n < size) {
            memcpy (out, name, n);
            out[n] = '\0';
            return out;
        }
    }
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strncmp (description, rules[i].starts, strlen (rules[i].starts)))
            return rules[i].field;
    //  "redirect_uris must be …", "scopes must be …": the member comes first.
    size_t n = strspn (description, "abcdefghijklmnopqrstuvwxyz_");
    if (n && n < size && description[n] == ' ') {
        memcpy (out, description, n);
        out[n] = '\0';
        return out;
    }
    return NULL;
}

//  The HTTP answer to an error of token.admin_call.
static int
s_bus_error (gw_req_t *req, const bus_error_t *e)
{
    char field[64];
    switch (e->err) {
    case OST_ERR_INVALID_TOKEN:
        return s_error (req, 401, "invalid_token", e->description, NULL);
    case OST_ERR_INSUFFICIENT_SCOPE:
    case OST_ERR_FORBIDDEN:
        return s_error (req, 403, "forbidden", e->description, NULL);
    case OST_ERR_CONFLICT:
        return s_error (req, 409, "conflict", e->description, NULL);
    case OST_ERR_NOT_FOUND:
        return s_error (req, 404, "not_found", e->description, NULL);
    case OST_ERR_INVALID_REQUEST:
        return s_error (req, 400, "invalid_request", e->description,
                        s_field (e->description, field, sizeof field));
    default: {
        http_error_t a = http_bus_error_answer (e);
        return s_error (req, a.status, a.code, a.description, NULL);
    }
    }
}

//  ------------------------------------------------------------- the call

typedef struct {
    gw_req_t *req;
    char token[TOKEN_MAX + 1];
} s_ctx_t;

//  token.admin_call of op with body (consumed): 0 and *result (the op's
//  result, a new reference), or -1 after answering the error.
static int
s_call (s_ctx_t *ctx, const char *op, json_t *body, json_t **result)
{
    //  The envelope of the op's own service: token-svc and flow-svc each
    //  verify the admin themselves.
    int flow = !strncmp (op, "flow.", 5);
    token_admin_call_in_t in = {.admin_token = ctx->token, .op = op, .body = body};
    json_t *call = token_admin_call_in_pack (&in);
    json_decref (body);
    json_t *reply = NULL;
    bus_error_t e;
    int rc =
        call ? http_bus_call (ctx->req, flow ? "flow.admin_call" : "token.admin_call", call, &reply, &e) : -1;
    json_decref (call);
    if (rc != 0) {
        if (!call)
            s_error (ctx->req, 500, "server_error", "the request could not be built", NULL);
        else
            s_bus_error (ctx->req, &e);
        return -1;
    }
    *result = json_incref (json_object_get (reply, "result"));
    json_decref (reply);
    return 0;
}

//  The request body as a JSON object (NULL after answering 400).
static json_t *
s_body (gw_req_t *req)
{
    char *raw = NULL;
    size_t len = 0;
    if (http_read_body (req, (size_t)req->gw->cfg->http_max_body, &raw, &len) != 0)
        return NULL;
    json_error_t jerr;
    json_t *obj = json_loadb (raw, len, JSON_REJECT_DUPLICATES, &jerr);
    secure_wipe (raw, len);
    free (raw);
    if (!json_is_object (obj)) {
        json_decref (obj);
        s_error (req, 400, "invalid_request", "the body must be a JSON object", NULL);
        return NULL;
    }
    return obj;
}

//  A query parameter (its first value), copied into out; 0 when absent.
static int
s_query (gw_req_t *req, const char *name, char *out, size_t size)
{
    if (!req->query)
        return 0;
    form_limits_t limits = {.max_total = 4096, .max_params = 16, .max_name = 32, .max_value = 256};
    form_status_t status;
    form_t *q = form_parse (req->query, strlen (req->query), &limits, &status);
    const char *v = q ? form_get (q, name, 0) : NULL;
    int found = v && strlen (v) < size;
    if (found)
        snprintf (out, size, "%s", v);
    form_destroy (&q);
    return found;
}

//  If-Match: the version in "v<N>" (a client's ETag) or the value in "<N>"
//  (a setting's). -1 when absent, -2 when malformed.
static long long
s_if_match (gw_req_t *req, char kind)
{
    const char *h = mg_get_header (req->conn, "If-Match");
    if (!h)
        return -1;
    char tag[32];
    if (sscanf (h, " \"%31[^\"]\"", tag) != 1)
        return -2;
    const char *digits = kind ? (tag[0] == kind ? tag + 1 : NULL) : tag;
    char *end = NULL;
    long long n = digits && *digits ? strtoll (digits, &end, 10) : -2;
    return digits && end && !*end && n >= 0 ? n : -2;
}

//  ------------------------------------------------------------- clients

//  A page of items (an array, not consumed) after cursor (their key
//  member), at most limit, those whose key or name contains q.
static json_t *
s_page (const json_t *items, const char *key, const char *cursor, long limit, const char *q)
{
    json_t *page = json_array ();
    const char *last = NULL;
    size_t i;
    json_t *item;
    int more = 0;
    json_array_foreach (items, i, item)
    {
        const char *k = json_string_value (json_object_get (item, key));
        const char *name = json_string_value (json_object_get (item, "name"));
        if (!k || (cursor && strcmp (k, cursor) <= 0))
            continue;
        if (q && !strstr (k, q) && !(name && strstr (name, q)))
            continue;
        if ((long)json_array_size (page) == limit) {
            more = 1;
            break;
        }
        json_array_append (page, item);
        last = k;
    }
    json_t *out = json_pack ("{s:o}", "items", page);
    if (out && more && last)
        json_object_set_new (out, "next_cursor", json_string (last));
    return out;
}

static long
s_limit (gw_req_t *req, int *bad)
{
    char v[16];
    *bad = 0;
    if (!s_query (req, "limit", v, sizeof v))
        return LIMIT_DEFAULT;
    char *end = NULL;
    long n = strtol (v, &end, 10);
    if (!*v || *end || n < 1 || n > LIMIT_MAX)
        *bad = 1;
    return n;
}

static int
s_clients_list (s_ctx_t *ctx)
{
    int bad;
    long limit = s_limit (ctx->req, &bad);
    if (bad)
        return s_error (ctx->req, 400, "invalid_request", "limit must be an integer from 1 to 200", "limit");
    char cursor[ID_MAX + 1], q[128];
    int has_cursor = s_query (ctx->req, "cursor", cursor, sizeof cursor);
    int has_q = s_query (ctx->req, "q", q, sizeof q);
    json_t *result = NULL;
    if (s_call (ctx, "token.client_list", json_object (), &result))
        return ctx->req->status;
    json_t *page = s_page (json_object_get (result, "clients"), "client_id", has_cursor ? cursor : NULL,
                           limit, has_q ? q : NULL);
    json_decref (result);
    int rc = page ? s_json (ctx->req, 200, page, NULL)
                  : s_error (ctx->req, 500, "server_error", "no memory", NULL);
    json_decref (page);
    return rc;
}

//  Answers a client object with its ETag.
static int
s_client_answer (s_ctx_t *ctx, int status, json_t *result)
{
    const json_t *client = json_object_get (result, "client");
    char etag[40];
    snprintf (etag, sizeof etag, "\"v%lld\"",
              (long long)json_integer_value (json_object_get (client, "version")));
    int rc = s_json (ctx->req, status, status == 201 ? result : client, etag);
    json_decref (result);
    return rc;
}

static int
s_client_one (s_ctx_t *ctx, const char *id, const char *rest)
{
    gw_req_t *req = ctx->req;
    const char *m = req->method;
    json_t *result = NULL;
    if (!strcmp (rest, "/secret") && !strcmp (m, "POST")) {
        json_t *body = s_body (req);
        if (!body)
            return req->status;
        long long version = s_if_match (req, 'v');
        if (version == -2) {
            json_decref (body);
            return s_error (req, 400, "invalid_request", "If-Match must be the client's ETag", NULL);
        }
        json_object_set_new (body, "client_id", json_string (id));
        if (version > 0)
            json_object_set_new (body, "version", json_integer (version));
        if (s_call (ctx, "token.client_rotate_secret", body, &result))
            return req->status;
        int rc = s_json (req, 200, result, NULL);
        json_decref (result);
        return rc;
    }
    if (*rest)
        return s_error (req, 404, "not_found", "no such resource", NULL);
    if (!strcmp (m, "GET")) {
        if (s_call (ctx, "token.client_get", json_pack ("{s:s}", "client_id", id), &result))
            return req->status;
        return s_client_answer (ctx, 200, result);
    }
    if (!strcmp (m, "PATCH")) {
        long long version = s_if_match (req, 'v');
        if (version == -1)
            return s_error (req, 428, "precondition_required", "an update needs If-Match: the client's ETag",
                            NULL);
        if (version < 1)
            return s_error (req, 400, "invalid_request", "If-Match must be the client's ETag", NULL);
        json_t *body = s_body (req);
        if (!body)
            return req->status;
        if (json_object_get (body, "client_id") || json_object_get (body, "version")) {
            json_decref (body);
            return s_error (req, 400, "invalid_request", "client_id and version are not members of a change",
                            json_object_get (body, "client_id") ? "client_id" : "version");
        }
        json_object_set_new (body, "client_id", json_string (id));
        json_object_set_new (body, "version", json_integer (version));
        if (s_call (ctx, "token.client_update", body, &result))
            return req->status;
        return s_client_answer (ctx, 200, result);
    }
    if (!strcmp (m, "DELETE")) {
        if (s_call (ctx, "token.client_remove", json_pack ("{s:s}", "client_id", id), &result))
            return req->status;
        json_decref (result);
        return http_send (req, 204, NULL, "no-store", NULL, 0, NULL, 0);
    }
    return s_error (req, 405, "invalid_request", "method not allowed", NULL);
}

static int
s_clients (s_ctx_t *ctx, const char *rest)
{
    gw_req_t *req = ctx->req;
    if (!*rest) {
        if (!strcmp (req->method, "GET"))
            return s_clients_list (ctx);
        if (!strcmp (req->method, "POST")) {
            json_t *body = s_body (req);
            json_t *result = NULL;
            if (!body || s_call (ctx, "token.client_add", body, &result))
                return req->status;
            return s_client_answer (ctx, 201, result);
        }
        return s_error (req, 405, "invalid_request", "method not allowed", NULL);
    }
    if (rest[0] != '/')
        return s_error (req, 404, "not_found", "no such resource", NULL);
    char id[ID_MAX + 1];
    size_t n = strcspn (rest + 1, "/");
    if (n == 0 || n > ID_MAX)
        return s_error (req, 404, "not_found", "no such client", NULL);
    memcpy (id, rest + 1, n);
    id[n] = '\0';
    return s_client_one (ctx, id, rest + 1 + n);
}

//  ------------------------------------------------------------- settings

static int
s_settings (s_ctx_t *ctx, const char *rest)
{
    gw_req_t *req = ctx->req;
    json_t *result = NULL;
    if (!*rest && !strcmp (req->method, "GET")) {
        json_t *flow = NULL;
        if (s_call (ctx, "token.settings_list", json_object (), &result))
            return req->status;
        if (s_call (ctx, "flow.settings_list", json_object (), &flow)) {
            json_decref (result);
            return req->status;
        }
        json_t *page = json_pack ("{s:O}", "items", json_object_get (flow, "settings"));
        json_array_extend (json_object_get (page, "items"), json_object_get (result, "settings"));
        json_decref (flow);
        json_decref (result);
        int rc = s_json (req, 200, page, NULL);
        json_decref (page);
        return rc;
    }
    if (rest[0] != '/' || !rest[1] || strchr (rest + 1, '/') || strlen (rest + 1) > 64)
        return s_error (req, 404, "not_found", "no such setting", NULL);
    const char *name = rest + 1;
    //  The service that stores the setting (common/settings.def).
    const setting_def_t *def = settings_def (settings_find (name));
    if (!def)
        return s_error (req, 404, "not_found", "no such setting", NULL);
    int flow = !strcmp (def->service, "flow");
    if (!strcmp (req->method, "GET")) {
        if (s_call (ctx, flow ? "flow.settings_list" : "token.settings_list", json_object (), &result))
            return req->status;
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get (result, "settings"), i, s)
        {
            if (strcmp (json_string_value (json_object_get (s, "name")), name) != 0)
                continue;
            char etag[32];
            snprintf (etag, sizeof etag, "\"%lld\"",
                      (long long)json_integer_value (json_object_get (s, "value")));
            int rc = s_json (req, 200, s, etag);
            json_decref (result);
            return rc;
        }
        json_decref (result);
        return s_error (req, 404, "not_found", "no such setting", NULL);
    }
    if (!strcmp (req->method, "PUT")) {
        long long expected = s_if_match (req, 0);
        if (expected == -1)
            return s_error (req, 428, "precondition_required", "a change needs If-Match: the setting's ETag",
                            NULL);
        if (expected < 0)
            return s_error (req, 400, "invalid_request", "If-Match must be the setting's ETag", NULL);
        json_t *body = s_body (req);
        if (!body)
            return req->status;
        const char *key;
        json_t *v;
        json_object_foreach (body, key, v)
        {
            if (strcmp (key, "value") != 0) {
                json_decref (body);
                return s_error (req, 400, "invalid_request", "the only member is value", key);
            }
        }
        if (!json_object_get (body, "value")) {
            json_decref (body);
            return s_error (req, 400, "invalid_request", "value is required (null: the default)", "value");
        }
        json_object_set_new (body, "name", json_string (name));
        json_object_set_new (body, "expected", json_integer (expected));
        if (s_call (ctx, flow ? "flow.settings_set" : "token.settings_set", body, &result))
            return req->status;
        char etag[32];
        snprintf (etag, sizeof etag, "\"%lld\"",
                  (long long)json_integer_value (json_object_get (result, "value")));
        int rc = s_json (req, 200, result, etag);
        json_decref (result);
        return rc;
    }
    return s_error (req, 405, "invalid_request", "method not allowed", NULL);
}

//  ------------------------------------------------------------- users

static int
s_users_list (s_ctx_t *ctx)
{
    int bad;
    long limit = s_limit (ctx->req, &bad);
    if (bad)
        return s_error (ctx->req, 400, "invalid_request", "limit must be an integer from 1 to 200", "limit");
    char cursor[ID_MAX + 1], q[128];
    int has_cursor = s_query (ctx->req, "cursor", cursor, sizeof cursor);
    int has_q = s_query (ctx->req, "q", q, sizeof q);
    json_t *body = json_pack ("{s:I}", "limit", (json_int_t)(has_q ? 200 : limit));
    if (has_cursor)
        json_object_set_new (body, "after", json_string (cursor));
    json_t *result = NULL;
    if (s_call (ctx, "flow.user_list", body, &result))
        return ctx->req->status;
    json_t *page;
    if (has_q) {
        //  A search looks through one page of flow-svc's at a time.
        page = s_page (json_object_get (result, "users"), "username", NULL, limit, q);
        const json_t *next = json_object_get (result, "next");
        if (page && !json_object_get (page, "next_cursor") && json_is_string (next))
            json_object_set (page, "next_cursor", (json_t *)next);
    } else {
        page = json_pack ("{s:O}", "items", json_object_get (result, "users"));
        const json_t *next = json_object_get (result, "next");
        if (page && json_is_string (next))
            json_object_set (page, "next_cursor", (json_t *)next);
    }
    json_decref (result);
    int rc = page ? s_json (ctx->req, 200, page, NULL)
                  : s_error (ctx->req, 500, "server_error", "no memory", NULL);
    json_decref (page);
    return rc;
}

//  A page of items (an array, not consumed) from the offset in cursor (as
//  the previous page's next_cursor gave it), at most limit. NULL after
//  answering 400 for a cursor that is no offset.
static json_t *
s_page_offset (gw_req_t *req, const json_t *items, long limit)
{
    char v[24];
    long from = 0;
    if (s_query (req, "cursor", v, sizeof v)) {
        char *end = NULL;
        from = strtol (v, &end, 10);
        if (!*v || *end || from < 0) {
            s_error (req, 400, "invalid_request", "cursor must be a next_cursor of this list", "cursor");
            return NULL;
        }
    }
    json_t *page = json_array ();
    size_t total = json_array_size (items);
    for (size_t i = (size_t)from; page && i < total && (long)json_array_size (page) < limit; i++)
        json_array_append (page, json_array_get (items, i));
    json_t *out = page ? json_pack ("{s:o}", "items", page) : NULL;
    if (out && (size_t)from + (size_t)limit < total) {
        snprintf (v, sizeof v, "%ld", from + limit);
        json_object_set_new (out, "next_cursor", json_string (v));
    }
    if (!out)
        s_error (req, 500, "server_error", "no memory", NULL);
    return out;
}

//  Answers 200 with result (consumed).
static int
s_answer (gw_req_t *req, json_t *result)
{
    int rc = s_json (req, 200, result, NULL);
    json_decref (result);
    return rc;
}

//  /users/{name}/sessions[/{sid}]: the user's live SSO sessions; DELETE
//  ends one, or all of them.
static int
s_user_sessions (s_ctx_t *ctx, const char *name, const char *rest)
{
    gw_req_t *req = ctx->req;
    const char *m = req->method;
    json_t *result = NULL;
    if (!*rest && !strcmp (m, "GET")) {
        int bad;
        long limit = s_limit (req, &bad);
        if (bad)
            return s_error (req, 400, "invalid_request", "limit must be an integer from 1 to 200", "limit");
        if (s_call (ctx, "flow.user_sessions", json_pack ("{s:s}", "username", name), &result))
            return req->status;
        json_t *page = s_page_offset (req, json_object_get (result, "sessions"), limit);
        json_decref (result);
        return page ? s_answer (req, page) : req->status;
    }
    if (strcmp (m, "DELETE") != 0)
        return s_error (req, 405, "invalid_request", "method not allowed", NULL);
    json_t *body = json_pack ("{s:s}", "username", name);
    if (*rest) {
        const char *sid = rest + 1;
        if (rest[0] != '/' || !*sid || strchr (sid, '/') || strlen (sid) > ID_MAX) {
            json_decref (body);
            return s_error (req, 404, "not_found", "no such session", NULL);
        }
        json_object_set_new (body, "sid", json_string (sid));
    }
    if (s_call (ctx, "flow.user_session_revoke", body, &result))
        return req->status;
    return s_answer (req, result);
}

//  The sub of the user name, in sub; -1 after answering (404 for an
//  unknown user).
static int
s_user_sub (s_ctx_t *ctx, const char *name, char *sub, size_t size)
{
    json_t *result = NULL;
    if (s_call (ctx, "flow.user_get", json_pack ("{s:s}", "username", name), &result))
        return -1;
    const char *s = json_string_value (json_object_get (json_object_get (result, "user"), "sub"));
    int rc = s && strlen (s) < size ? 0 : -1;
    if (!rc)
        snprintf (sub, size, "%s", s);
    else
        s_error (ctx->req, 500, "server_error", "flow-svc answered a user without a sub", NULL);
    json_decref (result);
    return rc;
}

//  /users/{name}/grants[/{client_id}]: what the user granted each client
//  (consent, refresh-token families); DELETE revokes one client's grant.
static int
s_user_grants (s_ctx_t *ctx, const char *name, const char *rest)
{
    gw_req_t *req = ctx->req;
    const char *m = req->method;
    char sub[256], client_id[ID_MAX + 1];
    json_t *result = NULL;
    if (!*rest && !strcmp (m, "GET")) {
        int bad;
        long limit = s_limit (req, &bad);
        if (bad)
            return s_error (req, 400, "invalid_request", "limit must be an integer from 1 to 200", "limit");
        char cursor[ID_MAX + 1];
        int has_cursor = s_query (req, "cursor", cursor, sizeof cursor);
        if (s_user_sub (ctx, name, sub, sizeof sub) ||
            s_call (ctx, "token.grant_list", json_pack ("{s:s}", "sub", sub), &result))
            return req->status;
        json_t *page =
            s_page (json_object_get (result, "grants"), "client_id", has_cursor ? cursor : NULL, limit, NULL);
        json_decref (result);
        return page ? s_answer (req, page) : s_error (req, 500, "server_error", "no memory", NULL);
    }
    if (!*rest)
        return s_error (req, 405, "invalid_request", "method not allowed", NULL);
    const char *id = rest + 1;
    if (rest[0] != '/' || !*id || strchr (id, '/') || strlen (id) > ID_MAX)
        return s_error (req, 404, "not_found", "no such grant", NULL);
    if (strcmp (m, "DELETE") != 0)
        return s_error (req, 405, "invalid_request", "method not allowed", NULL);
    snprintf (client_id, sizeof client_id, "%s", id);
    if (s_user_sub (ctx, name, sub, sizeof sub) ||
        s_call (ctx, "token.grant_revoke", json_pack ("{s:s, s:s}", "sub", sub, "client_id", client_id),
                &result))
        return req->status;
    return s_answer (req, result);
}

static int
s_users (s_ctx_t *ctx, const char *rest)
{
    gw_req_t *req = ctx->req;
    const char *m = req->method;
    json_t *result = NULL, *body = NULL;
    if (!*rest) {
        if (!strcmp (m, "GET"))
            return s_users_list (ctx);
        if (!strcmp (m, "POST")) {
            if (!(body = s_body (req)) || s_call (ctx, "flow.user_add", body, &result))
                return req->status;
            int rc = s_json (req, 201, json_object_get (result, "user"), NULL);
            json_decref (result);
            return rc;
        }
        return s_error (req, 405, "invalid_request", "method not allowed", NULL);
    }
    char name[ID_MAX + 1];
    size_t n = rest[0] == '/' ? strcspn (rest + 1, "/") : 0;
    if (n == 0 || n > ID_MAX)
        return s_error (req, 404, "not_found", "no such user", NULL);
    memcpy (name, rest + 1, n);
    name[n] = '\0';
    const char *action = rest + 1 + n;
    const char *op = NULL;
    if (!strncmp (action, "/sessions", 9) && (action[9] == '\0' || action[9] == '/'))
        return s_user_sessions (ctx, name, action + 9);
    if (!strncmp (action, "/grants", 7) && (action[7] == '\0' || action[7] == '/'))
        return s_user_grants (ctx, name, action + 7);
    if (!strcmp (action, "/totp/reset") && !strcmp (m, "POST")) {
        if (s_call (ctx, "flow.user_totp_reset", json_pack ("{s:s}", "username", name), &result))
            return req->status;
        int rc = s_json (req, 200, result, NULL);
        json_decref (result);
        return rc;
    }
    if (!*action && !strcmp (m, "GET")) {
        if (s_call (ctx, "flow.user_get", json_pack ("{s:s}", "username", name), &result))
            return req->status;
        int rc = s_json (req, 200, json_object_get (result, "user"), NULL);
        json_decref (result);
        return rc;
    }
    if (!strcmp (m, "POST") && !strcmp (action, "/disable"))
        op = "flow.user_disable";
    else if (!strcmp (m, "POST") && !strcmp (action, "/unlock"))
        op = "flow.user_unlock";
    else if (!strcmp (m, "POST") && !strcmp (action, "/password"))
        op = "flow.user_passwd";
    else
        return s_error (req, 404, "not_found", "no such resource", NULL);
    if (!(body = s_body (req)))
        return req->status;
    json_object_set_new (body, "username", json_string (name));
    if (s_call (ctx, op, body, &result))
        return req->status;
    int rc = s_json (req, 200, result, NULL);
    json_decref (result);
    return rc;
}

//  ------------------------------------------------------------- audit

//  A client-filtered listing reads pages of this many events (the most an
//  audit_list answers), at most this many pages per answer.
#define AUDIT_SCAN_LIMIT 200
#define AUDIT_SCAN_PAGES 10

static int
s_audit (s_ctx_t *ctx, const char *rest)
{
    gw_req_t *req = ctx->req;
    if (*rest || strcmp (req->method, "GET") != 0)
        return s_error (req, 404, "not_found", "no such resource", NULL);
    int bad;
    long limit = s_limit (req, &bad);
    if (bad)
        return s_error (req, 400, "invalid_request", "limit must be an integer from 1 to 200", "limit");
    char service[16] = "token", v[256];
    if (s_query (req, "service", service, sizeof service) && strcmp (service, "token") &&
        strcmp (service, "flow"))
        return s_error (req, 400, "invalid_request", "service must be token or flow", "service");
    json_t *body = json_pack ("{s:I}", "limit", (json_int_t)limit);
    static const char *const texts[] = {"event", "subject"};
    for (size_t i = 0; i < 2; i++)
        if (s_query (req, texts[i], v, sizeof v))
            json_object_set_new (body, texts[i], json_string (v));
    static const char *const numbers[] = {"since", "until", "cursor"};
    for (size_t i = 0; i < 3; i++)
        if (s_query (req, numbers[i], v, sizeof v)) {
            char *end = NULL;
            long long n = strtoll (v, &end, 10);
            if (!*v || *end || n < 0) {
                json_decref (body);
                return s_error (req, 400, "invalid_request", "since, until and cursor are integers",
                                numbers[i]);
            }
            json_object_set_new (body, numbers[i], json_integer (n));
        }
    char client[ID_MAX + 1];
    int has_client = s_query (req, "client", client, sizeof client);
    char op[32];
    snprintf (op, sizeof op, "%s.audit_list", service);
    //  The services filter by event, subject and time; the client filter is
    //  applied here, over as many pages of the trail (the largest the
    //  service answers) as it takes to fill this one, at most
    //  AUDIT_SCAN_PAGES of them; next_cursor then says where to go on.
    if (has_client)
        json_object_set_new (body, "limit", json_integer (AUDIT_SCAN_LIMIT));
    json_t *items = json_array ();
    json_t *result = NULL;
    long long last_id = -1;
    int more = 0;
    for (int pages = 0; items && pages < (has_client ? AUDIT_SCAN_PAGES : 1); pages++) {
        json_decref (result);
        result = NULL;
        if (s_call (ctx, op, json_incref (body), &result)) {
            json_decref (body);
            json_decref (items);
            return req->status;
        }
        const json_t *events = json_object_get (result, "events");
        size_t i;
        json_t *ev;
        more = 0;
        json_array_foreach (events, i, ev)
        {
            if (json_array_size (items) >= (size_t)limit) {
                more = 1;
                break;
            }
            last_id = json_integer_value (json_object_get (ev, "id"));
            const char *c = json_string_value (json_object_get (ev, "client_id"));
            if (!has_client || (c && !strcmp (c, client)))
                json_array_append (items, ev);
        }
        size_t asked = has_client ? AUDIT_SCAN_LIMIT : (size_t)limit;
        if (!more)
            more = json_array_size (events) == asked;
        if (!more || json_array_size (items) >= (size_t)limit)
            break;
        json_object_set_new (body, "cursor", json_integer (last_id));
    }
    json_decref (body);
    json_t *page = items ? json_pack ("{s:o}", "items", items) : NULL;
    if (page && more && last_id > 0) {
        char next[32];
        snprintf (next, sizeof next, "%lld", last_id);
        json_object_set_new (page, "next_cursor", json_string (next));
    }
    json_decref (result);
    int rc = page ? s_json (req, 200, page, NULL) : s_error (req, 500, "server_error", "no memory", NULL);
    json_decref (page);
    return rc;
}

//  ------------------------------------------------------------- dispatch

int
admin_api (gw_req_t *req)
{
    s_ctx_t *ctx = calloc (1, sizeof *ctx);
    if (!ctx)
        return s_error (req, 500, "server_error", "no memory", NULL);
    ctx->req = req;
    int rc;
    int bearer = http_bearer_token (req, ctx->token, sizeof ctx->token);
    const char *path = req->path + strlen (PREFIX);
    if (bearer < 0)
        rc = s_error (req, 401, "invalid_token", "the access token is malformed", NULL);
    else if (bearer == 0)
        rc = s_error (req, 401, "invalid_token", "an access token is required", NULL);
    else if (!strncmp (path, "clients", 7) && (path[7] == '\0' || path[7] == '/'))
        rc = s_clients (ctx, path + 7);
    else if (!strncmp (path, "settings", 8) && (path[8] == '\0' || path[8] == '/'))
        rc = s_settings (ctx, path + 8);
    else if (!strncmp (path, "users", 5) && (path[5] == '\0' || path[5] == '/'))
        rc = s_users (ctx, path + 5);
    else if (!strncmp (path, "audit", 5) && path[5] == '\0')
        rc = s_audit (ctx, path + 5);
    else
        rc = s_error (req, 404, "not_found", "no such resource", NULL);
    secure_wipe (ctx->token, sizeof ctx->token);
    free (ctx);
    return rc;
}
