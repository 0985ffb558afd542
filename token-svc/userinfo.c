/*  userinfo - token.userinfo: validates an access token presented at the
 *  UserInfo endpoint (OpenID Connect Core §5.3; RFC 6750 §3.1; RFC 9068 §4)
 *  and says whose it is and what it allows. The gateway asks flow-svc for
 *  the claims afterwards. token.admin_check: the same validation for the
 *  admin API, with the admin scope and the admin role asked again. */
#include "admin_call.h"
#include "admin_scope.h"
#include "grants.h"
#include "log.h"
#include "service.h"
#include "token_app.h"
#include "token_jwks.h"
#include "token_ops.h"
#include "token_settings.h"
#include "token_store.h"
#include "token_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JTI_MAX 64
#define SUB_MAX 255
#define SCOPE_MAX 1024

#define DESC_INVALID "the access token is invalid"
//  The (and the gateway's) exact wording for an expired token.
#define DESC_EXPIRED "The access token expired"

//  Validates an access token of ours that must carry scope_needed (else
//  insufficient_scope with missing): *result {sub, scopes, client_id}.
//  0, or -1 after failing req.
static int
s_verify (bus_req_t *req, const char *token, const char *scope_needed, const char *missing, json_t **result)
{
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    //  RFC 6750 §3.1: an empty token is invalid_token like any bad one.
    if (!*token)
        return tu_fail (req, OST_ERR_INVALID_TOKEN, DESC_INVALID);

    //  RFC 9068 §4: the signature with a key of our JWKS, under that key's
    //  algorithm, and typ at+jwt (so an ID token is never accepted here).
    int timeout = tu_time_left_ms (req);
    jws_parts_t *parts = NULL;
    token_jwt_status_t vst =
        timeout > 0 ? token_jwt_verify (app->jwks, thread->bus, timeout, token, "at+jwt", NULL, &parts)
                    : TOKEN_JWT_UNAVAILABLE;
    if (vst == TOKEN_JWT_UNAVAILABLE)
        return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the signing keys cannot be fetched now");
    if (vst != TOKEN_JWT_OK)
        return tu_fail (req, OST_ERR_INVALID_TOKEN, DESC_INVALID);

    //  RFC 9068 §4: iss is ours, aud names this resource, exp has not passed
    //  (RFC 7519 §4.1.4: the current time must be before exp, with no
    //  leeway: the token is ours and expires when it told the client it
    //  would); iat is not in the future (with the clock-skew leeway, for
    //  replicas whose clocks differ).
    const json_t *claims = parts->claims;
    const char *iss = json_string_value (json_object_get (claims, "iss"));
    const json_t *aud = json_object_get (claims, "aud");
    const json_t *exp = json_object_get (claims, "exp");
    const json_t *iat = json_object_get (claims, "iat");
    const char *jti = NULL, *sub = NULL, *client_id = NULL, *scope = NULL;
    int aud_ok = json_is_string (aud) ? strcmp (json_string_value (aud), app->access_token_aud) == 0
                                      : tu_has (aud, app->access_token_aud);
    int64_t now = tu_now ();
    int rc = 0;
    if (!iss || strcmp (iss, app->issuer) != 0 || !aud_ok || !json_is_integer (exp) ||
        !json_is_integer (iat) || tu_string (claims, "jti", JTI_MAX, &jti) != TU_OK ||
        tu_string (claims, "sub", SUB_MAX, &sub) != TU_OK ||
        tu_string (claims, "client_id", TOKEN_CLIENT_ID_MAX, &client_id) != TU_OK ||
        tu_string (claims, "scope", SCOPE_MAX, &scope) != TU_OK || !*jti || !*sub ||
        json_integer_value (iat) > now + token_clock_skew (req))
        rc = tu_fail (req, OST_ERR_INVALID_TOKEN, DESC_INVALID);
    //  RFC 6750 §3.1: an expired token is invalid_token; the description
    //  lets the client tell it apart and refresh.
    else if (json_integer_value (exp) <= now)
        rc = tu_fail (req, OST_ERR_INVALID_TOKEN, DESC_EXPIRED);
    json_t *scopes = rc ? NULL : tu_scope_parse (scope);
    if (!rc && !scopes)
        rc = tu_fail (req, OST_ERR_INVALID_TOKEN, DESC_INVALID);
    if (!rc) {
        //  Revoked before its expiry (a replayed code, RFC 6749 §4.1.2; its
        //  client disabled).
        int revoked = 0, known = 0;
        db_status_t st =
            token_store_access_state (thread->db, jti, client_id, json_integer_value (iat), &revoked, &known);
        if (st != DB_OK)
            rc = tu_db_fail (req, st);
        else if (revoked)
            rc = tu_fail (req, OST_ERR_INVALID_TOKEN, "the access token was revoked");
    }
    //  RFC 6750 §3.1 insufficient_scope.
    if (!rc && !tu_has (scopes, scope_needed))
        rc = tu_fail (req, OST_ERR_INSUFFICIENT_SCOPE, missing);
    if (!rc) {
        *result = json_pack ("{s:s, s:O, s:s}", "sub", sub, "scopes", scopes, "client_id", client_id);
        //  OpenID Connect Core §5.5: the claims the request asked of
        //  userinfo, which the access token carries (grants.c).
        const json_t *asked = json_object_get (claims, GRANTS_USERINFO_CLAIMS);
        if (*result && json_is_array (asked) && json_array_size (asked) > 0)
            json_object_set (*result, "claims", (json_t *)asked);
        if (!*result)
            rc = tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    }
    json_decref (scopes);
    jws_parts_destroy (&parts);
    return rc;
}

