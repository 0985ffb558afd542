/*  keyring - generation, wrapping, in-memory set and signing of the keys. */
#include "keyring.h"

#include "b64url.h"
#include "log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int published;
} s_states[] = {
#define KEY_STATE(sym, name, published) {name, published},
    KEY_STATES
#undef KEY_STATE
};

const jws_alg_t keyring_algs[] = {JWS_ALG_RS256, JWS_ALG_ES256, JWS_ALG_EDDSA};
const size_t keyring_nalgs = sizeof keyring_algs / sizeof keyring_algs[0];

//  RFC 7518 §3.3: RSA keys for RS256 MUST be 2048 bits or larger.
#define RSA_BITS 2048
//  RFC 7518 §3.4: ES256 signatures are r || s, each 32 bytes.
#define ES256_COORD 32
#define AAD_MAX (KEYRING_KID_MAX + 32)

typedef struct {
    char kid[KEYRING_KID_MAX];
    jws_alg_t alg;
    key_state_t state;
    EVP_PKEY *pkey;
    json_t *jwk; //  public members only, with kid, alg and use
} s_key_t;

struct _keyring_t {
    s_key_t *keys;
    size_t nkeys;
    size_t cap;
    //  Index + 1 of the signing key of each algorithm; 0 = none.
    size_t active[4];
    json_t *jwks;
    int sealed;
};

const char *
key_state_name (key_state_t state)
{
    if ((int)state < 0 || state >= KEY_STATE__COUNT)
        return NULL;
    return s_states[state].name;
}

int
key_state_parse (const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < KEY_STATE__COUNT; i++)
        if (strcmp (s_states[i].name, name) == 0)
            return i;
    return -1;
}

int
key_state_published (key_state_t state)
{
    if ((int)state < 0 || state >= KEY_STATE__COUNT)
        return 0;
    return s_states[state].published;
}

EVP_PKEY *
keyring_generate (jws_alg_t alg)
{
    switch (alg) {
    case JWS_ALG_RS256:
        return EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)RSA_BITS);
    case JWS_ALG_ES256:
        return EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
    case JWS_ALG_EDDSA:
        //  RFC 8037 §3.1: EdDSA with the Ed25519 curve.
        return EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
    default:
        return NULL;
    }
}

//  1 when pkey is a key that alg may use (type, size, curve).
static int
s_key_fits (EVP_PKEY *pkey, jws_alg_t alg)
{
    switch (alg) {
    case JWS_ALG_RS256:
        return EVP_PKEY_is_a (pkey, "RSA") && EVP_PKEY_get_bits (pkey) >= RSA_BITS;
    case JWS_ALG_ES256: {
        char group[64];
        size_t glen = 0;
        if (!EVP_PKEY_is_a (pkey, "EC") || EVP_PKEY_get_group_name (pkey, group, sizeof group, &glen) != 1)
            return 0;
        return OBJ_txt2nid (group) == NID_X9_62_prime256v1;
    }
    case JWS_ALG_EDDSA:
        return EVP_PKEY_is_a (pkey, "ED25519");
    default:
        return 0;
    }
}

//  RFC 7638 §3.2 (RSA, EC) and RFC 8037 §2 (OKP): the members that enter the
//  thumbprint, in lexicographic order.
static const char *const s_tp_rsa[] = {"e", "kty", "n", NULL};
static const char *const s_tp_ec[] = {"crv", "kty", "x", "y", NULL};
static const char *const s_tp_okp[] = {"crv", "kty", "x", NULL};
//  RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: members holding private
//  or symmetric key material.
static const char *const s_private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};

