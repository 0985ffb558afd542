/*  introspect - token.introspect: token introspection (RFC 7662), and the
 *  token reading it shares with revoke.c (lifecycle.h).
 *
 *  Who may introspect what is explicit: a confidential client may
 *  introspect the tokens issued to itself; a client registered as a
 *  resource server (resource_server) may introspect any of ours. Anything
 *  else — revoked, expired, consumed, another client's, not ours, garbage —
 *  is {"active": false} and nothing more (§2.2), so the answer never tells
 *  whether a token the caller may not see exists. */
#include "clients.h"
#include "grants.h"
#include "lifecycle.h"
#include "log.h"
#include "service.h"
#include "token_app.h"
#include "token_jwks.h"
#include "token_ops.h"
#include "token_settings.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

#define JTI_MAX 64
#define SUB_MAX 255
#define SCOPE_MAX 1024

//  ------------------------------------------------------------- shared with revoke.c

int
lifecycle_token (bus_req_t *req, const json_t *form, const char **token, int *refresh_first)
{
    *token = NULL;
    *refresh_first = 1;
    const char *t = NULL, *hint = NULL;
    tu_get_t got = tu_string (form, "token", JWS_MAX_COMPACT, &t);
    //  RFC 7009 §2.1, RFC 7662 §2.1: token is REQUIRED.
    if (got == TU_ABSENT)
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "token is missing");
    if (got == TU_OK && *t)
        *token = t;
    //  An unknown hint is only a hint (RFC 7009 §2.2.1 allows
    //  unsupported_token_type; we search every kind instead).
    if (tu_string (form, "token_type_hint", 32, &hint) == TU_OK && strcmp (hint, "access_token") == 0)
        *refresh_first = 0;
    return 0;
}

int
lifecycle_access_token (bus_req_t *req, const char *token, jws_parts_t **parts)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    *parts = NULL;
    //  A JWS compact serialization has two dots; a refresh token none.
    if (!strchr (token, '.'))
        return 0;
    int timeout = tu_time_left_ms (req);
    token_jwt_status_t vst =
        timeout > 0 ? token_jwt_verify (app->jwks, thread->bus, timeout, token, "at+jwt", NULL, parts)
                    : TOKEN_JWT_UNAVAILABLE;
    if (vst == TOKEN_JWT_UNAVAILABLE)
        return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the signing keys cannot be fetched now");
    if (vst != TOKEN_JWT_OK)
        return 0;
    const json_t *claims = (*parts)->claims;
    const char *iss = json_string_value (json_object_get (claims, "iss"));
    const char *s = NULL;
    if (!iss || strcmp (iss, app->issuer) != 0 || !json_is_integer (json_object_get (claims, "exp")) ||
        !json_is_integer (json_object_get (claims, "iat")) ||
        tu_string (claims, "jti", JTI_MAX, &s) != TU_OK || !*s ||
        tu_string (claims, "sub", SUB_MAX, &s) != TU_OK ||
        tu_string (claims, "client_id", TOKEN_CLIENT_ID_MAX, &s) != TU_OK ||
        tu_string (claims, "scope", SCOPE_MAX, &s) != TU_OK) {
        jws_parts_destroy (parts);
        return 0;
    }
    return 1;
}

int
lifecycle_refresh_token (bus_req_t *req, const char *token, token_refresh_t *r)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    memset (r, 0, sizeof *r);
    if (strlen (token) != GRANTS_REFRESH_LEN)
        return 0;
    unsigned char hash[TOKEN_HASH_LEN];
    tu_sha256 (token, hash);
    db_status_t st =
        token_store_refresh_get (thread->db, hash, app->refresh_max_lifetime, app->refresh_idle_timeout, r);
    if (st == DB_NOT_FOUND)
        return 0;
    if (st != DB_OK)
        return tu_db_fail (req, st);
    return 1;
}

//  ------------------------------------------------------------- token.introspect

