/*  jws - JWS compact serialization helpers (RFC 7515 §7.1, RFC 7518, RFC 8037).
 *  Only OpenSSL 3 provider APIs are used (EVP, OSSL_PARAM): the deprecated
 *  RSA_ and EC_KEY_ families would not build under -Werror. */
#include "jws.h"

#include "b64url.h"
#include "jsonw.h"

#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

//  RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
#define JWS_RSA_MIN_BITS 2048
//  Largest RSA modulus we accept from a JWK (bytes): bounds the work an
//  attacker-supplied key can cause.
#define JWS_RSA_MAX_BYTES 1024
//  P-256 coordinates and scalars, and Ed25519 public keys, are 32 bytes.
#define JWS_P256_SIZE 32
#define JWS_ED25519_SIZE 32

static const struct {
    jws_alg_t alg;
    const char *name;
} s_algs[] = {
    {JWS_ALG_RS256, "RS256"},
    {JWS_ALG_ES256, "ES256"},
    {JWS_ALG_EDDSA, "EdDSA"},
};

jws_alg_t
jws_alg_parse (const char *name)
{
    if (!name)
        return JWS_ALG_NONE;
    for (size_t i = 0; i < sizeof s_algs / sizeof s_algs[0]; i++)
        if (strcmp (s_algs[i].name, name) == 0)
            return s_algs[i].alg;
    return JWS_ALG_NONE;
}

const char *
jws_alg_name (jws_alg_t alg)
{
    for (size_t i = 0; i < sizeof s_algs / sizeof s_algs[0]; i++)
        if (s_algs[i].alg == alg)
            return s_algs[i].name;
    return NULL;
}

//  base64url of the compact, key-sorted JSON of an object: sorted keys make
//  the same claims always produce the same bytes, which tests can compare.
static char *
s_encode_json (const json_t *object)
{
    if (!json_is_object (object))
        return NULL;
    size_t len = 0;
    char *text = jsonw_dump (object, 1, &len);
    if (!text)
        return NULL;
    char *encoded = b64url_encode_alloc (text, len);
    free (text);
    return encoded;
}

char *
jws_signing_input (const json_t *header, const json_t *claims)
{
    char *h = s_encode_json (header);
    char *c = s_encode_json (claims);
    char *out = NULL;
    if (h && c) {
        size_t hlen = strlen (h);
        size_t clen = strlen (c);
        out = malloc (hlen + 1 + clen + 1);
        if (out) {
            memcpy (out, h, hlen);
            out[hlen] = '.';
            memcpy (out + hlen + 1, c, clen + 1);
        }
    }
    free (h);
    free (c);
    return out;
}

char *
jws_compact (const char *signing_input, const unsigned char *sig, size_t siglen)
{
    if (!signing_input || !sig || siglen == 0 || siglen > JWS_MAX_COMPACT)
        return NULL;
    size_t ilen = strlen (signing_input);
    size_t slen = b64url_encoded_len (siglen);
    char *out = malloc (ilen + 1 + slen + 1);
    if (!out)
        return NULL;
    memcpy (out, signing_input, ilen);
    out[ilen] = '.';
    b64url_encode (sig, siglen, out + ilen + 1);
    return out;
}

//  Decodes one base64url part into a new buffer of *outlen bytes.
static unsigned char *
s_decode_part (const char *text, size_t len, size_t *outlen)
{
    size_t max = len / 4 * 3 + 3;
    unsigned char *buf = malloc (max);
    if (!buf)
        return NULL;
    long n = b64url_decode (text, len, buf, max);
    if (n < 0) {
        free (buf);
        return NULL;
    }
    *outlen = (size_t)n;
    return buf;
}

