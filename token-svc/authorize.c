/*  authorize - token.authorize: validates an authorization request
 *  (OpenID Connect Core §3.1.2.1, §3.1.2.6; RFC 6749 §4.1.1, §4.1.2.1;
 *  RFC 7636; RFC 9207; RFC 9700) and stores it for the login flow.
 *
 *  A request object passed by value (the request parameter, OpenID
 *  Connect Core §6.1) is taken when it is unsigned (alg none): its members
 *  replace the query's (§6.3.3) before any check, and are then checked
 *  exactly as query parameters are. request_uri is not supported.
 *
 *  The order of the checks is the order of the specs:
 *    1. client_id and redirect_uri. Until both are validated nothing may be
 *       sent to the redirect URI (RFC 6749 §4.1.2.1, §10.15; RFC 9700
 *       §4.11): every problem is a page_error, which the gateway renders as
 *       an HTML page without redirecting.
 *    2. Then every problem is an error response delivered to the validated
 *       redirect URI, with error, error_description, state (byte for byte)
 *       and iss (RFC 9207 §2), through the requested response mode when it
 *       is valid and through the query otherwise. */
#include "admin_scope.h"
#include "b64url.h"
#include "claims.h"
#include "clients.h"
#include "jws.h"
#include "log.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_ops.h"
#include "token_settings.h"
#include "token_store.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

//  Bounds on what the browser controls. A value beyond them is an error,
//  never truncated.
#define PARAM_MAX 4096
#define REDIRECT_URI_MAX 2048
#define STATE_MAX 2048
#define NONCE_MAX 512
#define HINT_MAX 512
#define LOCALES_MAX 256
#define REPEATED_MAX 64
#define SUB_MAX 255
//  max_age in seconds: at most 9 digits (about 31 years), so it fits an int.
#define MAX_AGE_DIGITS 9
//  A code_challenge of S256 is base64url(SHA-256(verifier)): 43 characters.
#define S256_CHALLENGE_LEN 43
#define REQUEST_ID_BYTES 32

//  The parameters whose repetition is an error (RFC 6749 §3.1: "Request and
//  response parameters MUST NOT be included more than once"); unknown ones
//  are ignored, repeated or not (§3.1: "MUST ignore unrecognized request
//  parameters").
static const char *const s_known[] = {
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "display",
    "ui_locales",
    "claims_locales",
    "acr_values",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
    "claims",
    "registration",
};

//  OpenID Connect Core §3.1.2.1.
static const char *const s_prompts[] = {"none", "login", "consent", "select_account"};
static const char *const s_displays[] = {"page", "popup", "touch", "wap"};
//  OAuth 2.0 Multiple Response Type Encoding Practices §2.1, OAuth 2.0 Form
//  Post Response Mode §2.
static const char *const s_modes[] = {"query", "fragment", "form_post"};

static int
s_in (const char *value, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (value, set[i]) == 0)
            return 1;
    return 0;
}
#define S_IN(value, set) s_in ((value), (set), sizeof (set) / sizeof (set)[0])

//  Where error responses go once the redirect URI is validated.
typedef struct {
    const token_app_t *app;
    const char *redirect_uri;
    const char *response_mode;
    const char *state; //  NULL when absent or not echoable (repeated, too long)
} s_ctx_t;

