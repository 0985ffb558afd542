/*  kek - AES-256-GCM wrapping of private keys under OSTIARY_KEK.
 *  NIST SP 800-38D: a 96-bit random nonce per encryption under one key keeps
 *  the nonce collision probability negligible for the few keys we wrap. */
#include "kek.h"

#include "b64url.h"
#include "seal.h"
#include "secure.h"

#include <openssl/crypto.h>
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

_Static_assert(KEK_OVERHEAD == SEAL_OVERHEAD && KEK_BYTES == SEAL_KEY_BYTES, "kek blobs are seal blobs");

//  The blob format is seal's AES-256-GCM primitive exactly (common/seal.h):
//  nonce || ciphertext || tag, so keys wrapped before and after share it.
int
kek_wrap (const kek_t *self, const void *aad, size_t aadlen, const unsigned char *plain, size_t len,
          unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len > (size_t)INT32_MAX || aadlen > (size_t)INT32_MAX)
        return -1;
    unsigned char *buf = OPENSSL_malloc (len + KEK_OVERHEAD);
    if (!buf)
        return -1;
    if (seal_gcm_encrypt (self->key, aad, aadlen, plain, len, buf) != 0) {
        //  On failure the buffer may hold part of the ciphertext only, but
        //  wipe it anyway: it costs nothing and keeps the rule simple.
        OPENSSL_clear_free (buf, len + KEK_OVERHEAD);
        return -1;
    }
    *out = buf;
    *outlen = len + KEK_OVERHEAD;
    return 0;
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
    if (!buf)
        return -1;
    //  SP 800-38D §7.2: the plaintext is released only when the tag verifies.
    if (seal_gcm_decrypt (self->key, aad, aadlen, in, inlen, buf) != 0) {
        OPENSSL_clear_free (buf, len + 1);
        return -1;
    }
    *plain = buf;
    *plainlen = len;
    return 0;
}