//  Decodes one base64url part that must hold a JSON object.
static json_t *
s_decode_object (const char *text, size_t len)
{
    size_t n;
    unsigned char *buf = s_decode_part (text, len, &n);
    if (!buf)
        return NULL;
    //  RFC 7515 §5.2: duplicate member names MUST be rejected (or only the
    //  last one used); rejecting leaves no doubt about which "alg" counts.
    json_t *json = json_loadb ((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    free (buf);
    if (json && !json_is_object (json)) {
        json_decref (json);
        return NULL;
    }
    return json;
}

jws_parts_t *
jws_parse (const char *compact)
{
    if (!compact)
        return NULL;
    size_t len = strnlen (compact, JWS_MAX_COMPACT + 1);
    if (len > JWS_MAX_COMPACT)
        return NULL;
    //  RFC 7515 §7.1: exactly three parts separated by two periods.
    const char *dot1 = memchr (compact, '.', len);
    if (!dot1)
        return NULL;
    const char *dot2 = memchr (dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact));
    if (!dot2)
        return NULL;
    const char *sig = dot2 + 1;
    size_t siglen = len - (size_t)(sig - compact);
    if (memchr (sig, '.', siglen))
        return NULL;
    size_t hlen = (size_t)(dot1 - compact);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    //  An empty signature is the "none" algorithm, which we never accept.
    if (hlen == 0 || plen == 0 || siglen == 0)
        return NULL;

    jws_parts_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->header = s_decode_object (compact, hlen);
    self->claims = s_decode_object (dot1 + 1, plen);
    self->sig = s_decode_part (sig, siglen, &self->siglen);
    self->signing_input = strndup (compact, (size_t)(dot2 - compact));
    if (!self->header || !self->claims || !self->sig || !self->signing_input || self->siglen == 0)
        jws_parts_destroy (&self);
    return self;
}

void
jws_parts_destroy (jws_parts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jws_parts_t *self = *self_p;
    json_decref (self->header);
    json_decref (self->claims);
    free (self->signing_input);
    free (self->sig);
    free (self);
    *self_p = NULL;
}

int
jws_ecdsa_der_to_raw (const unsigned char *der, size_t derlen, unsigned char *raw, size_t size)
{
    if (!der || !raw || derlen == 0 || derlen > 256 || size == 0 || size > 66)
        return -1;
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG (NULL, &p, (long)derlen);
    if (!sig) {
        ERR_clear_error ();
        return -1;
    }
    int rc = -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0 (sig, &r, &s);
    //  RFC 7518 §3.4: R and S are each left-padded with zeros to the size of
    //  the group order (32 bytes for P-256); DER strips those zeros.
    if (p == der + derlen && BN_num_bytes (r) <= (int)size && BN_num_bytes (s) <= (int)size &&
        BN_bn2binpad (r, raw, (int)size) == (int)size && BN_bn2binpad (s, raw + size, (int)size) == (int)size)
        rc = 0;
    ECDSA_SIG_free (sig);
    return rc;
}

int
jws_ecdsa_raw_to_der (const unsigned char *raw, size_t rawlen, unsigned char **der, size_t *derlen)
{
    if (!raw || !der || !derlen || rawlen == 0 || rawlen % 2 != 0 || rawlen > 132)
        return -1;
    *der = NULL;
    *derlen = 0;
    int half = (int)(rawlen / 2);
    BIGNUM *r = BN_bin2bn (raw, half, NULL);
    BIGNUM *s = BN_bin2bn (raw + half, half, NULL);
    ECDSA_SIG *sig = ECDSA_SIG_new ();
    if (!r || !s || !sig || ECDSA_SIG_set0 (sig, r, s) != 1) {
        BN_free (r);
        BN_free (s);
        ECDSA_SIG_free (sig);
        return -1;
    }
    //  sig owns r and s now.
    unsigned char *out = NULL;
    int n = i2d_ECDSA_SIG (sig, &out);
    ECDSA_SIG_free (sig);
    if (n <= 0) {
        ERR_clear_error ();
        return -1;
    }
    *der = out;
    *derlen = (size_t)n;
    return 0;
}

//  1 when pkey is an EC key on P-256.
static int
s_is_p256 (EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;
    if (!EVP_PKEY_is_a (pkey, "EC"))
        return 0;
    if (EVP_PKEY_get_group_name (pkey, group, sizeof group, &glen) != 1) {
        ERR_clear_error ();
        return 0;
    }
    return strcmp (group, "prime256v1") == 0;
}

//  1 when pkey is the kind of key alg needs (RFC 7518 §3.1, RFC 8037 §3.1).
static int
s_key_fits (EVP_PKEY *pkey, jws_alg_t alg)
{
    switch (alg) {
    case JWS_ALG_RS256:
        return EVP_PKEY_is_a (pkey, "RSA") && EVP_PKEY_get_bits (pkey) >= JWS_RSA_MIN_BITS;
    case JWS_ALG_ES256:
        return s_is_p256 (pkey);
    case JWS_ALG_EDDSA:
        return EVP_PKEY_is_a (pkey, "ED25519");
    default:
        return 0;
    }
}

int
jws_verify (const jws_parts_t *parts, jws_alg_t alg, EVP_PKEY *pkey)
{
    if (!parts || !parts->header || !parts->signing_input || !parts->sig || !pkey)
        return 0;
    const char *name = jws_alg_name (alg);
    if (!name)
        return 0;
    //  RFC 8725 §3.1: the algorithm comes from the verifier's key, never from
    //  the token; the header must merely agree with it.
    const char *hdr_alg = json_string_value (json_object_get (parts->header, "alg"));
    if (!hdr_alg || strcmp (hdr_alg, name) != 0)
        return 0;
    //  RFC 7515 §4.1.11: extensions listed in "crit" MUST be understood, and
    //  we understand none.
    if (json_object_get (parts->header, "crit"))
        return 0;
    if (!s_key_fits (pkey, alg))
        return 0;

    const unsigned char *sig = parts->sig;
    size_t siglen = parts->siglen;
    unsigned char *der = NULL;
    const EVP_MD *md = EVP_sha256 ();
    if (alg == JWS_ALG_RS256) {
        if (siglen != (size_t)EVP_PKEY_get_size (pkey))
            return 0;
    } else if (alg == JWS_ALG_ES256) {
        //  RFC 7518 §3.4: the JWS signature is R || S, 64 bytes for P-256;
        //  OpenSSL verifies DER.
        if (siglen != 2 * JWS_P256_SIZE || jws_ecdsa_raw_to_der (sig, siglen, &der, &siglen) != 0)
            return 0;
        sig = der;
    } else {
        //  RFC 8037 §3.1: Ed25519 hashes internally (PureEdDSA), no digest.
        if (siglen != 64)
            return 0;
        md = NULL;
    }

    int valid = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    EVP_PKEY_CTX *pctx = NULL;
    if (ctx && EVP_DigestVerifyInit (ctx, &pctx, md, NULL, pkey) == 1 &&
        (alg != JWS_ALG_RS256 || EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PADDING) > 0))
        valid = EVP_DigestVerify (ctx, sig, siglen, (const unsigned char *)parts->signing_input,
                                  strlen (parts->signing_input)) == 1;
    //  A failed verification leaves reasons on OpenSSL's thread queue; clear
    //  them so they are not mistaken for a later call's error.
    ERR_clear_error ();
    EVP_MD_CTX_free (ctx);
    OPENSSL_free (der);
    return valid;
}