//  RFC 7662 §2.2 for a refresh token. 1 with *out, 0 inactive, -1 failed.
static int
s_refresh (bus_req_t *req, const token_client_t *caller, const char *token, json_t **out)
{
    const token_app_t *app = req->app;
    token_refresh_t r;
    int found = lifecycle_refresh_token (req, token, &r);
    if (found <= 0)
        return found;
    int rc = 0;
    if (!r.revoked && !r.expired && !r.consumed && !r.replaced &&
        (strcmp (r.client_id, caller->client_id) == 0 || caller->resource_server)) {
        char *scope = tu_scope_join (r.scopes);
        *out = scope ? json_pack ("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "active", 1, "sub", r.sub,
                                  "client_id", r.client_id, "scope", scope, "exp", (json_int_t)r.exp, "iat",
                                  (json_int_t)r.iat, "token_type", "refresh_token", "aud", r.client_id, "iss",
                                  app->issuer)
                     : NULL;
        free (scope);
        rc = *out ? 1 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    }
    token_refresh_clear (&r);
    return rc;
}

//  RFC 7662 §2.2 for an access token. 1 with *out, 0 inactive, -1 failed.
static int
s_access (bus_req_t *req, const token_client_t *caller, const char *token, json_t **out)
{
    service_thread_t *thread = req->thread_state;
    jws_parts_t *parts = NULL;
    int found = lifecycle_access_token (req, token, &parts);
    if (found <= 0)
        return found;
    const json_t *claims = parts->claims;
    const char *owner = json_string_value (json_object_get (claims, "client_id"));
    const char *jti = json_string_value (json_object_get (claims, "jti"));
    json_int_t exp = json_integer_value (json_object_get (claims, "exp"));
    json_int_t iat = json_integer_value (json_object_get (claims, "iat"));
    int64_t now = tu_now ();
    int rc = 0;
    //  RFC 7519 §4.1.4: active only before exp, with no leeway (the token is
    //  ours: it ends when expires_in said it would, as at token.userinfo).
    if ((strcmp (owner, caller->client_id) == 0 || caller->resource_server) && exp > now &&
        iat <= now + token_clock_skew (req)) {
        //  Revoked (RFC 7009, a family's end, a replayed code, its client
        //  disabled), or issued to a client that was removed since: inactive.
        int revoked = 0, known = 0;
        db_status_t st = token_store_access_state (thread->db, jti, owner, iat, &revoked, &known);
        if (st == DB_OK && !known)
            revoked = 1;
        if (st != DB_OK)
            rc = tu_db_fail (req, st);
        else if (!revoked) {
            *out = json_pack (
                "{s:b, s:O, s:O, s:O, s:I, s:I, s:s, s:O, s:O}", "active", 1, "sub",
                json_object_get (claims, "sub"), "client_id", json_object_get (claims, "client_id"), "scope",
                json_object_get (claims, "scope"), "exp", exp, "iat", iat, "token_type", "Bearer", "aud",
                json_object_get (claims, "aud"), "iss", json_object_get (claims, "iss"));
            rc = *out ? 1 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
        }
    }
    jws_parts_destroy (&parts);
    return rc;
}

int
token_op_introspect (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_introspect_in_t *in = BUS_IN (req, token_introspect);
    OST_UNUSED (body);
    const json_t *form = in->form;
    token_client_t client;
    if (clients_authenticate (req, form, in->basic, &client))
        return -1;
    //  RFC 7662 §2.1: "the endpoint MUST also require some form of
    //  authorization": a public client proves nothing, so it may not ask.
    if (client.is_public) {
        token_client_clear (&client);
        return tu_fail (req, OST_ERR_INVALID_CLIENT, "client authentication failed");
    }
    const char *token = NULL;
    int refresh_first = 1;
    int rc = lifecycle_token (req, form, &token, &refresh_first);
    json_t *out = NULL;
    for (int k = 0; rc == 0 && token && k < 2 && !out; k++) {
        int r = (k == 0) == refresh_first ? s_refresh (req, &client, token, &out)
                                          : s_access (req, &client, token, &out);
        if (r < 0)
            rc = -1;
    }
    token_client_clear (&client);
    if (rc) {
        json_decref (out);
        return -1;
    }
    *result = out ? out : json_pack ("{s:b}", "active", 0);
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}
