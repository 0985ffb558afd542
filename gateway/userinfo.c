/*  userinfo - GET and POST /userinfo (OpenID Connect Core §5.3) with the
 *  bearer token rules of RFC 6750.
 *
 *  The token comes from the Authorization header (RFC 6750 §2.1) or, for
 *  POST only, the access_token form field (§2.2). The URI query method
 *  (§2.3) is not supported, and more than one method is an invalid_request
 *  (§2: "Clients MUST NOT use more than one method"). token-svc validates
 *  the token (token.userinfo); flow-svc releases the claims of its scopes
 *  (flow.user_claims). Every answer: Cache-Control: no-store. */
#include "cors.h"
#include "form.h"
#include "log.h"
#include "ops.h"
#include "pages.h"
#include "routes.h"
#include "secure.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define USERINFO_MAX_PARAMS 8
#define USERINFO_MAX_VALUE 8192
#define USERINFO_MAX_TOTAL 12288

//  The err of s_challenge when the request had no token at all.
#define NO_ERROR_CODE OST_ERR__COUNT

//  RFC 6750 §3: the challenge, with err's code and status (proto/errors.def);
//  with NO_ERROR_CODE a 401 without a code (§3.1: "the resource server SHOULD
//  NOT include an error code" when the request had no token at all).
static int
s_challenge (gw_req_t *req, ost_err_t err, const char *description, const char *scope)
{
    const char *error = err == NO_ERROR_CODE ? NULL : proto_err (err)->code;
    int status = error ? proto_err (err)->http_status : 401;
    char realm[512], clean_desc[256], clean_code[64], challenge[1024];
    http_clean_header_value (req->gw->cfg->issuer, realm, sizeof realm);
    int n = snprintf (challenge, sizeof challenge, "Bearer realm=\"%s\"", realm);
    json_t *body = NULL;
    if (error) {
        //  §3: error and error_description hold only %x20-21 / %x23-5B /
        //  %x5D-7E, so they sit in a quoted-string as they are.
        http_clean_header_value (error, clean_code, sizeof clean_code);
        http_clean_header_value (description, clean_desc, sizeof clean_desc);
        n += snprintf (challenge + n, sizeof challenge - (size_t)n, ", error=\"%s\"", clean_code);
        if (clean_desc[0] && (size_t)n < sizeof challenge)
            n += snprintf (challenge + n, sizeof challenge - (size_t)n, ", error_description=\"%s\"",
                           clean_desc);
        if (scope && (size_t)n < sizeof challenge)
            snprintf (challenge + n, sizeof challenge - (size_t)n, ", scope=\"%s\"", scope);
        body = json_pack ("{s:s}", "error", clean_code);
        if (clean_desc[0])
            json_object_set_new (body, "error_description", json_string (clean_desc));
    }
    http_header_t extra[] = {{"WWW-Authenticate", challenge}, {"Pragma", "no-cache"}};
    int rc;
    if (body)
        rc = http_send_json (req, status, body, "no-store", extra, 2);
    else
        rc = http_send (req, status, NULL, "no-store", extra, 2, NULL, 0);
    json_decref (body);
    return rc;
}

