/*  token_jwks - the JWKS cache and JWT verification of token-svc. See
 *  token_jwks.h.
 *
 *  Keys are held as EVP_PKEYs (converted once per fetch). A verifier takes a
 *  reference under the lock and uses it after releasing the lock; a refresh
 *  swaps the whole list, so a key in use is freed by its last user. */
#include "token_jwks.h"

#include "log.h"
#include "ops.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

//  A kid longer than this is not one of ours (RFC 7638 thumbprints are 43).
#define KID_MAX 128
//  More keys than this in a JWKS is a malfunction, not a rotation.
#define KEYS_MAX 64
//  An unknown kid refetches the JWKS at most this often: a stream of forged
//  tokens must not turn into a stream of keys.jwks calls.
#define REFETCH_MIN_MS 1000

typedef struct {
    char kid[KID_MAX + 1];
    jws_alg_t alg;
    EVP_PKEY *pkey;
} s_key_t;

struct _token_jwks_t {
    pthread_mutex_t lock;
    int64_t max_age_ms;
    s_key_t *keys;
    size_t nkeys;
    int have;             //  a fetch succeeded at least once
    int64_t fetched_ms;   //  monotonic time of the last successful fetch
    int64_t attempted_ms; //  monotonic time of the last fetch attempt
};

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_keys_free (s_key_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        EVP_PKEY_free (keys[i].pkey);
    free (keys);
}

token_jwks_t *
token_jwks_new (int max_age_s)
{
    token_jwks_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init (&self->lock, NULL)) {
        free (self);
        return NULL;
    }
    self->max_age_ms = (int64_t)(max_age_s > 0 ? max_age_s : 0) * 1000;
    return self;
}

