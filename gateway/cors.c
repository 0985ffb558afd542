/*  cors - CORS for browser applications. See cors.h. */
#include "cors.h"

#include "log.h"
#include "ops.h"

#include <civetweb.h>
#include <czmq.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Seconds a browser may keep a preflight answer. Short enough that an
//  origin removed from a client stops being preflighted soon (the answers
//  themselves are checked at every request); Chromium caps it at 7200.
#define CORS_MAX_AGE "600"
//  The request headers a browser application needs: client authentication
//  or the bearer token (Authorization) and a form body (Content-Type).
#define CORS_ALLOW_HEADERS "Authorization, Content-Type"
//  After a failed token.web_origins, ask again after this long.
#define CORS_RETRY_MS 1000

//  The endpoints that answer cross-origin requests, and how.
typedef struct {
    const char *path;
    const char *methods; //  Access-Control-Allow-Methods (and Allow, with OPTIONS)
    int public_doc;      //  1: any origin (*), 0: registered origins only
} s_cors_path_t;

static const s_cors_path_t s_paths[] = {
    {"/.well-known/openid-configuration", "GET, HEAD", 1},
    {"/.well-known/oauth-authorization-server", "GET, HEAD", 1},
    {"/jwks", "GET, HEAD", 1},
    {"/token", "POST", 0},
    {"/revoke", "POST", 0},
    {"/introspect", "POST", 0},
    {"/userinfo", "GET, POST", 0},
};

struct _cors_t {
    pthread_mutex_t lock;
    int64_t ttl_ms;
    json_t *origins;     //  {origin: [client_id, ...]}; NULL before the first answer
    int64_t next_ms;     //  monotonic time of the next token.web_origins
    int64_t fetching_ms; //  a thread is asking since then (0: none)
};

cors_t *
cors_new (int ttl)
{
    cors_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init (&self->lock, NULL)) {
        free (self);
        return NULL;
    }
    self->ttl_ms = (int64_t)ttl * 1000;
    return self;
}

void
cors_destroy (cors_t **self_p)
{
    if (self_p && *self_p) {
        cors_t *self = *self_p;
        json_decref (self->origins);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

//  The answer of token.web_origins as {origin: [client_id, ...]}, or NULL.
static json_t *
s_fetch (gw_req_t *req)
{
    json_t *body = json_object (), *result = NULL;
    bus_error_t error;
    int rc = body ? http_bus_call (req, "token.web_origins", body, &result, &error) : -1;
    json_decref (body);
    if (rc != 0) {
        log_warn ("token.web_origins failed: %s", body ? error.code : "out of memory");
        return NULL;
    }
    token_web_origins_out_t out;
    char why[SCHEMA_WHY_MAX];
    json_t *map = json_object ();
    if (!map || token_web_origins_out_unpack (result, &out, why, sizeof why) != 0) {
        log_error ("token.web_origins answered something unexpected");
        json_decref (map);
        json_decref (result);
        return NULL;
    }
    size_t i;
    const json_t *item;
    json_array_foreach (out.origins, i, item)
    {
        const char *origin = json_string_value (json_object_get (item, "origin"));
        json_t *client_id = json_object_get (item, "client_id");
        json_t *clients = json_object_get (map, origin);
        if (!clients) {
            clients = json_array ();
            if (json_object_set_new (map, origin, clients))
                clients = NULL;
        }
        if (!clients || json_array_append (clients, client_id)) {
            json_decref (map);
            map = NULL;
            break;
        }
    }
    json_decref (result);
    return map;
}

//  1 when origin is registered by client_id (NULL: by any client).
static int
s_registered (cors_t *self, gw_req_t *req, const char *origin, const char *client_id)
{
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    //  One thread refreshes at a time; the others use what is there (or,
    //  before the first answer, find nothing registered).
    int refresh = (!self->origins || now >= self->next_ms) && !self->fetching_ms;
    if (refresh)
        self->fetching_ms = now;
    pthread_mutex_unlock (&self->lock);
    if (refresh) {
        json_t *fresh = s_fetch (req);
        pthread_mutex_lock (&self->lock);
        if (fresh) {
            json_decref (self->origins);
            self->origins = fresh;
        }
        self->next_ms = zclock_mono () + (fresh ? self->ttl_ms : CORS_RETRY_MS);
        self->fetching_ms = 0;
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_lock (&self->lock);
    const json_t *clients = self->origins ? json_object_get (self->origins, origin) : NULL;
    int found = 0;
    if (clients && !client_id)
        found = 1;
    else if (clients) {
        size_t i;
        const json_t *v;
        json_array_foreach (clients, i, v)
        {
            found |= strcmp (json_string_value (v), client_id) == 0;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return found;
}

void
cors_allow_any (gw_req_t *req)
{
    req->cors_allow_origin = "*";
}

int
cors_allow_client (gw_req_t *req, const char *client_id)
{
    //  The answer differs by Origin, so a cache keys it by Origin (Fetch
    //  standard, "CORS protocol and HTTP caches").
    req->cors_vary = 1;
    req->cors_allow_origin = NULL;
    const char *origin = mg_get_header (req->conn, "Origin");
    //  Registered origins are validated at registration (no "null", no
    //  wildcard), so an exact comparison is all that is needed here.
    if (!origin || !*origin || !req->gw->cors || !s_registered (req->gw->cors, req, origin, client_id))
        return 0;
    req->cors_allow_origin = origin;
    return 1;
}

int
cors_preflight (gw_req_t *req)
{
    const s_cors_path_t *path = NULL;
    for (size_t i = 0; i < sizeof s_paths / sizeof s_paths[0]; i++)
        if (strcmp (s_paths[i].path, req->path) == 0)
            path = &s_paths[i];
    if (!path)
        return http_send_error (req, OST_ERR_NOT_FOUND, "no such resource");
    char allow[64];
    snprintf (allow, sizeof allow, "%s, OPTIONS", path->methods);
    http_header_t extra[4] = {{"Allow", allow}};
    size_t n = 1;
    //  A CORS preflight is an OPTIONS with Origin and
    //  Access-Control-Request-Method; any other OPTIONS gets Allow only.
    const char *origin = mg_get_header (req->conn, "Origin");
    int preflight = origin && *origin && mg_get_header (req->conn, "Access-Control-Request-Method");
    int allowed = 0;
    if (preflight && path->public_doc) {
        cors_allow_any (req);
        allowed = 1;
    } else if (preflight)
        //  The preflight names no client (browsers send no credentials with
        //  it), so it is allowed for an origin any client registered, as
        //  node-oidc-provider and Keycloak do; the request that follows is
        //  checked against the client it authenticates as.
        allowed = cors_allow_client (req, NULL);
    if (allowed) {
        extra[n++] = (http_header_t){"Access-Control-Allow-Methods", path->methods};
        extra[n++] = (http_header_t){"Access-Control-Allow-Headers", CORS_ALLOW_HEADERS};
        extra[n++] = (http_header_t){"Access-Control-Max-Age", CORS_MAX_AGE};
    }
    return http_send (req, 204, NULL, NULL, extra, n, NULL, 0);
}