//  Sets member name of jwk to the base64url of n bytes. 0 ok, -1 failure.
static int
s_set_b64 (json_t *jwk, const char *name, const unsigned char *bytes, size_t n)
{
    char *text = b64url_encode_alloc (bytes, n);
    if (!text)
        return -1;
    int rc = json_object_set_new (jwk, name, json_string (text));
    free (text);
    return rc == 0 ? 0 : -1;
}

//  Sets member name of jwk to the base64url of a BIGNUM parameter of pkey,
//  in the fewest bytes (RFC 7518 §6.3.1.1) or, when width is nonzero,
//  left-padded to exactly width bytes (RFC 7518 §6.2.1.2).
static int
s_set_bn_param (json_t *jwk, const char *name, EVP_PKEY *pkey, const char *param, int width)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param (pkey, param, &bn) != 1) {
        ERR_clear_error ();
        return -1;
    }
    int rc = -1;
    int n = width ? width : BN_num_bytes (bn);
    unsigned char *buf = n > 0 && n <= JWS_RSA_MAX_BYTES ? malloc ((size_t)n) : NULL;
    if (buf && BN_bn2binpad (bn, buf, n) == n)
        rc = s_set_b64 (jwk, name, buf, (size_t)n);
    free (buf);
    BN_free (bn);
    return rc;
}

