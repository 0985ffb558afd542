/*  keys_ops - keys.health, keys.jwks and keys.sign. They read a snapshot of
 *  the sealed keyring only (keys_app.h), so they run on any worker thread
 *  without the database, and a reload by the control thread never makes
 *  them wait. */
#include "keys_ops.h"

#include "audit.h"
#include "b64url.h"
#include "bus_msg.h"
#include "keyring.h"
#include "keys_app.h"
#include "keys_store.h"
#include "log.h"
#include "otlp.h"
#include "service.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  The error descriptions that cross the bus: fixed texts, never OpenSSL's.
#define DESC_CLAIMS_SIZE "claims are too large to sign"
#define DESC_ALG "alg must be one of RS256, ES256, EdDSA"
#define DESC_TYP "typ must be 1 to 32 printable ASCII characters"
#define DESC_NO_KEY "no active signing key for this algorithm"
#define DESC_SIGN "signing failed"
#define DESC_INTERNAL "internal error"
#define DESC_ID_TOKEN "id_token must be {claims: object, alg: RS256|ES256|EdDSA}"
#define DESC_POLICY "keys-svc does not sign these claims"

//  What keys-svc signs, whoever asks (proto/access.def decides who may ask,
//  this table what): a token of a typ listed here, for at most its
//  lifetime. Every one of them carries our iss and integer iat and exp.
static const struct {
    const char *typ;
    const char *what;
} s_typs[] = {
    {"JWT", "ID token"},            //  OpenID Connect Core §2
    {"at+jwt", "access token"},     //  RFC 9068 §2.1
    {"logout+jwt", "logout token"}, //  OpenID Connect Back-Channel Logout 1.0 §2.4
};

//  NULL when claims of typ may be signed, else the reason (for the log;
//  the caller gets DESC_POLICY). The longest lifetime of every typ is
//  OSTIARY_KEYS_TOKEN_LIFETIME_MAX: the retiring key stays published that
//  long, so a token that outlived it could no longer be verified.
static const char *
s_policy (const config_t *cfg, const char *typ, const json_t *claims)
{
    size_t known = 0;
    while (known < sizeof s_typs / sizeof s_typs[0] && strcmp (s_typs[known].typ, typ) != 0)
        known++;
    if (known == sizeof s_typs / sizeof s_typs[0])
        return "an unknown typ";
    //  The length too: a string from the bus may hold a NUL after our issuer.
    const json_t *iss = json_object_get (claims, "iss");
    if (!json_is_string (iss) || json_string_length (iss) != strlen (cfg->issuer) ||
        strcmp (json_string_value (iss), cfg->issuer) != 0)
        return "an iss that is not this issuer";
    const json_t *iat = json_object_get (claims, "iat");
    const json_t *exp = json_object_get (claims, "exp");
    if (!json_is_integer (iat) || !json_is_integer (exp))
        return "no integer iat and exp";
    //  iat >= 0 and exp > iat first, so that exp - iat cannot overflow.
    if (json_integer_value (iat) < 0 || json_integer_value (exp) <= json_integer_value (iat) ||
        json_integer_value (exp) - json_integer_value (iat) > (json_int_t)cfg->keys_token_lifetime_max)
        return "a lifetime (exp - iat) beyond OSTIARY_KEYS_TOKEN_LIFETIME_MAX";
    //  CLOCK_REALTIME, as token-svc's iat: time () lags it by up to a tick,
    //  so with no skew an iat made just after a second began was refused.
    if (json_integer_value (iat) > (json_int_t)(bus_now_ms () / 1000) + (json_int_t)cfg->clock_skew)
        return "an iat in the future beyond OSTIARY_CLOCK_SKEW";
    return NULL;
}

//  -1 after refusing claims that s_policy refuses (logged, without claims).
static int
s_refuse (bus_req_t *req, const char *typ, const char *why)
{
    log_warn ("keys.sign: refused to sign a %s token with %s", typ, why);
    bus_req_fail (req, OST_ERR_FORBIDDEN, DESC_POLICY);
    return -1;
}

static keys_snap_t *
s_snapshot (const bus_req_t *req)
{
    return keys_app_snapshot ((keys_app_t *)req->app);
}