static int
s_thumbprint_of_jwk (const json_t *jwk, char kid[KEYRING_KID_MAX])
{
    const char *kty = json_string_value (json_object_get (jwk, "kty"));
    const char *const *members = NULL;
    if (kty && strcmp (kty, "RSA") == 0)
        members = s_tp_rsa;
    else if (kty && strcmp (kty, "EC") == 0)
        members = s_tp_ec;
    else if (kty && strcmp (kty, "OKP") == 0)
        members = s_tp_okp;
    else
        return -1;
    json_t *req = json_object ();
    if (!req)
        return -1;
    for (size_t i = 0; members[i]; i++) {
        json_t *v = json_object_get (jwk, members[i]);
        if (!json_is_string (v) || json_object_set (req, members[i], v) != 0) {
            json_decref (req);
            return -1;
        }
    }
    //  RFC 7638 §3.3: no whitespace, members sorted; the values are
    //  base64url or fixed names, so no escaping question arises.
    char *canon = json_dumps (req, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (req);
    if (!canon)
        return -1;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok = EVP_Digest (canon, strlen (canon), digest, &dlen, EVP_sha256 (), NULL) == 1;
    free (canon);
    if (!ok || b64url_encoded_len (dlen) >= KEYRING_KID_MAX)
        return -1;
    b64url_encode (digest, dlen, kid);
    return 0;
}

//  The public JWK of pkey with its kid. Before the thumbprint is known
//  (kid NULL) a placeholder stands in: the kid is not a thumbprint member.
static json_t *
s_public_jwk (EVP_PKEY *pkey, jws_alg_t alg, const char *kid)
{
    return jws_public_jwk (pkey, alg, kid ? kid : "pending");
}

int
keyring_thumbprint (EVP_PKEY *pkey, jws_alg_t alg, char kid[KEYRING_KID_MAX])
{
    json_t *jwk = s_public_jwk (pkey, alg, NULL);
    if (!jwk)
        return -1;
    int rc = s_thumbprint_of_jwk (jwk, kid);
    json_decref (jwk);
    return rc;
}

//  "ostiary-key:" kid ":" alg: binds a wrapped key to its row so that a blob
//  moved to another kid or algorithm does not unwrap.
static int
s_aad (const char *kid, jws_alg_t alg, char out[AAD_MAX])
{
    const char *name = jws_alg_name (alg);
    if (!kid || !name)
        return -1;
    int n = snprintf (out, AAD_MAX, "ostiary-key:%s:%s", kid, name);
    return n > 0 && n < AAD_MAX ? n : -1;
}

int
keyring_wrap (const kek_t *kek, const char *kid, jws_alg_t alg, EVP_PKEY *pkey, unsigned char **blob,
              size_t *bloblen)
{
    *blob = NULL;
    *bloblen = 0;
    char aad[AAD_MAX];
    int aadlen = s_aad (kid, alg, aad);
    if (aadlen < 0)
        return -1;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8 (pkey);
    if (!p8)
        return -1;
    unsigned char *der = NULL;
    int derlen = i2d_PKCS8_PRIV_KEY_INFO (p8, &der);
    //  The ASN.1 free of a PKCS8_PRIV_KEY_INFO clears its key octets.
    PKCS8_PRIV_KEY_INFO_free (p8);
    if (derlen <= 0 || !der)
        return -1;
    int rc = kek_wrap (kek, aad, (size_t)aadlen, der, (size_t)derlen, blob, bloblen);
    OPENSSL_clear_free (der, (size_t)derlen);
    return rc;
}

EVP_PKEY *
keyring_unwrap (const kek_t *kek, const char *kid, jws_alg_t alg, const unsigned char *blob, size_t bloblen)
{
    char aad[AAD_MAX];
    int aadlen = s_aad (kid, alg, aad);
    if (aadlen < 0)
        return NULL;
    unsigned char *der = NULL;
    size_t derlen = 0;
    if (kek_unwrap (kek, aad, (size_t)aadlen, blob, bloblen, &der, &derlen) != 0)
        return NULL;
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 =
        derlen <= (size_t)INT32_MAX ? d2i_PKCS8_PRIV_KEY_INFO (NULL, &p, (long)derlen) : NULL;
    if (p8 && p == der + derlen)
        pkey = EVP_PKCS82PKEY (p8);
    PKCS8_PRIV_KEY_INFO_free (p8);
    OPENSSL_clear_free (der, derlen);
    if (pkey && !s_key_fits (pkey, alg)) {
        EVP_PKEY_free (pkey);
        pkey = NULL;
    }
    return pkey;
}

keyring_t *
keyring_new (void)
{
    keyring_t *self = calloc (1, sizeof *self);
    return self;
}

void
keyring_destroy (keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keyring_t *self = *self_p;
    for (size_t i = 0; i < self->nkeys; i++) {
        //  EVP_PKEY_free clears the private key material it holds.
        EVP_PKEY_free (self->keys[i].pkey);
        json_decref (self->keys[i].jwk);
    }
    free (self->keys);
    json_decref (self->jwks);
    free (self);
    *self_p = NULL;
}

int
keyring_add (keyring_t *self, const char *kid, jws_alg_t alg, key_state_t state, EVP_PKEY **pkey_p)
{
    EVP_PKEY *pkey = *pkey_p;
    *pkey_p = NULL;
    char tp[KEYRING_KID_MAX];
    json_t *jwk = NULL;
    if (self->sealed || !pkey || !kid || strlen (kid) >= KEYRING_KID_MAX || !key_state_name (state))
        goto fail;
    if (!s_key_fits (pkey, alg)) {
        log_error ("key %s is not a %s key", kid, jws_alg_name (alg) ? jws_alg_name (alg) : "?");
        goto fail;
    }
    jwk = s_public_jwk (pkey, alg, kid);
    if (!jwk || s_thumbprint_of_jwk (jwk, tp) != 0)
        goto fail;
    //  RFC 7517 §9.2 and RFC 7518 §6: private members must never be
    //  published; refuse a JWK that carries one rather than serve it.
    for (size_t i = 0; s_private_members[i]; i++)
        if (json_object_get (jwk, s_private_members[i])) {
            log_error ("key %s: public JWK carries a private member", kid);
            goto fail;
        }
    //  Our kids are RFC 7638 thumbprints; a kid that is not the thumbprint
    //  of its key means the row was edited.
    if (strcmp (tp, kid) != 0) {
        log_error ("key %s: kid is not the thumbprint of its key", kid);
        goto fail;
    }
    if (self->nkeys == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        s_key_t *keys = realloc (self->keys, cap * sizeof *keys);
        if (!keys)
            goto fail;
        self->keys = keys;
        self->cap = cap;
    }
    s_key_t *key = &self->keys[self->nkeys++];
    memset (key, 0, sizeof *key);
    snprintf (key->kid, sizeof key->kid, "%s", kid);
    key->alg = alg;
    key->state = state;
    key->pkey = pkey;
    key->jwk = jwk;
    if (state == KEY_STATE_ACTIVE) {
        if (self->active[alg])
            log_warn ("second active %s key %s ignored for signing", jws_alg_name (alg), kid);
        else
            self->active[alg] = self->nkeys;
    }
    return 0;
fail:
    json_decref (jwk);
    EVP_PKEY_free (pkey);
    return -1;
}

int
keyring_has_active (const keyring_t *self, jws_alg_t alg)
{
    return (int)alg > 0 && (size_t)alg < sizeof self->active / sizeof self->active[0] &&
           self->active[alg] != 0;
}

//  Raw JWS signature of tbs with key (RFC 7518 §3.3 RS256, §3.4 ES256 as
//  r || s, RFC 8037 §3.1 EdDSA). *sig is OPENSSL_free'd by the caller.
static int
s_sign_bytes (const s_key_t *key, const char *tbs, size_t len, unsigned char **sig, size_t *siglen)
{
    *sig = NULL;
    *siglen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new ();
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = -1;
    //  Ed25519 is a one-shot signature over the message: no digest name.
    const char *mdname = key->alg == JWS_ALG_EDDSA ? NULL : "SHA256";
    if (!md || EVP_DigestSignInit_ex (md, NULL, mdname, NULL, NULL, key->pkey, NULL) != 1)
        goto done;
    //  The key's largest signature, known since the key was loaded (asking
    //  EVP_DigestSign with no buffer encodes a dummy ECDSA signature to
    //  learn it); EVP_DigestSign sets n to the signature's own length.
    int size = EVP_PKEY_get_size (key->pkey);
    if (size <= 0)
        goto done;
    n = (size_t)size;
    buf = OPENSSL_malloc (n);
    if (!buf || EVP_DigestSign (md, buf, &n, (const unsigned char *)tbs, len) != 1)
        goto done;
    if (key->alg == JWS_ALG_ES256) {
        unsigned char *raw = OPENSSL_malloc (2 * ES256_COORD);
        if (!raw || jws_ecdsa_der_to_raw (buf, n, raw, ES256_COORD) != 0) {
            OPENSSL_free (raw);
            goto done;
        }
        OPENSSL_free (buf);
        buf = raw;
        n = 2 * ES256_COORD;
    }
    *sig = buf;
    *siglen = n;
    buf = NULL;
    rc = 0;
done:
    OPENSSL_free (buf);
    EVP_MD_CTX_free (md);
    return rc;
}

static keyring_sign_t
s_sign_with (const s_key_t *key, const char *typ, const json_t *claims, char **jws)
{
    *jws = NULL;
    json_t *header =
        json_pack ("{s:s, s:s, s:s}", "alg", jws_alg_name (key->alg), "kid", key->kid, "typ", typ);
    if (!header)
        return KEYRING_SIGN_FAILED;
    char *input = jws_signing_input (header, claims);
    json_decref (header);
    if (!input)
        return KEYRING_SIGN_FAILED;
    //  The claims' compact JSON is as long as the part after the dot
    //  decodes to (base64url without padding: 4 characters per 3 bytes).
    const char *dot = strchr (input, '.');
    if (!dot || strlen (dot + 1) * 3 / 4 > KEYRING_MAX_CLAIMS) {
        free (input);
        return dot ? KEYRING_SIGN_TOO_LARGE : KEYRING_SIGN_FAILED;
    }
    unsigned char *sig = NULL;
    size_t siglen = 0;
    keyring_sign_t rc = KEYRING_SIGN_FAILED;
    if (s_sign_bytes (key, input, strlen (input), &sig, &siglen) != 0) {
        log_error ("signing with %s key %s failed", jws_alg_name (key->alg), key->kid);
        goto done;
    }
    *jws = jws_compact (input, sig, siglen);
    if (!*jws)
        goto done;
    if (strlen (*jws) > JWS_MAX_COMPACT) {
        free (*jws);
        *jws = NULL;
        rc = KEYRING_SIGN_TOO_LARGE;
        goto done;
    }
    rc = KEYRING_SIGN_OK;
done:
    OPENSSL_free (sig);
    free (input);
    return rc;
}

//  RFC 7515 §4.1.9: typ is a media type name; we take 1..32 visible ASCII
//  characters and nothing else (no spaces, no controls).
int
keyring_typ_valid (const char *typ)
{
    size_t len = typ ? strlen (typ) : 0;
    if (len == 0 || len > KEYRING_MAX_TYP)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (typ[i] < 0x21 || typ[i] > 0x7e)
            return 0;
    return 1;
}

keyring_sign_t
keyring_sign (const keyring_t *self, jws_alg_t alg, const char *typ, const json_t *claims, char **jws,
              const char **kid)
{
    *jws = NULL;
    *kid = NULL;
    if (!json_is_object (claims) || !keyring_typ_valid (typ))
        return KEYRING_SIGN_BAD_INPUT;
    if (!self->sealed || !keyring_has_active (self, alg))
        return KEYRING_SIGN_NO_KEY;
    const s_key_t *key = &self->keys[self->active[alg] - 1];
    keyring_sign_t rc = s_sign_with (key, typ, claims, jws);
    if (rc == KEYRING_SIGN_OK)
        *kid = key->kid;
    return rc;
}

//  Proves a key end to end before it serves: a token it signs must verify
//  with the public key rebuilt from its published JWK. This also lets
//  OpenSSL finish any lazy set-up of the key while we are single-threaded.
static int
s_self_test (const s_key_t *key)
{
    json_t *claims = json_pack ("{s:s}", "sub", "keys-svc self-test");
    char *jws = NULL;
    jws_parts_t *parts = NULL;
    EVP_PKEY *pub = NULL;
    int ok = 0;
    if (!claims || s_sign_with (key, "JWT", claims, &jws) != KEYRING_SIGN_OK)
        goto done;
    parts = jws_parse (jws);
    pub = jws_jwk_to_pkey (key->jwk);
    ok = parts && pub && jws_verify (parts, key->alg, pub) == 1;
done:
    EVP_PKEY_free (pub);
    jws_parts_destroy (&parts);
    free (jws);
    json_decref (claims);
    return ok ? 0 : -1;
}

int
keyring_seal (keyring_t *self)
{
    if (self->sealed)
        return 0;
    json_t *list = json_array ();
    if (!list)
        return -1;
    for (size_t i = 0; i < self->nkeys; i++) {
        const s_key_t *key = &self->keys[i];
        if (s_self_test (key) != 0) {
            log_error ("%s key %s failed its sign/verify self-test", jws_alg_name (key->alg), key->kid);
            json_decref (list);
            return -1;
        }
        if (key_state_published (key->state) && json_array_append (list, key->jwk) != 0) {
            json_decref (list);
            return -1;
        }
    }
    self->jwks = json_pack ("{s:o}", "keys", list);
    if (!self->jwks)
        return -1;
    self->sealed = 1;
    return 0;
}

size_t
keyring_published (const keyring_t *self)
{
    return self->jwks ? json_array_size (json_object_get (self->jwks, "keys")) : 0;
}

json_t *
keyring_jwks (const keyring_t *self)
{
    return self->jwks ? json_deep_copy (self->jwks) : NULL;
}

EVP_PKEY *
keyring_pkey (const keyring_t *self, const char *kid, jws_alg_t alg)
{
    if (!self || !kid)
        return NULL;
    for (size_t i = 0; i < self->nkeys; i++)
        if (self->keys[i].alg == alg && strcmp (self->keys[i].kid, kid) == 0)
            return self->keys[i].pkey;
    return NULL;
}

const char *
keyring_active_kid (const keyring_t *self, jws_alg_t alg)
{
    return keyring_has_active (self, alg) ? self->keys[self->active[alg] - 1].kid : NULL;
}

json_t *
keyring_signing_algs (const keyring_t *self)
{
    json_t *algs = json_array ();
    for (size_t i = 0; algs && i < keyring_nalgs; i++)
        if (keyring_has_active (self, keyring_algs[i]) &&
            json_array_append_new (algs, json_string (jws_alg_name (keyring_algs[i]))) != 0) {
            json_decref (algs);
            algs = NULL;
        }
    return algs;
}

json_t *
keyring_describe (const keyring_t *self)
{
    json_t *list = json_array ();
    for (size_t i = 0; list && i < self->nkeys; i++) {
        const s_key_t *key = &self->keys[i];
        json_t *item = json_pack ("{s:s, s:s, s:s}", "kid", key->kid, "alg", jws_alg_name (key->alg), "state",
                                  key_state_name (key->state));
        if (!item || json_array_append_new (list, item) != 0) {
            json_decref (list);
            list = NULL;
        }
    }
    return list;
}
