/*  seal - AES-256-GCM of secrets at rest under derived keys.
 *  NIST SP 800-38D §8.2.2: random 96-bit nonces keep the chance of a repeat
 *  under one key negligible below 2^32 encryptions; each purpose has its own
 *  derived key, so no key comes near that. */
#include "seal.h"

#include "b64url.h"
#include "secure.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  The first byte of every sealed text: the format (and algorithm) version,
//  so a later format can be told apart from this one.
#define SEAL_VERSION 1
#define SEAL_INFO "ostiary seal v1 "
#define SEAL_MAX_LABEL 200

int
seal_derive (const unsigned char master[32], const char *label, unsigned char out[32])
{
    if (!master || !label || !out)
        return -1;
    size_t llen = strnlen (label, SEAL_MAX_LABEL + 1);
    if (llen == 0 || llen > SEAL_MAX_LABEL)
        return -1;
    //  RFC 5869 §2.3 with L = 32: T(1) = HMAC(PRK, info || 0x01). The master
    //  key is already uniformly random (32 bytes from a CSPRNG), so it serves
    //  as PRK without the Extract step (§3.3).
    unsigned char info[sizeof SEAL_INFO - 1 + SEAL_MAX_LABEL + 1];
    size_t n = sizeof SEAL_INFO - 1;
    memcpy (info, SEAL_INFO, n);
    memcpy (info + n, label, llen);
    n += llen;
    info[n++] = 0x01;
    unsigned int maclen = 0;
    int ok = HMAC (EVP_sha256 (), master, 32, info, n, out, &maclen) != NULL && maclen == 32;
    secure_wipe (info, sizeof info);
    if (!ok)
        secure_wipe (out, 32);
    return ok ? 0 : -1;
}

int
seal_gcm_encrypt (const unsigned char key[32], const void *aad, size_t aadlen, const void *pt, size_t len,
                  unsigned char *out)
{
    if (!key || !out || (len > 0 && !pt) || (aadlen > 0 && !aad) || len > INT_MAX - SEAL_OVERHEAD ||
        aadlen > INT_MAX)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int rc = -1, outl = 0, finl = 0;
    if (!ctx || secure_random (out, SEAL_NONCE_BYTES) != 0)
        goto done;
    if (EVP_EncryptInit_ex2 (ctx, EVP_aes_256_gcm (), key, out, NULL) != 1)
        goto done;
    if (aadlen > 0 && EVP_EncryptUpdate (ctx, NULL, &outl, aad, (int)aadlen) != 1)
        goto done;
    outl = 0;
    if (len > 0 && EVP_EncryptUpdate (ctx, out + SEAL_NONCE_BYTES, &outl, pt, (int)len) != 1)
        goto done;
    if (EVP_EncryptFinal_ex (ctx, out + SEAL_NONCE_BYTES + outl, &finl) != 1)
        goto done;
    if ((size_t)outl + (size_t)finl != len)
        goto done;
    if (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_BYTES, out + SEAL_NONCE_BYTES + len) != 1)
        goto done;
    rc = 0;
done:
    if (rc != 0)
        secure_wipe (out, len + SEAL_OVERHEAD);
    EVP_CIPHER_CTX_free (ctx);
    return rc;
}

int
seal_gcm_decrypt (const unsigned char key[32], const void *aad, size_t aadlen, const unsigned char *in,
                  size_t inlen, unsigned char *out)
{
    if (!key || !in || !out || inlen < SEAL_OVERHEAD || inlen > INT_MAX || (aadlen > 0 && !aad) ||
        aadlen > INT_MAX)
        return -1;
    size_t len = inlen - SEAL_OVERHEAD;
    unsigned char tag[SEAL_TAG_BYTES];
    memcpy (tag, in + SEAL_NONCE_BYTES + len, SEAL_TAG_BYTES);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int rc = -1, outl = 0, finl = 0;
    if (!ctx)
        goto done;
    if (EVP_DecryptInit_ex2 (ctx, EVP_aes_256_gcm (), key, in, NULL) != 1)
        goto done;
    if (aadlen > 0 && EVP_DecryptUpdate (ctx, NULL, &outl, aad, (int)aadlen) != 1)
        goto done;
    outl = 0;
    if (len > 0 && EVP_DecryptUpdate (ctx, out, &outl, in + SEAL_NONCE_BYTES, (int)len) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_BYTES, tag) != 1)
        goto done;
    //  SP 800-38D §7.2: the plaintext is released only when the tag verifies.
    if (EVP_DecryptFinal_ex (ctx, out + outl, &finl) != 1)
        goto done;
    if ((size_t)outl + (size_t)finl != len)
        goto done;
    rc = 0;
done:
    if (rc != 0 && len > 0)
        secure_wipe (out, len);
    EVP_CIPHER_CTX_free (ctx);
    return rc;
}

char *
seal_encrypt (const unsigned char key[32], const char *aad, const void *pt, size_t len)
{
    if (!key || (len > 0 && !pt) || len > SEAL_MAX_PLAINTEXT)
        return NULL;
    if (!aad)
        aad = "";
    size_t blen = 1 + len + SEAL_OVERHEAD;
    unsigned char *blob = malloc (blen);
    if (!blob)
        return NULL;
    blob[0] = SEAL_VERSION;
    //  The version byte is authenticated too: it is part of the associated
    //  data, so a changed version byte fails like any other tampering.
    size_t alen = strlen (aad);
    unsigned char *ad = malloc (alen + 1);
    char *out = NULL;
    if (ad) {
        ad[0] = SEAL_VERSION;
        memcpy (ad + 1, aad, alen);
        if (seal_gcm_encrypt (key, ad, alen + 1, pt, len, blob + 1) == 0)
            out = b64url_encode_alloc (blob, blen);
    }
    free (ad);
    secure_wipe (blob, blen);
    free (blob);
    return out;
}

int
seal_decrypt (const unsigned char key[32], const char *aad, const char *sealed, unsigned char **pt,
              size_t *len)
{
    if (pt)
        *pt = NULL;
    if (len)
        *len = 0;
    if (!key || !sealed || !pt || !len)
        return -1;
    if (!aad)
        aad = "";
    size_t maxblob = 1 + SEAL_MAX_PLAINTEXT + SEAL_OVERHEAD;
    size_t slen = strnlen (sealed, b64url_encoded_len (maxblob) + 1);
    if (slen > b64url_encoded_len (maxblob) || slen < b64url_encoded_len (1 + SEAL_OVERHEAD))
        return -1;
    size_t cap = slen * 3 / 4 + 1;
    unsigned char *blob = malloc (cap);
    if (!blob)
        return -1;
    long blen = b64url_decode (sealed, slen, blob, cap);
    int rc = -1;
    unsigned char *out = NULL;
    unsigned char *ad = NULL;
    if (blen < (long)(1 + SEAL_OVERHEAD) || blob[0] != SEAL_VERSION)
        goto done;
    size_t plen = (size_t)blen - 1 - SEAL_OVERHEAD;
    size_t alen = strlen (aad);
    out = malloc (plen + 1);
    ad = malloc (alen + 1);
    if (!out || !ad)
        goto done;
    ad[0] = SEAL_VERSION;
    memcpy (ad + 1, aad, alen);
    if (seal_gcm_decrypt (key, ad, alen + 1, blob + 1, (size_t)blen - 1, out) != 0)
        goto done;
    out[plen] = '\0';
    *pt = out;
    *len = plen;
    out = NULL;
    rc = 0;
done:
    free (out);
    free (ad);
    free (blob);
    return rc;
}