int
keys_op_health (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    keys_snap_t *snap = s_snapshot (req);
    *result = json_pack ("{s:s, s:I, s:I, s:I}", "status", "ok", "keys",
                         (json_int_t)keyring_published (keys_snap_ring (snap)), "generation",
                         (json_int_t)keys_snap_generation (snap), "pid", (json_int_t)getpid ());
    keys_snap_release (&snap);
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
    keys_snap_t *snap = s_snapshot (req);
    const keyring_t *ring = keys_snap_ring (snap);
    *result = keyring_jwks (ring);
    //  Which algorithms can sign right now (an active key), so that the
    //  gateway's discovery document advertises exactly those (OpenID Connect
    //  Discovery 1.0 §3, id_token_signing_alg_values_supported); next and
    //  retiring keys are in the set but sign nothing.
    json_t *algs = keyring_signing_algs (ring);
    keys_snap_release (&snap);
    //  json_object_set_new takes algs, even when it fails.
    if (!*result || !algs || json_object_set_new (*result, "signing_algs", algs) != 0) {
        if (!*result)
            json_decref (algs);
        json_decref (*result);
        *result = NULL;
    }
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        return -1;
    }
    return 0;
}

//  An algorithm name as given (RFC 7515 §4.1.1: case-sensitive; RFC 8725
//  §3.1: never "none"), or JWS_ALG_NONE.
static jws_alg_t
s_alg (const char *name)
{
    jws_alg_t alg = jws_alg_parse (name);
    return alg != JWS_ALG_NONE && strcmp (jws_alg_name (alg), name) == 0 ? alg : JWS_ALG_NONE;
}

//  OpenID Connect Core §3.1.3.6 / §3.3.2.11: at_hash is the base64url of the
//  left half of the hash of the access token's ASCII octets, "where the hash
//  algorithm used is the hash algorithm used in the alg Header Parameter of
//  the ID Token's JOSE Header": SHA-256 for RS256 and ES256. EdDSA names no
//  hash of its own; Ed25519 (the only EdDSA curve we sign with) hashes with
//  SHA-512 (RFC 8032 §5.1), which is what OpenID implementations use.
static json_t *
s_at_hash (const char *access_token, jws_alg_t id_alg)
{
    unsigned char digest[SHA512_DIGEST_LENGTH];
    size_t half;
    if (id_alg == JWS_ALG_EDDSA) {
        SHA512 ((const unsigned char *)access_token, strlen (access_token), digest);
        half = SHA512_DIGEST_LENGTH / 2;
    } else {
        SHA256 ((const unsigned char *)access_token, strlen (access_token), digest);
        half = SHA256_DIGEST_LENGTH / 2;
    }
    char *text = b64url_encode_alloc (digest, half);
    json_t *value = text ? json_string (text) : NULL;
    free (text);
    return value;
}

//  Maps a keyring_sign failure to the request's error. Always -1.
static int
s_sign_failed (bus_req_t *req, keyring_sign_t signed_, jws_alg_t alg)
{
    switch (signed_) {
    case KEYRING_SIGN_BAD_INPUT:
        //  Claims were checked before, so only typ can be at fault here.
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_TYP);
        break;
    case KEYRING_SIGN_TOO_LARGE:
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_CLAIMS_SIZE);
        break;
    case KEYRING_SIGN_NO_KEY:
        log_error ("no active %s key to sign with", jws_alg_name (alg));
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_NO_KEY);
        break;
    default:
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_SIGN);
        break;
    }
    return -1;
}

//  keyring_sign in a span of its own, a child of the op's (alg, typ and the
//  key id as attributes; never the claims or the signature).
static keyring_sign_t
s_sign (const keyring_t *ring, jws_alg_t alg, const char *typ, const json_t *claims, char **jws,
        const char **kid)
{
    trace_ctx_t ctx;
    if (!otlp_enabled () || trace_child (trace_current (), &ctx) != 0)
        return keyring_sign (ring, alg, typ, claims, jws, kid);
    otlp_span_t span;
    otlp_span_begin (&span, "jws.sign", OTLP_INTERNAL, &ctx);
    otlp_span_str (&span, "jws.alg", jws_alg_name (alg));
    otlp_span_str (&span, "jws.typ", typ);
    keyring_sign_t signed_ = keyring_sign (ring, alg, typ, claims, jws, kid);
    if (signed_ == KEYRING_SIGN_OK)
        otlp_span_str (&span, "jws.kid", *kid);
    else
        otlp_span_error (&span, "signing failed");
    otlp_span_end (&span);
    return signed_;
}