void
token_jwks_destroy (token_jwks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    token_jwks_t *self = *self_p;
    s_keys_free (self->keys, self->nkeys);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  Converts a keys.jwks result into a key list. Keys we cannot use (an
//  unknown alg, a key jws cannot load) are skipped, not fatal.
static s_key_t *
s_parse (const json_t *result, size_t *count)
{
    *count = 0;
    keys_jwks_out_t out;
    char why[SCHEMA_WHY_MAX];
    if (keys_jwks_out_unpack (result, &out, why, sizeof why) != 0) {
        log_error ("jwks: keys.jwks answered a result outside proto/ops.def: %s", why);
        return NULL;
    }
    if (json_array_size (out.keys) > KEYS_MAX)
        return NULL;
    s_key_t *list = calloc (json_array_size (out.keys) + 1, sizeof *list);
    if (!list)
        return NULL;
    size_t i;
    const json_t *obj;
    json_array_foreach (out.keys, i, obj)
    {
        shape_jwk_t jwk;
        if (shape_jwk_unpack (obj, &jwk, why, sizeof why) != 0) {
            log_error ("jwks: keys.jwks answered a key outside proto/ops.def: %s", why);
            continue;
        }
        jws_alg_t alg = jws_alg_parse (jwk.alg);
        if (alg == JWS_ALG_NONE)
            continue;
        EVP_PKEY *pkey = jws_jwk_to_pkey (obj);
        if (!pkey)
            continue;
        snprintf (list[*count].kid, sizeof list[*count].kid, "%s", jwk.kid);
        list[*count].alg = alg;
        list[*count].pkey = pkey;
        (*count)++;
    }
    return list;
}

//  Asks keys-svc for the JWKS and installs it. 0 ok, -1 failure.
static int
s_fetch (token_jwks_t *self, bus_client_t *bus, int timeout_ms)
{
    json_t *result = NULL;
    bus_error_t error;
    if (bus_client_call (bus, "keys.jwks", NULL, timeout_ms, &result, &error)) {
        log_warn ("jwks: keys.jwks failed: %s", error.code);
        return -1;
    }
    size_t count = 0;
    s_key_t *keys = s_parse (result, &count);
    json_decref (result);
    if (!keys) {
        log_warn ("jwks: keys.jwks answered a malformed key set");
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    s_key_t *old = self->keys;
    size_t nold = self->nkeys;
    self->keys = keys;
    self->nkeys = count;
    self->have = 1;
    self->fetched_ms = s_mono_ms ();
    pthread_mutex_unlock (&self->lock);
    s_keys_free (old, nold);
    return 0;
}

//  Under the lock: a new reference to the key of kid, or NULL.
static EVP_PKEY *
s_find_locked (token_jwks_t *self, const char *kid, jws_alg_t *alg)
{
    for (size_t i = 0; i < self->nkeys; i++)
        if (strcmp (self->keys[i].kid, kid) == 0) {
            if (EVP_PKEY_up_ref (self->keys[i].pkey) != 1)
                return NULL;
            *alg = self->keys[i].alg;
            return self->keys[i].pkey;
        }
    return NULL;
}

//  The key of kid with its algorithm, fetching the JWKS when needed.
//  *unavailable is set when no usable JWKS could be had.
static EVP_PKEY *
s_key (token_jwks_t *self, bus_client_t *bus, int timeout_ms, const char *kid, jws_alg_t *alg,
       int *unavailable)
{
    *unavailable = 0;
    pthread_mutex_lock (&self->lock);
    int64_t now = s_mono_ms ();
    int fresh = self->have && now - self->fetched_ms < self->max_age_ms;
    EVP_PKEY *pkey = self->have ? s_find_locked (self, kid, alg) : NULL;
    //  A stale cache is refetched (a key may have left the JWKS), and so is a
    //  fresh one that does not know kid (a key published since); either at
    //  most once a second. In between, the keys we have answer.
    int fetch = (!fresh || !pkey) && now - self->attempted_ms >= REFETCH_MIN_MS;
    if (fetch)
        self->attempted_ms = now;
    if (!fetch && !self->have)
        *unavailable = 1;
    pthread_mutex_unlock (&self->lock);
    if (!fetch)
        return pkey;
    EVP_PKEY_free (pkey);
    pkey = NULL;

    int fetched = s_fetch (self, bus, timeout_ms) == 0;
    pthread_mutex_lock (&self->lock);
    //  When keys-svc cannot be reached, keys we had are still good for
    //  verifying (a key leaves the JWKS only well after it stopped signing).
    if (fetched || self->have)
        pkey = s_find_locked (self, kid, alg);
    else
        *unavailable = 1;
    pthread_mutex_unlock (&self->lock);
    return pkey;
}

//  RFC 7515 §4.1.9: typ values compare case-insensitively, and
//  "application/" may be left out.
static int
s_typ_is (const char *typ, const char *want)
{
    if (!typ)
        return 0;
    if (strncasecmp (typ, "application/", 12) == 0)
        typ += 12;
    return strcasecmp (typ, want) == 0;
}

token_jwt_status_t
token_jwt_verify (token_jwks_t *self, bus_client_t *bus, int timeout_ms, const char *compact, const char *typ,
                  const char *forbid_typ, jws_parts_t **parts_p)
{
    *parts_p = NULL;
    if (!compact || strnlen (compact, JWS_MAX_COMPACT + 1) > JWS_MAX_COMPACT)
        return TOKEN_JWT_INVALID;
    jws_parts_t *parts = jws_parse (compact);
    if (!parts)
        return TOKEN_JWT_INVALID;
    const char *kid = json_string_value (json_object_get (parts->header, "kid"));
    const char *htyp = json_string_value (json_object_get (parts->header, "typ"));
    if (!kid || strlen (kid) > KID_MAX || (typ && !s_typ_is (htyp, typ)) ||
        (forbid_typ && s_typ_is (htyp, forbid_typ))) {
        jws_parts_destroy (&parts);
        return TOKEN_JWT_INVALID;
    }
    jws_alg_t alg = JWS_ALG_NONE;
    int unavailable = 0;
    EVP_PKEY *pkey = s_key (self, bus, timeout_ms, kid, &alg, &unavailable);
    if (!pkey) {
        jws_parts_destroy (&parts);
        return unavailable ? TOKEN_JWT_UNAVAILABLE : TOKEN_JWT_INVALID;
    }
    //  RFC 8725 §3.1: the algorithm is the key's; jws_verify checks that the
    //  header agrees and refuses "none" and unknown "crit" extensions.
    int valid = jws_verify (parts, alg, pkey);
    EVP_PKEY_free (pkey);
    if (!valid) {
        jws_parts_destroy (&parts);
        return TOKEN_JWT_INVALID;
    }
    *parts_p = parts;
    return TOKEN_JWT_OK;
}
