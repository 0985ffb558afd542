/*  grants - the signing every grant of token.exchange shares: the access
 *  token (RFC 9068) and the ID token (OpenID Connect Core §2), signed by
 *  keys-svc in one keys.sign call. See grants.h. */
#include "grants.h"

#include "b64url.h"
#include "claims.h"
#include "clients.h"
#include "log.h"
#include "secure.h"
#include "service.h"
#include "token_app.h"
#include "token_util.h"

#include <stdlib.h>
#include <string.h>

#define JTI_BYTES 16

#define DESC_INTERNAL "internal error"
#define DESC_DEADLINE "the request deadline passed"

//  ------------------------------------------------------------- keys.sign

//  A new jti (RFC 7519 §4.1.7): JTI_BYTES random bytes in base64url. It is
//  an identifier, carried in the clear in the token: drawn from the id pool
//  (secure_id_random). free() it.
static char *
s_new_jti (void)
{
    unsigned char raw[JTI_BYTES];
    char *jti = malloc (b64url_encoded_len (JTI_BYTES) + 1);
    if (!jti || secure_id_random (raw, sizeof raw)) {
        free (jti);
        return NULL;
    }
    b64url_encode (raw, sizeof raw, jti);
    return jti;
}

//  The keys.sign call: claims signed with alg and typ, and, with id_claims,
//  an ID token bound to it by at_hash (proto/ops.md). *jws, *idt (free()).
//  -1 after failing req.
static int
s_sign (bus_req_t *req, const json_t *claims, const char *alg, const char *typ, const json_t *id_claims,
        const char *id_alg, char **jws, char **idt)
{
    service_thread_t *thread = req->thread_state;
    *jws = NULL;
    *idt = NULL;
    int timeout = tu_time_left_ms (req);
    if (timeout <= 0)
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    shape_id_token_req_t id_req = {.claims = id_claims, .alg = id_alg};
    json_t *id_token = id_claims ? schema_pack (&schema_shape_id_token_req, &id_req) : NULL;
    keys_sign_in_t in = {.claims = claims, .alg = alg, .typ = typ, .id_token = id_token};
    json_t *body = !id_claims || id_token ? keys_sign_in_pack (&in) : NULL;
    json_decref (id_token);
    json_t *res = NULL;
    bus_error_t error;
    int rc = body ? bus_client_call (thread->bus, "keys.sign", body, timeout, &res, &error) : -1;
    json_decref (body);
    if (rc) {
        log_error ("keys.sign (%s) failed: %s", alg, body ? error.code : "no memory");
        json_decref (res);
        if (body && (error.err == OST_ERR_TEMPORARILY_UNAVAILABLE || error.err == OST_ERR_DEADLINE_EXCEEDED))
            return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the signing service is not available");
        return tu_fail (req, OST_ERR_SERVER_ERROR, "the tokens could not be signed");
    }
    keys_sign_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (keys_sign_out_unpack (res, &out, why, sizeof why) != 0) {
        log_error ("keys.sign answered a result outside proto/ops.def: %s", why);
        json_decref (res);
        return tu_fail (req, OST_ERR_SERVER_ERROR, "the tokens could not be signed");
    }
    *jws = strdup (out.jws);
    *idt = id_claims && out.id_token ? strdup (out.id_token) : NULL;
    json_decref (res);
    if (!*jws || (id_claims && !*idt)) {
        secure_free_str (jws);
        secure_free_str (idt);
        return tu_fail (req, OST_ERR_SERVER_ERROR, "the tokens could not be signed");
    }
    return 0;
}

int
grants_sign_one (bus_req_t *req, const json_t *claims, const char *alg, const char *typ, char **jws)
{
    char *idt = NULL;
    return s_sign (req, claims, alg, typ, NULL, NULL, jws, &idt);
}

//  ------------------------------------------------------------- claims

