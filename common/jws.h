/*  jws - JWS compact serialization helpers (RFC 7515 §7.1, RFC 7518).
 *  Signing happens only in keys-svc; these helpers build the signing input,
 *  assemble the compact form, convert ECDSA signatures and verify with a
 *  public key (for tests and for services that check tokens against the JWKS). */
#ifndef OST_JWS_H
#define OST_JWS_H

#include "ost.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

//  Largest compact JWS we ever parse.
#define JWS_MAX_COMPACT 16384

typedef enum { JWS_ALG_NONE = 0, JWS_ALG_RS256, JWS_ALG_ES256, JWS_ALG_EDDSA } jws_alg_t;

//  "RS256" → JWS_ALG_RS256 …; JWS_ALG_NONE for anything else ("none" included).
jws_alg_t jws_alg_parse (const char *name);
//  "RS256", "ES256", "EdDSA"; NULL for JWS_ALG_NONE or any other value.
const char *jws_alg_name (jws_alg_t alg);

//  base64url(JSON(header)) "." base64url(JSON(claims)), compact JSON with
//  sorted keys. Newly allocated; NULL on failure.
OST_WUR char *jws_signing_input (const json_t *header, const json_t *claims);
//  signing_input "." base64url(sig). Newly allocated; NULL on failure.
OST_WUR char *jws_compact (const char *signing_input, const unsigned char *sig, size_t siglen);

//  The three parts of a compact JWS, decoded. Free with jws_parts_destroy.
typedef struct {
    json_t *header;      //  decoded protected header (object)
    json_t *claims;      //  decoded payload (object)
    char *signing_input; //  the first two parts as received
    unsigned char *sig;  //  decoded signature
    size_t siglen;
} jws_parts_t;

//  Splits and decodes a compact JWS of at most JWS_MAX_COMPACT bytes; header
//  and payload must be JSON objects. NULL on any malformation.
OST_WUR jws_parts_t *jws_parse (const char *compact);
void jws_parts_destroy (jws_parts_t **self_p);

//  ECDSA: DER (what OpenSSL produces) → r||s of 2*size bytes (what JWS wants).
//  0 ok, -1 bad input.
OST_WUR int jws_ecdsa_der_to_raw (const unsigned char *der, size_t derlen, unsigned char *raw, size_t size);
//  ECDSA: r||s → DER, newly allocated in *der (OPENSSL_free). 0 ok, -1 bad input.
OST_WUR int jws_ecdsa_raw_to_der (const unsigned char *raw, size_t rawlen, unsigned char **der,
                                  size_t *derlen);

//  Verifies parts->sig over parts->signing_input with pkey under alg (the
//  header's alg must equal it). 1 valid, 0 invalid.
int jws_verify (const jws_parts_t *parts, jws_alg_t alg, EVP_PKEY *pkey);

//  A public JWK (RFC 7517) of pkey with kid, alg and use "sig", or NULL.
OST_WUR json_t *jws_public_jwk (EVP_PKEY *pkey, jws_alg_t alg, const char *kid);
//  The EVP_PKEY of a public JWK (RSA, EC P-256, OKP Ed25519), or NULL.
OST_WUR EVP_PKEY *jws_jwk_to_pkey (const json_t *jwk);

#endif