int
token_op_userinfo (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_userinfo_in_t *in = BUS_IN (req, token_userinfo);
    OST_UNUSED (body);
    //  OpenID Connect Core §5.3: the UserInfo endpoint serves tokens that
    //  were granted the openid scope.
    return s_verify (req, in->access_token, "openid", "the access token lacks the openid scope", result);
}

int
token_admin_verify (bus_req_t *req, const char *access_token, json_t **result)
{
    const token_app_t *app = req->app;
    if (s_verify (req, access_token, ADMIN_SCOPE, "the access token lacks the admin scope", result))
        return -1;
    //  The admin scope is issued only to the admin client for a user with
    //  the admin role; the role is asked again now, so that taking it back
    //  ends every such token at once.
    const char *sub = json_string_value (json_object_get (*result, "sub"));
    const char *client_id = json_string_value (json_object_get (*result, "client_id"));
    if (!admin_scope_client (app, client_id) || !admin_scope_user (req, sub)) {
        json_decref (*result);
        *result = NULL;
        log_info ("admin check refused: %s",
                  admin_scope_client (app, client_id) ? "the user is no admin" : "not the admin client");
        return tu_fail (req, OST_ERR_FORBIDDEN, "the user does not hold the admin role");
    }
    return 0;
}

int
token_op_admin_check (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_admin_check_in_t *in = BUS_IN (req, token_admin_check);
    OST_UNUSED (body);
    return token_admin_verify (req, in->access_token, result);
}

int
token_op_admin_call (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_admin_call_in_t *in = BUS_IN (req, token_admin_call);
    OST_UNUSED (body);
    //  The op first: nothing is asked of the token for an op no admin may run.
    bus_handler_fn handler;
    const op_def_t *def = admin_call_op (token_routes, token_nroutes, "token", in->op, &handler);
    if (!def)
        return tu_fail (req, OST_ERR_FORBIDDEN, ADMIN_CALL_DESC_FORBIDDEN);
    json_t *who = NULL;
    if (token_admin_verify (req, in->admin_token, &who))
        return -1;
    int rc = admin_call_run (req, def, handler, json_string_value (json_object_get (who, "sub")), in->body,
                             result);
    json_decref (who);
    return rc;
}