static int
s_userinfo (gw_req_t *req, int post)
{
    //  CORS (cors.h): a refusal may be read by any registered origin (the
    //  application learns why, and nothing about the user); the claims,
    //  below, only by an origin of the token's client.
    cors_allow_client (req, NULL);
    char token[USERINFO_MAX_VALUE + 1];
    int header = http_bearer_token (req, token, sizeof token);
    if (header < 0)
        //  §3.1 invalid_token: "malformed" is one of its cases.
        return s_challenge (req, OST_ERR_INVALID_TOKEN, "The access token is malformed", NULL);
    //  §2.3 is not offered: a token in the query is refused, never used.
    if (req->query) {
        form_limits_t limits = {.max_total = USERINFO_MAX_TOTAL,
                                .max_params = 32,
                                .max_name = 64,
                                .max_value = USERINFO_MAX_VALUE};
        form_status_t status;
        form_t *query = form_parse (req->query, strlen (req->query), &limits, &status);
        int in_query = !query || form_get (query, "access_token", 0) != NULL;
        form_destroy (&query);
        if (in_query)
            return s_challenge (req, OST_ERR_INVALID_REQUEST,
                                "The access token must not be sent in the query string", NULL);
    }
    if (post) {
        //  §2.2: a form body may carry the token (and only a form body).
        const char *type = mg_get_header (req->conn, "Content-Type");
        if (type && pages_is_form (req)) {
            form_limits_t limits = {.max_total = USERINFO_MAX_TOTAL,
                                    .max_params = USERINFO_MAX_PARAMS,
                                    .max_name = 64,
                                    .max_value = USERINFO_MAX_VALUE};
            form_t *form = pages_read_form (req, &limits, 0);
            if (!form)
                return req->status;
            size_t count = form_occurrences (form, "access_token", 0);
            const char *value = form_get (form, "access_token", 0);
            int rc = 0;
            if (count > 1)
                rc = s_challenge (req, OST_ERR_INVALID_REQUEST, "The access token is included more than once",
                                  NULL);
            else if (count == 1 && header)
                rc = s_challenge (req, OST_ERR_INVALID_REQUEST,
                                  "The access token must be sent by one method only", NULL);
            else if (count == 1 && (!value[0] || strlen (value) >= sizeof token))
                rc = s_challenge (req, OST_ERR_INVALID_TOKEN, "The access token is malformed", NULL);
            else if (count == 1) {
                snprintf (token, sizeof token, "%s", value);
                header = 1;
            }
            form_destroy (&form);
            if (rc)
                return rc;
        } else if (type && !header)
            return s_challenge (req, OST_ERR_INVALID_REQUEST,
                                "The request body must be application/x-www-form-urlencoded", NULL);
    }
    if (!header)
        //  §3.1: no authentication information at all: the bare challenge.
        return s_challenge (req, NO_ERROR_CODE, NULL, NULL);

    token_userinfo_in_t in = {.access_token = token};
    json_t *body = token_userinfo_in_pack (&in);
    secure_wipe (token, sizeof token);
    json_t *result = NULL;
    bus_error_t error;
    int rc = http_bus_call (req, "token.userinfo", body, &result, &error);
    json_decref (body);
    if (rc != 0) {
        switch (error.err) {
        case OST_ERR_INVALID_TOKEN:
            return s_challenge (req, OST_ERR_INVALID_TOKEN,
                                error.description[0] ? error.description : "The access token is invalid",
                                NULL);
        case OST_ERR_INSUFFICIENT_SCOPE:
            //  §3.1: 403, naming the scope the request needs.
            return s_challenge (req, OST_ERR_INSUFFICIENT_SCOPE,
                                error.description[0] ? error.description
                                                     : "The access token lacks the openid scope",
                                "openid");
        case OST_ERR_INVALID_REQUEST:
            return s_challenge (req, OST_ERR_INVALID_REQUEST, error.description, NULL);
        default:
            return http_send_bus_error (req, &error);
        }
    }
    token_userinfo_out_t who;
    char why[SCHEMA_WHY_MAX];
    if (token_userinfo_out_unpack (result, &who, why, sizeof why) != 0) {
        json_decref (result);
        log_error ("token.userinfo answered something unexpected: %s", why);
        return http_send_error (req, OST_ERR_SERVER_ERROR, "the service could not answer");
    }
    //  OpenID Connect Core §5.5: the claims the request asked of userinfo,
    //  whatever the scopes.
    flow_user_claims_in_t claims_in = {.sub = who.sub, .scopes = who.scopes, .claims = who.claims};
    body = flow_user_claims_in_pack (&claims_in);
    json_t *claims_reply = NULL;
    rc = http_bus_call (req, "flow.user_claims", body, &claims_reply, &error);
    json_decref (body);
    if (rc != 0) {
        json_decref (result);
        //  The user was removed or disabled since the token was issued.
        if (error.err == OST_ERR_NOT_FOUND)
            return s_challenge (req, OST_ERR_INVALID_TOKEN,
                                "The user of the access token is no longer active", NULL);
        return http_send_bus_error (req, &error);
    }
    flow_user_claims_out_t got;
    shape_user_claims_t claims;
    int fits = flow_user_claims_out_unpack (claims_reply, &got, why, sizeof why) == 0 &&
               shape_user_claims_unpack (got.claims, &claims, why, sizeof why) == 0;
    //  OpenID Connect Core §5.3.2: the sub of the answer MUST be the sub of
    //  the token; anything else is never sent.
    if (!fits || strcmp (claims.sub, who.sub) != 0) {
        json_decref (result);
        json_decref (claims_reply);
        if (fits)
            log_error ("flow.user_claims answered claims of another subject");
        else
            log_error ("flow.user_claims answered something unexpected: %s", why);
        return http_send_error (req, OST_ERR_SERVER_ERROR, "the service could not answer");
    }
    //  CORS (cors.h): the claims only to an origin of the token's client.
    cors_allow_client (req, who.client_id);
    http_header_t extra[] = {{"Pragma", "no-cache"}};
    http_send_json (req, 200, got.claims, "no-store", extra, 1);
    json_decref (result);
    json_decref (claims_reply);
    return req->status;
}

int
userinfo_get (gw_req_t *req)
{
    return s_userinfo (req, 0);
}

int
userinfo_post (gw_req_t *req)
{
    return s_userinfo (req, 1);
}