int
keys_op_sign (bus_req_t *req, const json_t *body, json_t **result)
{
    //  The caller gives the claims, the algorithm and the typ only; the
    //  protected header is ours (keyring_sign frames it): a body with any
    //  other member (a "header", a "kid", a "jku") is refused before this
    //  runs (proto/ops.def).
    const keys_sign_in_t *in = BUS_IN (req, keys_sign);
    OST_UNUSED (body);
    const json_t *claims = in->claims;
    jws_alg_t alg = s_alg (in->alg);
    if (alg == JWS_ALG_NONE) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_ALG);
        return -1;
    }
    const char *typ = in->typ ? in->typ : "JWT";
    //  An ID token signed in the same call, bound to the token above by
    //  at_hash (OpenID Connect Core §3.1.3.6), which only we can compute
    //  before answering: one bus round trip for both tokens of a code
    //  exchange or a refresh instead of two. Its typ is always "JWT".
    shape_id_token_req_t id_token = {0};
    jws_alg_t id_alg = JWS_ALG_NONE;
    if (in->id_token && (shape_id_token_req_unpack (in->id_token, &id_token, NULL, 0) != 0 ||
                         (id_alg = s_alg (id_token.alg)) == JWS_ALG_NONE)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_ID_TOKEN);
        return -1;
    }
    const json_t *id_claims = id_token.claims;
    //  A malformed typ is a malformed request; a well-formed one we do not
    //  issue is refused by the policy.
    if (!keyring_typ_valid (typ)) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, DESC_TYP);
        return -1;
    }
    const config_t *cfg = keys_app_config ((const keys_app_t *)req->app);
    const char *why = s_policy (cfg, typ, claims);
    if (why)
        return s_refuse (req, typ, why);
    if (id_claims && (why = s_policy (cfg, "JWT", id_claims)))
        return s_refuse (req, "JWT", why);
    char *jws = NULL, *idt = NULL;
    const char *kid = NULL, *id_kid = NULL;
    //  The snapshot is held until the reply is built: kid points into it.
    keys_snap_t *snap = s_snapshot (req);
    keyring_sign_t signed_ = s_sign (keys_snap_ring (snap), alg, typ, claims, &jws, &kid);
    if (signed_ != KEYRING_SIGN_OK) {
        keys_snap_release (&snap);
        return s_sign_failed (req, signed_, alg);
    }
    if (id_claims) {
        json_t *bound = json_copy ((json_t *)id_claims);
        json_t *at_hash = s_at_hash (jws, id_alg);
        if (!bound || !at_hash || json_object_set_new (bound, "at_hash", at_hash)) {
            if (!bound)
                json_decref (at_hash);
            signed_ = KEYRING_SIGN_FAILED;
        } else
            signed_ = s_sign (keys_snap_ring (snap), id_alg, "JWT", bound, &idt, &id_kid);
        json_decref (bound);
        if (signed_ != KEYRING_SIGN_OK) {
            free (jws);
            keys_snap_release (&snap);
            return s_sign_failed (req, signed_, id_alg);
        }
    }
    *result = json_pack ("{s:s, s:s, s:s}", "jws", jws, "kid", kid, "alg", jws_alg_name (alg));
    if (*result && idt && json_object_set_new (*result, "id_token", json_string (idt))) {
        json_decref (*result);
        *result = NULL;
    }
    free (jws);
    free (idt);
    if (*result)
        log_debug ("signed a %s token with key %s%s", jws_alg_name (alg), kid,
                   id_kid ? " and its ID token" : "");
    keys_snap_release (&snap);
    if (!*result) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, DESC_INTERNAL);
        return -1;
    }
    return 0;
}

#define AUDIT_LIMIT_DEFAULT 100

db_t *
keys_thread_db (bus_req_t *req)
{
    service_thread_t *thread = req->thread_state;
    if (!thread) {
        bus_req_fail (req, OST_ERR_SERVER_ERROR, "no worker thread state");
        return NULL;
    }
    if (!thread->db) {
        thread->db = db_new (keys_app_config (req->app)->db);
        if (thread->db && keys_store_prepare (thread->db) != 0)
            db_destroy (&thread->db);
        if (!thread->db)
            bus_req_fail (req, OST_ERR_TEMPORARILY_UNAVAILABLE, "the keys database is not reachable");
    }
    return thread->db;
}

int
keys_op_audit_list (bus_req_t *req, const json_t *body, json_t **result)
{
    OST_UNUSED (body);
    const keys_audit_list_in_t *in = BUS_IN (req, keys_audit_list);
    if (in->event && audit_event_find (in->event) < 0) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "event: not an event of common/audit.def");
        return -1;
    }
    if (in->has_since && in->has_until && in->until < in->since) {
        bus_req_fail (req, OST_ERR_INVALID_REQUEST, "until: before since");
        return -1;
    }
    db_t *db = keys_thread_db (req);
    if (!db)
        return -1;
    audit_filter_t filter = AUDIT_FILTER_OF (in, AUDIT_LIMIT_DEFAULT);
    db_status_t st = keys_store_audit_list (db, &filter, result);
    if (st != DB_OK) {
        bus_req_fail (req, st == DB_UNAVAILABLE ? OST_ERR_TEMPORARILY_UNAVAILABLE : OST_ERR_SERVER_ERROR,
                      "the audit events could not be read");
        return -1;
    }
    return 0;
}
