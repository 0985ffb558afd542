/*  fuzz_jws - compact JWS parsing (jws_parse) and what follows it on a token
 *  from outside: the header checks and signature verification of jws_verify
 *  under each algorithm we sign with, the ECDSA signature conversions, and
 *  the JWK decoder (jws_jwk_to_pkey) over the payload object.
 *
 *  The keys are made once; no input can carry a valid signature for them, so
 *  a successful verification is a bug. */
#include "jws.h"
#include "log.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const unsigned char *data, size_t size);

static EVP_PKEY *s_rsa;
static EVP_PKEY *s_ec;
static EVP_PKEY *s_ed;

static void
s_free_keys (void)
{
    EVP_PKEY_free (s_rsa);
    EVP_PKEY_free (s_ec);
    EVP_PKEY_free (s_ed);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init ("fuzz", OST_LOG_ERROR);
    s_rsa = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)2048);
    s_ec = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
    s_ed = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
    if (!s_rsa || !s_ec || !s_ed)
        abort ();
    atexit (s_free_keys);
    return 0;
}

int
LLVMFuzzerTestOneInput (const unsigned char *data, size_t size)
{
    char *compact = malloc (size + 1);
    if (!compact)
        return 0;
    memcpy (compact, data, size);
    compact[size] = 0;
    jws_parts_t *parts = jws_parse (compact);
    free (compact);
    if (!parts)
        return 0;
    if (!json_is_object (parts->header) || !json_is_object (parts->claims) || !parts->sig || !parts->siglen)
        abort ();
    if (jws_verify (parts, JWS_ALG_RS256, s_rsa) || jws_verify (parts, JWS_ALG_ES256, s_ec) ||
        jws_verify (parts, JWS_ALG_EDDSA, s_ed))
        abort ();
    //  A mismatched key and algorithm must fail too, never crash.
    if (jws_verify (parts, JWS_ALG_ES256, s_rsa) || jws_verify (parts, JWS_ALG_RS256, s_ed))
        abort ();

    unsigned char raw[132];
    unsigned char *der = NULL;
    size_t der_len = 0;
    if (jws_ecdsa_der_to_raw (parts->sig, parts->siglen, raw, 32) == 0) {
        if (jws_ecdsa_raw_to_der (raw, 64, &der, &der_len))
            abort ();
        OPENSSL_free (der);
        der = NULL;
    }
    if (jws_ecdsa_raw_to_der (parts->sig, parts->siglen, &der, &der_len) == 0) {
        unsigned char back[132];
        //  Raw r||s → DER → raw gives back the same bytes.
        if (jws_ecdsa_der_to_raw (der, der_len, back, parts->siglen / 2) ||
            memcmp (back, parts->sig, parts->siglen))
            abort ();
        OPENSSL_free (der);
    }
    EVP_PKEY *pkey = jws_jwk_to_pkey (parts->claims);
    EVP_PKEY_free (pkey);
    ERR_clear_error ();
    jws_parts_destroy (&parts);
    return 0;
}
