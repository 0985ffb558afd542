/*  kek - AES-256-GCM wrapping of private keys under OSTIARY_KEK.
 *  NIST SP 800-38D: a 96-bit random nonce per encryption under one key keeps
 *  the nonce collision probability negligible for the few keys we wrap. */
#include "kek.h"

#include "b64url.h"
#include "secure.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

struct _kek_t {
    unsigned char key[KEK_BYTES];
};

kek_t *
kek_new (const char *b64url)
{
    if (!b64url)
        return NULL;
    size_t len = strlen (b64url);
    //  32 bytes are 43 base64url characters without padding; anything else is
    //  not the documented form (b64url_decode rejects padding and stray bits).
    if (len != b64url_encoded_len (KEK_BYTES))
        return NULL;
    kek_t *self = OPENSSL_zalloc (sizeof *self);
    if (!self)
        return NULL;
    unsigned char buf[KEK_BYTES + 1];
    long n = b64url_decode (b64url, len, buf, sizeof buf);
    if (n != KEK_BYTES) {
        OPENSSL_cleanse (buf, sizeof buf);
        OPENSSL_free (self);
        return NULL;
    }
    memcpy (self->key, buf, KEK_BYTES);
    OPENSSL_cleanse (buf, sizeof buf);
    return self;
}

void
kek_destroy (kek_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    OPENSSL_clear_free (*self_p, sizeof **self_p);
    *self_p = NULL;
}

int
kek_wrap (const kek_t *self, const void *aad, size_t aadlen, const unsigned char *plain, size_t len,
          unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX)
        return -1;
    unsigned char *buf = OPENSSL_malloc (len + KEK_OVERHEAD);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    int rc = -1;
    int outl = 0, finl = 0;
    if (!buf || !ctx)
        goto done;
    if (secure_random (buf, KEK_NONCE_BYTES) != 0)
        goto done;
    if (EVP_EncryptInit_ex2 (ctx, EVP_aes_256_gcm (), self->key, buf, NULL) != 1)
        goto done;
    if (aadlen > 0 && EVP_EncryptUpdate (ctx, NULL, &outl, aad, (int)aadlen) != 1)
        goto done;
    if (EVP_EncryptUpdate (ctx, buf + KEK_NONCE_BYTES, &outl, plain, (int)len) != 1)
        goto done;
    if (EVP_EncryptFinal_ex (ctx, buf + KEK_NONCE_BYTES + outl, &finl) != 1)
        goto done;
    if ((size_t)outl + (size_t)finl != len)
        goto done;
    if (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, KEK_TAG_BYTES, buf + KEK_NONCE_BYTES + len) != 1)
        goto done;
    *out = buf;
    *outlen = len + KEK_OVERHEAD;
    buf = NULL;
    rc = 0;
done:
    //  On failure the buffer may hold part of the ciphertext only, but wipe
    //  it anyway: it costs nothing and keeps the rule simple.
    if (buf)
        OPENSSL_clear_free (buf, len + KEK_OVERHEAD);
    EVP_CIPHER_CTX_free (ctx);
    return rc;
}

int
kek_unwrap (const kek_t *self, const void *aad, size_t aadlen, const unsigned char *in, size_t inlen,
            unsigned char **plain, size_t *plainlen)
{
    *plain = NULL;
    *plainlen = 0;
    if (inlen < KEK_OVERHEAD || inlen - KEK_OVERHEAD > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX)
        return -1;
    size_t len = inlen - KEK_OVERHEAD;
    //  One byte more so that an empty plaintext still gets a real buffer.
    unsigned char *buf = OPENSSL_malloc (len + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
    unsigned char tag[KEK_TAG_BYTES];
    int rc = -1;
    int outl = 0, finl = 0;
    if (!buf || !ctx)
        goto done;
    memcpy (tag, in + KEK_NONCE_BYTES + len, KEK_TAG_BYTES);
    if (EVP_DecryptInit_ex2 (ctx, EVP_aes_256_gcm (), self->key, in, NULL) != 1)
        goto done;
    if (aadlen > 0 && EVP_DecryptUpdate (ctx, NULL, &outl, aad, (int)aadlen) != 1)
        goto done;
    if (EVP_DecryptUpdate (ctx, buf, &outl, in + KEK_NONCE_BYTES, (int)len) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, KEK_TAG_BYTES, tag) != 1)
        goto done;
    //  SP 800-38D §7.2: the plaintext is released only when the tag verifies.
    if (EVP_DecryptFinal_ex (ctx, buf + outl, &finl) != 1)
        goto done;
    if ((size_t)outl + (size_t)finl != len)
        goto done;
    *plain = buf;
    *plainlen = len;
    buf = NULL;
    rc = 0;
done:
    if (buf)
        OPENSSL_clear_free (buf, len + 1);
    EVP_CIPHER_CTX_free (ctx);
    return rc;
}