//  A refusal shown on a page: reason (proto/page_errors.def) for the user's
//  page, description for logs and tools.
static int
s_page_error (bus_req_t *req, json_t **result, ost_page_err_t reason, const char *description)
{
    *result = json_pack ("{s:{s:s, s:s, s:s}}", "page_error", "error", "invalid_request", "error_description",
                         description, "reason", proto_page_err (reason));
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

static int
s_error (bus_req_t *req, const s_ctx_t *ctx, json_t **result, ost_err_t err, const char *description)
{
    json_t *params =
        json_pack ("{s:s, s:s}", "error", proto_err (err)->code, "error_description", description);
    json_t *redirect =
        tu_redirect (ctx->app->issuer, ctx->redirect_uri, ctx->response_mode, ctx->state, params);
    *result = redirect ? json_pack ("{s:o}", "redirect", redirect) : NULL;
    return *result ? 0 : tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
}

static int
s_repeated (const json_t *repeated, const char *name)
{
    return tu_has (repeated, name);
}

//  A parameter: a string without NUL of at most max bytes.
static tu_get_t
s_param (const json_t *params, const char *name, size_t max, const char **out)
{
    return tu_string (params, name, max, out);
}

//  A parameter passed on in Q (proto/ops/token.def): as s_param, and
//  without control characters (C0, DEL, C1), which no hint, locale list or
//  nonce holds and no page should show.
static tu_get_t
s_text_param (const json_t *params, const char *name, size_t max, const char **out)
{
    tu_get_t got = tu_string (params, name, max, out);
    if (got != TU_OK)
        return got;
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return TU_BAD;
    return TU_OK;
}

//  RFC 7636 §4.2: S256 challenges are base64url without padding of 32 bytes.
static int
s_challenge_valid (const char *challenge)
{
    unsigned char digest[32];
    return strlen (challenge) == S256_CHALLENGE_LEN &&
           b64url_decode (challenge, S256_CHALLENGE_LEN, digest, sizeof digest) == (long)sizeof digest;
}

//  OpenID Connect Core §3.1.2.1: max_age is a non-negative number of seconds.
static int
s_max_age (const char *text, long *out)
{
    size_t n = strlen (text);
    if (n == 0 || n > MAX_AGE_DIGITS || strspn (text, "0123456789") != n)
        return -1;
    *out = strtol (text, NULL, 10);
    return 0;
}

//  Checks an id_token_hint (OpenID Connect Core §3.1.2.1): an ID token we
//  issued to this client, signature checked against our JWKS. An expired
//  one is accepted: the hint names who the client believes is logged in,
//  and is typically sent after the ID token expired. An access token
//  (typ at+jwt) is never taken for one (RFC 8725 §3.11).
//  Returns 0 with *sub set (owned by *parts), 1 invalid, 2 keys unavailable.
static int
s_check_hint (bus_req_t *req, const token_app_t *app, const char *client_id, const char *hint,
              jws_parts_t **parts, const char **sub)
{
    service_thread_t *thread = req->thread_state;
    int timeout = tu_time_left_ms (req);
    if (timeout <= 0)
        return 2;
    token_jwt_status_t st = token_jwt_verify (app->jwks, thread->bus, timeout, hint, NULL, "at+jwt", parts);
    if (st == TOKEN_JWT_UNAVAILABLE)
        return 2;
    if (st != TOKEN_JWT_OK)
        return 1;
    const json_t *claims = (*parts)->claims;
    const char *iss = json_string_value (json_object_get (claims, "iss"));
    const json_t *aud = json_object_get (claims, "aud");
    int aud_ok =
        json_is_string (aud) ? strcmp (json_string_value (aud), client_id) == 0 : tu_has (aud, client_id);
    const char *s = NULL;
    if (!iss || strcmp (iss, app->issuer) != 0 || !aud_ok ||
        tu_string (claims, "sub", SUB_MAX, &s) != TU_OK || !*s) {
        jws_parts_destroy (parts);
        return 1;
    }
    *sub = s;
    return 0;
}

//  One base64url part of a compact JWS as a JSON object, or NULL.
static json_t *
s_b64_object (const char *in, size_t len)
{
    size_t max = len / 4 * 3 + 3;
    char *raw = malloc (max + 1);
    long n = raw ? b64url_decode (in, len, raw, max) : -1;
    json_t *obj = n > 0 ? json_loadb (raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free (raw);
    if (obj && !json_is_object (obj))
        json_decref (obj);
    return json_is_object (obj) ? obj : NULL;
}

//  The members of a JWT that are about the object itself, not parameters.
static const char *const s_jwt_claims[] = {"iss", "aud", "exp", "iat", "nbf", "jti"};

//  OpenID Connect Core §6.1, §6.3: the parameters of an authorization
//  request that passed a request object by value. Only unsigned objects
//  (alg none, an empty signature) are taken: Ostiary registers no client
//  keys to verify a signature with, and an unsigned object proves no more
//  than the query it stands for, which is how it is treated: every
//  parameter it carries goes through the checks a query parameter does.
//  Its members take precedence over the query's (§6.3.3); client_id and
//  response_type, which the query must carry too (§6.1), must match when
//  the object repeats them; it may not nest request or request_uri; iss and
//  aud, when present, must name the client and this provider, and exp must
//  not have passed. Returns the merged parameters (new), or NULL with
//  *problem set.
static json_t *
s_request_object (const token_app_t *app, long skew, const json_t *params, const char *compact,
                  const char **problem)
{
    *problem = "the request object is malformed";
    size_t len = strnlen (compact, JWS_MAX_COMPACT + 1);
    const char *dot1 = memchr (compact, '.', len);
    const char *dot2 = dot1 ? memchr (dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact)) : NULL;
    if (len > JWS_MAX_COMPACT || !dot1 || !dot2 || dot1 == compact || dot2 == dot1 + 1)
        return NULL;
    json_t *header = s_b64_object (compact, (size_t)(dot1 - compact));
    json_t *claims = s_b64_object (dot1 + 1, (size_t)(dot2 - dot1 - 1));
    json_t *merged = NULL;
    const char *alg = json_string_value (json_object_get (header, "alg"));
    if (!header || !claims)
        goto done;
    if (!alg || strcmp (alg, "none") != 0 || dot2[1] != '\0' || json_object_get (header, "crit")) {
        *problem = "only unsigned request objects (alg none) are supported";
        goto done;
    }
    if (json_object_get (claims, "request") || json_object_get (claims, "request_uri")) {
        *problem = "a request object may not hold request or request_uri";
        goto done;
    }
    const char *client_id = json_string_value (json_object_get (params, "client_id"));
    const json_t *iss = json_object_get (claims, "iss");
    const json_t *aud = json_object_get (claims, "aud");
    const json_t *exp = json_object_get (claims, "exp");
    if ((iss && (!client_id || !json_is_string (iss) || strcmp (json_string_value (iss), client_id) != 0)) ||
        (aud && !(json_is_string (aud) ? strcmp (json_string_value (aud), app->issuer) == 0
                                       : tu_has (aud, app->issuer))) ||
        (exp && (!json_is_integer (exp) || json_integer_value (exp) <= tu_now () - skew))) {
        *problem = "the request object's iss, aud or exp is not valid here";
        goto done;
    }
    static const char *const same[] = {"client_id", "response_type"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        const json_t *inner = json_object_get (claims, same[i]);
        const char *outer = json_string_value (json_object_get (params, same[i]));
        if (inner && (!json_is_string (inner) || !outer || strcmp (json_string_value (inner), outer) != 0)) {
            *problem = "client_id and response_type of the request object differ from the query's";
            goto done;
        }
    }
    merged = json_deep_copy (params);
    if (!merged) {
        *problem = "internal error";
        goto done;
    }
    json_object_del (merged, "request");
    const char *name;
    json_t *value;
    json_object_foreach (claims, name, value)
    {
        if (S_IN (name, s_jwt_claims))
            continue;
        //  Every parameter is a string; max_age may come as a number and
        //  claims as an object (§5.5), which the query carries as text.
        json_t *text = NULL;
        if (json_is_string (value))
            text = json_incref (value);
        else if (json_is_integer (value) && json_integer_value (value) >= 0)
            text = json_sprintf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
        else if (json_is_object (value)) {
            char *dumped = json_dumps (value, JSON_COMPACT);
            text = dumped ? json_string (dumped) : NULL;
            free (dumped);
        }
        if (!text || json_object_set_new (merged, name, text)) {
            *problem = "a member of the request object is not a parameter value";
            json_decref (merged);
            merged = NULL;
            goto done;
        }
    }
    *problem = NULL;
done:
    json_decref (header);
    json_decref (claims);
    return merged;
}

//  Steps 2 onwards, once client and redirect URI are known.
static int
s_validate (bus_req_t *req, s_ctx_t *ctx, const token_client_t *client, const json_t *params,
            const json_t *repeated, int redirect_uri_sent, int state_problem, const char *object_problem,
            json_t **result)
{
    const token_app_t *app = ctx->app;
    service_thread_t *thread = req->thread_state;
    const char *v = NULL;

    //  The response mode first: every later error is delivered through it.
    if (s_repeated (repeated, "response_mode"))
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, "a parameter is repeated");
    tu_get_t got = s_param (params, "response_mode", 32, &v);
    if (got == TU_BAD || (got == TU_OK && !S_IN (v, s_modes)))
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST,
                        "response_mode must be query, fragment or form_post");
    if (got == TU_OK)
        ctx->response_mode = v;
    if (state_problem)
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST,
                        state_problem == 1 ? "a parameter is repeated" : "state is too long");
    //  RFC 6749 §3.1: no parameter more than once.
    size_t i;
    const json_t *name;
    json_array_foreach (repeated, i, name)
    {
        if (S_IN (json_string_value (name), s_known))
            return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, "a parameter is repeated");
    }

    //  RFC 6749 §4.1.1, §4.1.2.1; OpenID Connect Core §3.1.2.1: only the
    //  authorization code flow is served.
    got = s_param (params, "response_type", 64, &v);
    if (got != TU_OK)
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, "response_type is missing");
    if (strcmp (v, "code") != 0)
        return s_error (req, ctx, result, OST_ERR_UNSUPPORTED_RESPONSE_TYPE,
                        "only the response_type code is supported");
    if (!tu_has (client->response_types, "code") || !tu_has (client->grant_types, "authorization_code"))
        return s_error (req, ctx, result, OST_ERR_UNAUTHORIZED_CLIENT,
                        "the client may not use the authorization code flow");

    //  OpenID Connect Core §6.2, §3.1.2.6: request objects by reference are
    //  not supported; one by value that could not be taken (s_request_object)
    //  is an invalid_request_object.
    if (object_problem)
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST_OBJECT, object_problem);
    if (json_object_get (params, "request_uri"))
        return s_error (req, ctx, result, OST_ERR_REQUEST_URI_NOT_SUPPORTED,
                        "the request_uri parameter is not supported");

    //  Scopes. OpenID Connect Core §3.1.2.1: "OpenID Connect requests MUST
    //  contain the openid scope value"; without it the behaviour is left
    //  unspecified. /authorize of this provider serves OpenID Connect only,
    //  so a request without openid (or without scope) is refused as an
    //  invalid scope (RFC 6749 §4.1.2.1) rather than run as plain OAuth.
    got = s_param (params, "scope", PARAM_MAX, &v);
    if (got == TU_ABSENT)
        return s_error (req, ctx, result, OST_ERR_INVALID_SCOPE, "the openid scope is required");
    json_t *scopes = got == TU_OK ? tu_scope_parse (v) : NULL;
    if (!scopes)
        return s_error (req, ctx, result, OST_ERR_INVALID_SCOPE, "scope is malformed");
    json_t *scope;
    json_array_foreach (scopes, i, scope)
    {
        const char *sv = json_string_value (scope);
        const char *problem = !tu_scope_known (sv) ? "scope holds an unknown value"
                              : !tu_has (client->scopes, sv) || (!strcmp (sv, ADMIN_SCOPE) &&
                                                                 !admin_scope_client (app, client->client_id))
                                  ? "scope holds a value the client may not request"
                                  : NULL;
        if (problem) {
            json_decref (scopes);
            return s_error (req, ctx, result, OST_ERR_INVALID_SCOPE, problem);
        }
    }
    if (!tu_has (scopes, "openid")) {
        json_decref (scopes);
        return s_error (req, ctx, result, OST_ERR_INVALID_SCOPE, "the openid scope is required");
    }

    //  PKCE (RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1). Only S256: plain
    //  would show the verifier to whoever sees the request. A missing
    //  method defaults to plain (§4.3), so it is refused as well.
    const char *challenge = NULL, *method = NULL;
    tu_get_t got_challenge = s_param (params, "code_challenge", 256, &challenge);
    tu_get_t got_method = s_param (params, "code_challenge_method", 32, &method);
    const char *pkce_problem = NULL;
    if (got_method == TU_BAD || (got_method == TU_OK && strcmp (method, "S256") != 0))
        pkce_problem = "code_challenge_method must be S256";
    else if (got_challenge == TU_ABSENT && got_method == TU_OK)
        pkce_problem = "code_challenge is missing";
    else if (got_challenge != TU_ABSENT && got_method == TU_ABSENT)
        pkce_problem = "code_challenge_method must be S256";
    else if (got_challenge == TU_BAD || (got_challenge == TU_OK && !s_challenge_valid (challenge)))
        pkce_problem = "code_challenge is malformed";
    else if (got_challenge == TU_ABSENT &&
             clients_pkce_required (((service_thread_t *)req->thread_state)->db, client))
        pkce_problem = "code_challenge is required for this client";
    if (pkce_problem) {
        json_decref (scopes);
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, pkce_problem);
    }

    //  OpenID Connect Core §3.1.2.1: prompt is a space-delimited list of
    //  known values; none may not be combined with any other.
    json_t *prompt = json_array ();
    got = s_param (params, "prompt", 128, &v);
    const char *prompt_problem = got == TU_BAD ? "prompt is malformed" : NULL;
    if (got == TU_OK && !prompt_problem) {
        json_t *values = tu_scope_parse (v);
        if (!values && strspn (v, " ") != strlen (v))
            prompt_problem = "prompt is malformed";
        json_array_foreach (values, i, scope)
        {
            if (!S_IN (json_string_value (scope), s_prompts))
                prompt_problem = "prompt holds an unknown value";
        }
        if (!prompt_problem && tu_has (values, "none") && json_array_size (values) > 1)
            prompt_problem = "prompt none cannot be combined with other values";
        if (values) {
            json_decref (prompt);
            prompt = values;
        }
    }
    if (prompt_problem || !prompt) {
        json_decref (scopes);
        json_decref (prompt);
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST,
                        prompt_problem ? prompt_problem : "internal error");
    }
    //  OpenID Connect Core §11: without prompt=consent, offline_access MUST
    //  be ignored.
    if (tu_has (scopes, "offline_access") && !tu_has (prompt, "consent")) {
        json_array_foreach (scopes, i, scope)
        {
            if (strcmp (json_string_value (scope), "offline_access") == 0) {
                json_array_remove (scopes, i);
                break;
            }
        }
    }

    json_t *details = json_pack ("{s:s, s:s, s:b, s:o}", "client_id", client->client_id, "client_name",
                                 client->name, "first_party", client->first_party, "prompt", prompt);
    if (!details) {
        json_decref (scopes);
        return tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    }
    const char *problem = NULL;
    got = s_param (params, "max_age", 32, &v);
    long max_age = 0;
    if (got == TU_BAD || (got == TU_OK && s_max_age (v, &max_age)))
        problem = "max_age must be a non-negative integer";
    else if (got == TU_OK)
        json_object_set_new (details, "max_age", json_integer (max_age));
    got = s_param (params, "display", 16, &v);
    if (!problem && (got == TU_BAD || (got == TU_OK && !S_IN (v, s_displays))))
        problem = "display must be page, popup, touch or wap";
    else if (got == TU_OK)
        json_object_set_new (details, "display", json_string (v));
    //  Free-form parameters, bounded and passed on (the gateway escapes them).
    static const struct {
        const char *name;
        size_t max;
    } s_texts[] = {
        {"login_hint", HINT_MAX},
        {"ui_locales", LOCALES_MAX},
        {"claims_locales", LOCALES_MAX},
        {"acr_values", LOCALES_MAX},
    };
    for (size_t k = 0; k < sizeof s_texts / sizeof s_texts[0] && !problem; k++) {
        got = s_text_param (params, s_texts[k].name, s_texts[k].max, &v);
        if (got == TU_BAD)
            problem = "a parameter is too long or malformed";
        else if (got == TU_OK)
            json_object_set_new (details, s_texts[k].name, json_string (v));
    }
    const char *nonce = NULL;
    if (!problem && s_text_param (params, "nonce", NONCE_MAX, &nonce) == TU_BAD)
        problem = "nonce is too long or malformed";
    //  OpenID Connect Core §5.5: the claims to release, whatever the scopes.
    json_t *claims = NULL;
    got = problem ? TU_ABSENT : s_param (params, "claims", CLAIMS_TEXT_MAX, &v);
    if (got == TU_BAD)
        problem = "claims is too long or malformed";
    else if (got == TU_OK)
        claims = claims_parse (v, &problem);
    if (problem) {
        json_decref (claims);
        json_decref (scopes);
        json_decref (details);
        return s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, problem);
    }

    //  The hint last: it is the one check that may need keys-svc.
    got = s_param (params, "id_token_hint", JWS_MAX_COMPACT, &v);
    jws_parts_t *hint = NULL;
    if (got != TU_ABSENT) {
        const char *sub = NULL;
        int rc = got == TU_BAD ? 1 : s_check_hint (req, app, client->client_id, v, &hint, &sub);
        if (rc) {
            json_decref (claims);
            json_decref (scopes);
            json_decref (details);
            return rc == 2 ? s_error (req, ctx, result, OST_ERR_TEMPORARILY_UNAVAILABLE,
                                      "the signing keys cannot be fetched now")
                           : s_error (req, ctx, result, OST_ERR_INVALID_REQUEST, "id_token_hint is invalid");
        }
        json_object_set_new (details, "id_token_hint_sub", json_string (sub));
        jws_parts_destroy (&hint);
    }

    //  Store it under a fresh 256-bit id, kept only as its SHA-256.
    char *request_id = secure_token (REQUEST_ID_BYTES);
    if (!request_id) {
        json_decref (claims);
        json_decref (scopes);
        json_decref (details);
        return tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    }
    unsigned char id_hash[TOKEN_HASH_LEN];
    tu_sha256 (request_id, id_hash);
    token_request_t stored = {
        .redirect_uri = (char *)ctx->redirect_uri,
        .redirect_uri_sent = redirect_uri_sent,
        .state = (char *)ctx->state,
        .nonce = (char *)nonce,
        .scopes = scopes,
        .code_challenge = (char *)challenge,
        .details = details,
        .claims = claims,
    };
    snprintf (stored.client_id, sizeof stored.client_id, "%s", client->client_id);
    snprintf (stored.response_mode, sizeof stored.response_mode, "%s", ctx->response_mode);
    db_status_t st = bus_req_expired (req)
                         ? DB_ERROR
                         : token_store_request_insert (thread->db, id_hash, &stored, app->request_ttl);
    //  For the consent page: what the claims parameter asks beyond the scopes.
    json_t *shown = st == DB_OK ? claims_beyond_scopes (claims, scopes) : NULL;
    json_decref (claims);
    if (st != DB_OK) {
        secure_free_str (&request_id);
        json_decref (scopes);
        json_decref (details);
        if (bus_req_expired (req))
            return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, "the request deadline passed");
        return tu_db_fail (req, st);
    }
    //  Q (shape request of proto/ops/token.def): details (prompt, max_age,
    //  hints, ...) and the rest.
    json_t *q = details;
    json_object_set_new (q, "request_id", json_string (request_id));
    json_object_set_new (q, "redirect_uri", json_string (ctx->redirect_uri));
    json_object_set_new (q, "scopes", scopes);
    if (shown)
        json_object_set_new (q, "claims", shown);
    if (nonce)
        json_object_set_new (q, "nonce", json_string (nonce));
    json_object_set_new (q, "expires_at", json_integer (stored.expires_at));
    secure_free_str (&request_id);
    *result = json_pack ("{s:o}", "request", q);
    if (!*result)
        return tu_fail (req, OST_ERR_SERVER_ERROR, "internal error");
    return 0;
}