//  OpenID Connect Core §5.5: the claims named (claims.h) that the user has,
//  from flow-svc (which releases only those of its scope table), set in
//  id_claims where it has none of that name yet (never over iss, sub, aud
//  and the others). 0 ok; -1 after failing req.
static int
s_add_user_claims (bus_req_t *req, const char *sub, const json_t *names, json_t *id_claims)
{
    service_thread_t *thread = req->thread_state;
    int timeout = tu_time_left_ms (req);
    if (timeout <= 0)
        return tu_fail (req, OST_ERR_DEADLINE_EXCEEDED, DESC_DEADLINE);
    json_t *none = json_array ();
    flow_user_claims_in_t in = {.sub = sub, .scopes = none, .claims = names};
    json_t *body = none ? flow_user_claims_in_pack (&in) : NULL;
    json_decref (none);
    json_t *res = NULL;
    bus_error_t error;
    int rc = body ? bus_client_call (thread->bus, "flow.user_claims", body, timeout, &res, &error) : -1;
    json_decref (body);
    if (rc) {
        json_decref (res);
        if (body && error.err == OST_ERR_NOT_FOUND)
            return tu_fail (req, OST_ERR_INVALID_GRANT, "the user is no longer active");
        log_error ("flow.user_claims failed: %s", body ? error.code : "no memory");
        return tu_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the user's claims are not available now");
    }
    flow_user_claims_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (flow_user_claims_out_unpack (res, &out, why, sizeof why) != 0 || !json_is_object (out.claims) ||
        !json_equal (json_object_get (out.claims, "sub"), json_object_get (id_claims, "sub"))) {
        log_error ("flow.user_claims answered a result outside proto/ops.def: %s", why);
        json_decref (res);
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    }
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *)out.claims, name, value)
    {
        if (!json_object_get (id_claims, name) && json_object_set (id_claims, name, value)) {
            json_decref (res);
            return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        }
    }
    json_decref (res);
    return 0;
}

int
grants_sign_tokens (bus_req_t *req, const token_client_t *client, const char *sub, const char *scope,
                    int64_t auth_time, const grants_subject_t *who, int64_t now, char **at, char **jti,
                    char **idt)
{
    const token_app_t *app = req->app;
    *at = NULL;
    *idt = NULL;
    *jti = s_new_jti ();
    if (!*jti)
        return tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
    //  RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope (§2.2.3)
    //  and auth_time (§2.2.1, only when a user authenticated). The audience
    //  is the resource the token is for: our own userinfo endpoint (the only
    //  resource served; resource indicators may add others later).
    json_t *claims =
        json_pack ("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", app->issuer, "sub", sub, "aud",
                   app->access_token_aud, "exp", (json_int_t)(now + clients_access_token_ttl (app, client)),
                   "iat", (json_int_t)now, "jti", *jti, "client_id", client->client_id, "scope", scope);
    int bad =
        !claims || (auth_time > 0 && json_object_set_new (claims, "auth_time", json_integer (auth_time)));
    //  OpenID Connect Core §2: iss, sub, aud, exp, iat, auth_time, nonce
    //  (when the request had one, §3.1.2.1), azp, sid (Front- and
    //  Back-Channel Logout), amr; keys-svc adds at_hash (§3.1.3.6), which
    //  it alone can compute before answering.
    json_t *id_claims = NULL;
    if (!bad && who) {
        id_claims = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", app->issuer, "sub", who->sub,
                               "aud", client->client_id, "exp",
                               (json_int_t)(now + clients_id_token_ttl (app, client)), "iat", (json_int_t)now,
                               "auth_time", (json_int_t)who->auth_time, "azp", client->client_id);
        bad = !id_claims;
        bad = bad || (who->nonce && json_object_set_new (id_claims, "nonce", json_string (who->nonce)));
        bad = bad || (who->sid && json_object_set_new (id_claims, "sid", json_string (who->sid)));
        bad =
            bad || (json_array_size (who->amr) > 0 && json_object_set (id_claims, "amr", (json_t *)who->amr));
        //  §2: acr, decided when the code was issued (claims.h).
        bad = bad || (who->acr && json_object_set_new (id_claims, "acr", json_string (who->acr)));
        //  §5.5: the claims the request asked of userinfo travel in the
        //  access token, which token.userinfo reads.
        const json_t *asked = claims_names (who->claims, "userinfo");
        bad = bad || (asked && json_object_set (claims, GRANTS_USERINFO_CLAIMS, (json_t *)asked));
    }
    const json_t *id_names = who ? claims_names (who->claims, "id_token") : NULL;
    if (!bad && id_names && s_add_user_claims (req, who->sub, id_names, id_claims)) {
        json_decref (claims);
        json_decref (id_claims);
        free (*jti);
        *jti = NULL;
        return -1;
    }
    //  RFC 9068 §2.1: typ "at+jwt", so an access token is never taken for an
    //  ID token (RFC 8725 §3.11). The client's own algorithm, when
    //  it chose one.
    int rc = bad ? tu_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL)
                 : s_sign (req, claims, clients_access_token_alg (app, client), "at+jwt", id_claims,
                           client->id_token_alg, at, idt);
    json_decref (claims);
    json_decref (id_claims);
    if (rc) {
        free (*jti);
        *jti = NULL;
    }
    return rc;
}