json_t *
jws_public_jwk (EVP_PKEY *pkey, jws_alg_t alg, const char *kid)
{
    const char *name = jws_alg_name (alg);
    if (!pkey || !name || !kid || !*kid || !s_key_fits (pkey, alg))
        return NULL;
    json_t *jwk = json_object ();
    if (!jwk)
        return NULL;
    int rc = 0;
    if (alg == JWS_ALG_RS256) {
        rc |= json_object_set_new (jwk, "kty", json_string ("RSA"));
        rc |= s_set_bn_param (jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        rc |= s_set_bn_param (jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (alg == JWS_ALG_ES256) {
        rc |= json_object_set_new (jwk, "kty", json_string ("EC"));
        rc |= json_object_set_new (jwk, "crv", json_string ("P-256"));
        rc |= s_set_bn_param (jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, JWS_P256_SIZE);
        rc |= s_set_bn_param (jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, JWS_P256_SIZE);
    } else {
        unsigned char x[JWS_ED25519_SIZE];
        size_t xlen = sizeof x;
        if (EVP_PKEY_get_raw_public_key (pkey, x, &xlen) != 1 || xlen != sizeof x) {
            ERR_clear_error ();
            rc = -1;
        } else {
            rc |= json_object_set_new (jwk, "kty", json_string ("OKP"));
            rc |= json_object_set_new (jwk, "crv", json_string ("Ed25519"));
            rc |= s_set_b64 (jwk, "x", x, xlen);
        }
    }
    rc |= json_object_set_new (jwk, "kid", json_string (kid));
    rc |= json_object_set_new (jwk, "alg", json_string (name));
    rc |= json_object_set_new (jwk, "use", json_string ("sig"));
    if (rc != 0) {
        json_decref (jwk);
        return NULL;
    }
    return jwk;
}

//  Decodes the base64url string member name of jwk into buf. Returns the
//  length, or -1 when it is missing, malformed or longer than max.
static long
s_get_b64 (const json_t *jwk, const char *name, unsigned char *buf, size_t max)
{
    json_t *member = json_object_get (jwk, name);
    const char *text = json_string_value (member);
    if (!text)
        return -1;
    return b64url_decode (text, json_string_length (member), buf, max);
}

//  A public EVP_PKEY of type keytype from params, or NULL.
static EVP_PKEY *
s_from_params (const char *keytype, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param (bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, keytype, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init (ctx) != 1 ||
        EVP_PKEY_fromdata (ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free (ctx);
    OSSL_PARAM_free (params);
    return pkey;
}

static EVP_PKEY *
s_rsa_from_jwk (const json_t *jwk, OSSL_PARAM_BLD *bld)
{
    unsigned char n[JWS_RSA_MAX_BYTES];
    unsigned char e[8];
    long nlen = s_get_b64 (jwk, "n", n, sizeof n);
    long elen = s_get_b64 (jwk, "e", e, sizeof e);
    //  RFC 7518 §6.3.1.1: n and e use the fewest octets, so a leading zero is
    //  malformed.
    if (nlen <= 0 || elen <= 0 || n[0] == 0 || e[0] == 0)
        return NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = BN_bin2bn (n, (int)nlen, NULL);
    BIGNUM *bn_e = BN_bin2bn (e, (int)elen, NULL);
    if (bn_n && bn_e && OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
        pkey = s_from_params ("RSA", bld);
    BN_free (bn_n);
    BN_free (bn_e);
    return pkey;
}

static EVP_PKEY *
s_ec_from_jwk (const json_t *jwk, OSSL_PARAM_BLD *bld)
{
    const char *crv = json_string_value (json_object_get (jwk, "crv"));
    if (!crv || strcmp (crv, "P-256") != 0)
        return NULL;
    //  An uncompressed SEC1 point: 0x04 || x || y, each coordinate at full
    //  width (RFC 7518 §6.2.1.2 and §6.2.1.3).
    unsigned char point[1 + 2 * JWS_P256_SIZE];
    point[0] = 0x04;
    if (s_get_b64 (jwk, "x", point + 1, JWS_P256_SIZE) != JWS_P256_SIZE ||
        s_get_b64 (jwk, "y", point + 1 + JWS_P256_SIZE, JWS_P256_SIZE) != JWS_P256_SIZE)
        return NULL;
    if (OSSL_PARAM_BLD_push_utf8_string (bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string (bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1)
        return NULL;
    EVP_PKEY *pkey = s_from_params ("EC", bld);
    if (!pkey)
        return NULL;
    //  A point off the curve enables invalid-curve attacks; check it
    //  explicitly rather than rely on the decoder.
    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check (check) != 1) {
        EVP_PKEY_free (pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free (check);
    return pkey;
}

static EVP_PKEY *
s_okp_from_jwk (const json_t *jwk, OSSL_PARAM_BLD *bld)
{
    const char *crv = json_string_value (json_object_get (jwk, "crv"));
    if (!crv || strcmp (crv, "Ed25519") != 0)
        return NULL;
    unsigned char x[JWS_ED25519_SIZE];
    if (s_get_b64 (jwk, "x", x, sizeof x) != JWS_ED25519_SIZE)
        return NULL;
    if (OSSL_PARAM_BLD_push_octet_string (bld, OSSL_PKEY_PARAM_PUB_KEY, x, sizeof x) != 1)
        return NULL;
    return s_from_params ("ED25519", bld);
}

EVP_PKEY *
jws_jwk_to_pkey (const json_t *jwk)
{
    if (!json_is_object (jwk))
        return NULL;
    //  A JWK with private members is not a public key: refuse it rather than
    //  silently drop what should never have been published (RFC 7517 §9.2).
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        if (json_object_get (jwk, private_members[i]))
            return NULL;
    //  RFC 7517 §4.2: a key published for another use must not verify.
    json_t *use = json_object_get (jwk, "use");
    if (use && (!json_is_string (use) || strcmp (json_string_value (use), "sig") != 0))
        return NULL;
    const char *kty = json_string_value (json_object_get (jwk, "kty"));
    if (!kty)
        return NULL;
    jws_alg_t kty_alg = strcmp (kty, "RSA") == 0   ? JWS_ALG_RS256
                        : strcmp (kty, "EC") == 0  ? JWS_ALG_ES256
                        : strcmp (kty, "OKP") == 0 ? JWS_ALG_EDDSA
                                                   : JWS_ALG_NONE;
    if (kty_alg == JWS_ALG_NONE)
        return NULL;
    //  An "alg" we know must agree with the key type; an "alg" we do not
    //  know is left to the caller, who verifies with its own expectation.
    json_t *alg = json_object_get (jwk, "alg");
    if (alg && !json_is_string (alg))
        return NULL;
    jws_alg_t jwk_alg = jws_alg_parse (json_string_value (alg));
    if (jwk_alg != JWS_ALG_NONE && jwk_alg != kty_alg)
        return NULL;

    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new ();
    if (!bld)
        return NULL;
    EVP_PKEY *pkey = kty_alg == JWS_ALG_RS256   ? s_rsa_from_jwk (jwk, bld)
                     : kty_alg == JWS_ALG_ES256 ? s_ec_from_jwk (jwk, bld)
                                                : s_okp_from_jwk (jwk, bld);
    OSSL_PARAM_BLD_free (bld);
    if (!pkey)
        ERR_clear_error ();
    return pkey;
}