int
token_op_authorize (bus_req_t *req, const json_t *body, json_t **result)
{
    const token_authorize_in_t *in = BUS_IN (req, token_authorize);
    OST_UNUSED (body);
    const token_app_t *app = req->app;
    service_thread_t *thread = req->thread_state;
    //  The parameters are the browser's: each is read, and its value
    //  checked, where the request's rules are (s_param).
    const json_t *params = in->params;
    const json_t *repeated = in->repeated;
    json_t *empty = NULL;
    if (!repeated)
        repeated = empty = json_array ();
    size_t i;
    const json_t *name;
    int repeated_ok = json_is_array (repeated) && json_array_size (repeated) <= REPEATED_MAX;
    if (repeated_ok)
        json_array_foreach (repeated, i, name)
        {
            repeated_ok &= json_is_string (name);
        }
    if (!repeated_ok) {
        json_decref (empty);
        return tu_fail (req, OST_ERR_INVALID_REQUEST, "repeated must be a list of parameter names");
    }

    //  0. A request object by value: its members replace the query's before
    //  any check. One that cannot be taken is reported once the redirect
    //  URI is known (step 2), through it.
    json_t *merged = NULL;
    const char *object_problem = NULL;
    const json_t *object = json_object_get (params, "request");
    if (s_repeated (repeated, "request"))
        object_problem = "a parameter is repeated";
    else if (object && !json_is_string (object))
        object_problem = "the request object is malformed";
    else if (object) {
        merged = s_request_object (app, token_clock_skew (req), params, json_string_value (object),
                                   &object_problem);
        if (merged)
            params = merged;
    }

    //  1. The client (RFC 6749 §4.1.2.1: a missing or invalid client_id is
    //  shown to the user, never sent to a redirect URI).
    const char *client_id = NULL;
    int rc;
    token_client_t client;
    memset (&client, 0, sizeof client);
    if (s_repeated (repeated, "client_id"))
        rc = s_page_error (req, result, OST_PAGE_ERR_CLIENT_ID_REPEATED, "client_id is repeated");
    else if (s_param (params, "client_id", TOKEN_CLIENT_ID_MAX, &client_id) != TU_OK || !*client_id)
        rc =
            s_page_error (req, result, OST_PAGE_ERR_CLIENT_ID_MALFORMED, "client_id is missing or malformed");
    else {
        db_status_t st = token_store_client_get (thread->db, client_id, &client);
        if (st == DB_NOT_FOUND)
            rc = s_page_error (req, result, OST_PAGE_ERR_UNKNOWN_CLIENT, "unknown client");
        else if (st != DB_OK)
            rc = tu_db_fail (req, st);
        else if (client.disabled)
            //  A disabled client is refused before its redirect URI is
            //  looked at: it gets no response at all, as if it did not exist.
            rc = s_page_error (req, result, OST_PAGE_ERR_CLIENT_DISABLED, "this client is disabled");
        else
            rc = 1;
    }
    if (rc != 1) {
        token_client_clear (&client);
        json_decref (empty);
        json_decref (merged);
        return rc;
    }

    //  2. The redirect URI: exactly one of the registered ones, compared as
    //  strings (RFC 6749 §3.1.2.3; RFC 9700 §2.1, §4.1.3: no pattern, no
    //  prefix). It may be left out only when the client registered exactly
    //  one (RFC 6749 §3.1.2.3).
    s_ctx_t ctx = {app, NULL, "query", NULL};
    const char *redirect_uri = NULL;
    int sent = 0;
    if (s_repeated (repeated, "redirect_uri"))
        rc = s_page_error (req, result, OST_PAGE_ERR_REDIRECT_URI_REPEATED, "redirect_uri is repeated");
    else {
        tu_get_t got = s_param (params, "redirect_uri", REDIRECT_URI_MAX, &redirect_uri);
        if (got == TU_BAD ||
            (got == TU_OK && !tu_redirect_uri_registered (client.redirect_uris, redirect_uri)))
            rc = s_page_error (req, result, OST_PAGE_ERR_REDIRECT_URI_UNREGISTERED,
                               "redirect_uri is not registered for this client");
        else if (got == TU_ABSENT && json_array_size (client.redirect_uris) != 1)
            rc = s_page_error (req, result, OST_PAGE_ERR_REDIRECT_URI_REQUIRED,
                               "redirect_uri is required: the client registered several");
        else {
            ctx.redirect_uri =
                got == TU_OK ? redirect_uri : json_string_value (json_array_get (client.redirect_uris, 0));
            sent = got == TU_OK;
            rc = 1;
        }
    }
    if (rc == 1) {
        //  state: echoed only when it was sent once and fits our bound.
        int state_problem = 0;
        const char *state = NULL;
        if (s_repeated (repeated, "state"))
            state_problem = 1;
        else if (s_param (params, "state", STATE_MAX, &state) == TU_BAD)
            state_problem = 2;
        else
            ctx.state = state;
        rc = s_validate (req, &ctx, &client, params, repeated, sent, state_problem, object_problem, result);
    }
    token_client_clear (&client);
    json_decref (empty);
    json_decref (merged);
    return rc;
}
