/*  keys_ops - keys.health, keys.jwks and keys.sign. They read the sealed
 *  keyring only, so they run on any worker thread without locks and without
 *  the database. */
#include "keys_ops.h"

#include "keyring.h"
#include "keys_app.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

//  The error descriptions that cross the bus: fixed texts, never OpenSSL's.
#define DESC_CLAIMS "claims must be a JSON object"
#define DESC_CLAIMS_SIZE "claims are too large to sign"
#define DESC_ALG "alg must be one of RS256, ES256, EdDSA"
#define DESC_TYP "typ must be 1 to 32 printable ASCII characters"
#define DESC_NO_KEY "no active signing key for this algorithm"
#define DESC_SIGN "signing failed"
#define DESC_INTERNAL "internal error"

static const keyring_t *
s_ring (const bus_req_t *req)
{
    return keys_app_keyring ((const keys_app_t *)req->app);
}

int
keys_op_health (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    *result = json_pack ("{s:s, s:I}", "status", "ok", "keys", (json_int_t)keyring_published (s_ring (req)));
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        return -1;
    }
    return 0;
}

int
keys_op_jwks (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    *result = keyring_jwks (s_ring (req));
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        return -1;
    }
    return 0;
}

//  A JSON string member as a C string, or NULL when it is absent, not a
//  string, or holds a NUL byte (which would cut it short in C).
static const char *
s_string (const json_t *body, const char *name)
{
    const json_t *v = json_object_get (body, name);
    if (!json_is_string (v))
        return NULL;
    const char *s = json_string_value (v);
    return strlen (s) == json_string_length (v) ? s : NULL;
}

int
keys_op_sign (bus_req_t *req, const json_t *body, json_t **result)
{
    //  The caller gives the claims, the algorithm and the typ only; the
    //  protected header is ours (keyring_sign frames it), and any other
    //  member of the body (a "header", a "kid", a "jku") is ignored, never
    //  copied into what we sign.
    const json_t *claims = json_object_get (body, "claims");
    if (!json_is_object (claims)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_CLAIMS);
        return -1;
    }
    //  RFC 7515 §4.1.1: alg is case-sensitive; RFC 8725 §3.1: never "none".
    const char *algname = s_string (body, "alg");
    jws_alg_t alg = algname ? jws_alg_parse (algname) : JWS_ALG_NONE;
    if (alg == JWS_ALG_NONE || strcmp (jws_alg_name (alg), algname) != 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_ALG);
        return -1;
    }
    const char *typ = "JWT";
    if (json_object_get (body, "typ")) {
        typ = s_string (body, "typ");
        if (!typ) {
            bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_TYP);
            return -1;
        }
    }
    char *jws = NULL;
    const char *kid = NULL;
    switch (keyring_sign (s_ring (req), alg, typ, claims, &jws, &kid)) {
    case KEYRING_SIGN_OK:
        break;
    case KEYRING_SIGN_BAD_INPUT:
        //  Claims were checked above, so only typ can be at fault here.
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_TYP);
        return -1;
    case KEYRING_SIGN_TOO_LARGE:
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_CLAIMS_SIZE);
        return -1;
    case KEYRING_SIGN_NO_KEY:
        log_error ("no active %s key to sign with", jws_alg_name (alg));
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_NO_KEY);
        return -1;
    default:
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_SIGN);
        return -1;
    }
    *result = json_pack ("{s:s, s:s, s:s}", "jws", jws, "kid", kid, "alg", jws_alg_name (alg));
    free (jws);
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        return -1;
    }
    log_debug ("signed a %s token with key %s", jws_alg_name (alg), kid);
    return 0;
}
